"""Durable prompt queue, history and jobs in SQLite (torch-free)."""

from comfy_core.queue.prompt_queue import MAXIMUM_HISTORY_SIZE, PromptQueue
from comfy_core.queue.store import QueueStore

__all__ = ["MAXIMUM_HISTORY_SIZE", "PromptQueue", "QueueStore"]
