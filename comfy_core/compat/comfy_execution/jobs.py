"""ComfyUI's `comfy_execution.jobs`: the `/api/jobs` helpers, implemented in `comfy_core.queue.jobs`."""

from comfy_core.queue.jobs import (  # noqa: F401
    PREVIEWABLE_MEDIA_TYPES,
    THREE_D_EXTENSIONS,
    JobStatus,
    apply_sorting,
    get_all_jobs,
    get_job,
    get_outputs_summary,
    has_3d_extension,
    is_previewable,
    normalize_history_item,
    normalize_queue_item,
    prune_dict,
)
