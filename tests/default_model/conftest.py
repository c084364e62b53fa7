"""The checks on the trained default model run once `models/checkpoints/comfy-core-shapes.safetensors` is
committed (issue 7 is open until a trained file passes them); the dataset/checker tests always run."""

from __future__ import annotations

from pathlib import Path

_CHECKPOINT = Path(__file__).resolve().parents[2] / "models" / "checkpoints" / "comfy-core-shapes.safetensors"

collect_ignore = (
    []
    if _CHECKPOINT.is_file()
    else ["test_checkpoint_file.py", "test_default_workflow_cli.py", "test_quality.py"]
)
