"""ComfyUI's `comfy.k_diffusion` package (`sampling`)."""
