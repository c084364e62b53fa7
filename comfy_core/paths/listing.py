"""Listing model files: recursive walk, extension and content-type filters, the mtime-checked cache."""

from __future__ import annotations

import logging
import mimetypes
import os
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

# Extensions whose content type the host's mimetypes table may not know.
_EXTRA_CONTENT_TYPES = {"webp": "image"}


def recursive_search(
    directory: str, excluded_dir_names: Collection[str] = (".git",)
) -> tuple[list[str], dict[str, float]]:
    """Files under `directory` as relative paths (OS separator), plus {directory: mtime} for every dir seen.

    Symlinked directories are followed; a link cycle is entered once only.
    """
    if not os.path.isdir(directory):
        return [], {}
    try:
        dirs = {directory: os.path.getmtime(directory)}
    except OSError:
        log.warning("unable to access %s, skipping it", directory)
        return [], {}
    files: list[str] = []
    seen_real: set[str] = {os.path.realpath(directory)}
    stack = [directory]
    while stack:
        current = stack.pop()
        try:
            entries = list(os.scandir(current))
        except OSError as e:
            log.error("cannot list %s: %s", current, e)
            continue
        for entry in entries:
            try:
                is_dir = entry.is_dir(follow_symlinks=True)
            except OSError:
                is_dir = False
            if is_dir:
                if entry.name in excluded_dir_names:
                    continue
                real = os.path.realpath(entry.path)
                if real in seen_real:
                    continue
                seen_real.add(real)
                try:
                    dirs[entry.path] = os.path.getmtime(entry.path)
                except OSError:
                    continue
                stack.append(entry.path)
            else:
                files.append(os.path.relpath(entry.path, directory))
    return files, dirs


def filter_files_extensions(files: Iterable[str], extensions: Collection[str]) -> list[str]:
    """Sorted names whose lower-cased extension is in `extensions` (all names when it is empty)."""
    if len(extensions) == 0:
        return sorted(files)
    return sorted(f for f in files if os.path.splitext(f)[-1].lower() in extensions)


def content_type_of(filename: str) -> str | None:
    """'image', 'video', 'audio', 'text', ... from the file name (major MIME type), or None."""
    extension = filename.split(".")[-1]
    if extension in _EXTRA_CONTENT_TYPES:
        return _EXTRA_CONTENT_TYPES[extension]
    mime_type, _ = mimetypes.guess_type(filename, strict=False)
    if not mime_type:
        return None
    return mime_type.split("/")[0]


def filter_files_content_types(files: Iterable[str], content_types: Collection[str]) -> list[str]:
    """Names whose guessed content type is one of `content_types`, in input order."""
    return [f for f in files if content_type_of(f) in content_types]


@dataclass
class ListingEntry:
    files: list[str]
    dir_mtimes: dict[str, float]
    folders: list[str]  # the folder list the entry was computed from


def entry_is_fresh(entry: ListingEntry, folders: list[str]) -> bool:
    """False once any recorded directory changed mtime, vanished, or a listed folder appeared/changed."""
    if entry.folders != folders:
        return False
    for d, mtime in entry.dir_mtimes.items():
        try:
            if os.path.getmtime(d) != mtime:
                return False
        except OSError:
            return False
    for d in folders:
        if d not in entry.dir_mtimes and os.path.isdir(d):
            return False
    return True


@dataclass
class CacheHelper:
    """A strong cache used for the span of one `with` block (e.g. one /object_info build), so each folder
    is walked and stat'ed once however many nodes list it."""

    cache: dict[str, ListingEntry] = field(default_factory=dict)
    active: bool = False

    def get(self, key: str, default: ListingEntry | None = None) -> ListingEntry | None:
        if not self.active:
            return default
        return self.cache.get(key, default)

    def set(self, key: str, value: ListingEntry) -> None:
        if self.active:
            self.cache[key] = value

    def clear(self) -> None:
        self.cache.clear()

    def __enter__(self) -> CacheHelper:
        self.active = True
        return self

    def __exit__(self, *exc: object) -> None:
        self.active = False
        self.clear()
