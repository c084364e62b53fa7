"""ComfyUI's `comfy_api` package: the versioned public node API (`latest`, `v0_0_1`, `v0_0_2`)."""
