from comfy_core.registry.registry import NodeRegistry

__all__ = ["NodeRegistry"]
