"""ComfyUI's `comfy_execution` package (graph helpers custom nodes and test clients import)."""
