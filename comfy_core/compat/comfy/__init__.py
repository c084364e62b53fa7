"""ComfyUI's `comfy` package as custom nodes import it (`comfy.utils`, `comfy.model_management`, ...)."""
