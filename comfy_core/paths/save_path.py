"""Where a save node writes: prefix tokens, subfolders and the `<prefix>_<counter:05>_` numbering."""

from __future__ import annotations

import os
import time

from comfy_core.paths.safe import safe_join


def expand_prefix_tokens(prefix: str, image_width: int = 0, image_height: int = 0) -> str:
    """Replace the server-side tokens %width% %height% %year% %month% %day% %hour% %minute% %second%."""
    now = time.localtime()
    values = {
        "%width%": str(image_width),
        "%height%": str(image_height),
        "%year%": str(now.tm_year),
        "%month%": str(now.tm_mon).zfill(2),
        "%day%": str(now.tm_mday).zfill(2),
        "%hour%": str(now.tm_hour).zfill(2),
        "%minute%": str(now.tm_min).zfill(2),
        "%second%": str(now.tm_sec).zfill(2),
    }
    for token, value in values.items():
        prefix = prefix.replace(token, value)
    return prefix


def _counter_of(name: str, filename: str) -> int | None:
    """The counter of an existing file `<filename>_<digits>_...`, 0 when the part after the prefix is
    not a number, None when the file does not belong to this prefix (case-insensitive on Windows)."""
    n = len(filename)
    head = name[: n + 1]
    if len(head) != n + 1 or head[-1] != "_" or os.path.normcase(head[:-1]) != os.path.normcase(filename):
        return None
    try:
        return int(name[n + 1 :].split("_")[0])
    except ValueError:
        return 0


def next_counter(folder: str, filename: str) -> int:
    """1 + the highest counter among the folder's files for this prefix (1 when there are none)."""
    counters = [c for c in (_counter_of(n, filename) for n in os.listdir(folder)) if c is not None]
    return max(counters) + 1 if counters else 1


def get_save_image_path(
    filename_prefix: str, output_dir: str, image_width: int = 0, image_height: int = 0
) -> tuple[str, str, int, str, str]:
    """(full_output_folder, filename, counter, subfolder, filename_prefix) as ComfyUI returns them.

    The prefix may carry subfolders; the folder is created when missing. A prefix that leaves
    `output_dir` raises ValueError.
    """
    if "%" in filename_prefix:
        filename_prefix = expand_prefix_tokens(filename_prefix, image_width, image_height)
    normalized = os.path.normpath(filename_prefix)
    subfolder = os.path.dirname(normalized)
    filename = os.path.basename(normalized)
    try:
        safe_join(output_dir, subfolder or ".")
    except ValueError as e:
        raise ValueError(
            f"Saving image outside the output folder is not allowed: prefix {filename_prefix!r} "
            f"leaves {output_dir!r}"
        ) from e
    full_output_folder = os.path.join(output_dir, subfolder)
    if not os.path.isdir(full_output_folder):
        os.makedirs(full_output_folder, exist_ok=True)
        counter = 1
    else:
        counter = next_counter(full_output_folder, filename)
    return full_output_folder, filename, counter, subfolder, filename_prefix
