"""Joining untrusted relative names onto a root directory without letting them escape it."""

from __future__ import annotations

import os
from pathlib import Path


def safe_join(root: str | os.PathLike[str], relative: str | os.PathLike[str]) -> Path:
    """`root / relative`, refused with ValueError when the result resolves outside `root`.

    Resolution follows symlinks, so a link inside `root` that points elsewhere is refused too; `..`
    segments, absolute names and NUL bytes are refused the same way. The returned path is the
    resolved one (it need not exist).
    """
    rel = os.fspath(relative)
    if "\0" in rel:
        raise ValueError(f"invalid path {rel!r}: contains a NUL byte")
    base = Path(os.path.realpath(os.fspath(root)))
    target = Path(os.path.realpath(os.path.join(base, rel)))
    if target != base and base not in target.parents:
        raise ValueError(f"path {rel!r} resolves outside its root directory {str(base)!r}")
    return target


def is_within(root: str | os.PathLike[str], path: str | os.PathLike[str]) -> bool:
    """True when `path` (symlinks resolved) lies inside `root` (or is `root`)."""
    base = Path(os.path.realpath(os.fspath(root)))
    target = Path(os.path.realpath(os.fspath(path)))
    return target == base or base in target.parents
