"""`Paths`: the folder layout of one running instance (ComfyUI's `folder_paths`, as an object).

Method names equal ComfyUI's `folder_paths` functions so the compat module can delegate one-to-one.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from comfy_core.paths import listing
from comfy_core.paths.extra_config import load_extra_path_config as _load_extra_path_config
from comfy_core.paths.folders import (
    OUTPUT_MODEL_FOLDERS,
    SUPPORTED_PT_EXTENSIONS,
    default_folders,
    map_legacy,
)
from comfy_core.paths.safe import safe_join
from comfy_core.paths.save_path import get_save_image_path as _get_save_image_path

log = logging.getLogger(__name__)

ANNOTATIONS = ("output", "input", "temp")


class Paths:
    def __init__(
        self,
        base_dir: str | os.PathLike[str],
        *,
        output_dir: str | os.PathLike[str] | None = None,
        input_dir: str | os.PathLike[str] | None = None,
        temp_dir: str | os.PathLike[str] | None = None,
        user_dir: str | os.PathLike[str] | None = None,
        output_model_folders: bool = True,
    ) -> None:
        self.base_path = os.path.abspath(os.fspath(base_dir))
        self.models_dir = os.path.join(self.base_path, "models")
        self.supported_pt_extensions: set[str] = set(SUPPORTED_PT_EXTENSIONS)
        self.folder_names_and_paths = default_folders(
            self.base_path, self.models_dir, self.supported_pt_extensions
        )
        self.output_directory = self._abs(output_dir, "output")
        self.input_directory = self._abs(input_dir, "input")
        self.temp_directory = self._abs(temp_dir, "temp")
        self.user_directory = self._abs(user_dir, "user")
        self.filename_list_cache: dict[str, listing.ListingEntry] = {}
        self.cache_helper = listing.CacheHelper()
        if output_model_folders:
            self.add_output_model_folders()

    def _abs(self, value: str | os.PathLike[str] | None, default_name: str) -> str:
        if value is None:
            return os.path.join(self.base_path, default_name)
        return os.path.abspath(os.fspath(value))

    def add_output_model_folders(self) -> None:
        """Let loaders see what save nodes wrote under `<output>/checkpoints`, `<output>/loras`, ..."""
        for key in OUTPUT_MODEL_FOLDERS:
            self.add_model_folder_path(key, os.path.join(self.output_directory, key))

    # -- input / output / temp / user directories -------------------------------------------------

    def get_output_directory(self) -> str:
        return self.output_directory

    def set_output_directory(self, output_dir: str | os.PathLike[str]) -> None:
        self.output_directory = os.path.abspath(os.fspath(output_dir))

    def get_input_directory(self) -> str:
        return self.input_directory

    def set_input_directory(self, input_dir: str | os.PathLike[str]) -> None:
        self.input_directory = os.path.abspath(os.fspath(input_dir))

    def get_temp_directory(self) -> str:
        return self.temp_directory

    def set_temp_directory(self, temp_dir: str | os.PathLike[str]) -> None:
        self.temp_directory = os.path.abspath(os.fspath(temp_dir))

    def get_user_directory(self) -> str:
        return self.user_directory

    def set_user_directory(self, user_dir: str | os.PathLike[str]) -> None:
        self.user_directory = os.path.abspath(os.fspath(user_dir))

    def ensure_input_directory(self) -> None:
        """ComfyUI creates `input/` at start-up when it is missing."""
        try:
            os.makedirs(self.input_directory, exist_ok=True)
        except OSError:
            log.error("Failed to create input directory %s", self.input_directory)

    def cleanup_temp(self) -> None:
        """Remove temp/ (ComfyUI clears it at start-up and exit); refuses to remove base or output."""
        temp = os.path.realpath(self.temp_directory)
        protected = {
            os.path.realpath(d) for d in (self.base_path, self.output_directory, self.input_directory)
        }
        if temp in protected or temp == os.path.dirname(temp):
            raise ValueError(f"refusing to delete {temp!r} as the temp directory")
        shutil.rmtree(temp, ignore_errors=True)

    def get_directory_by_type(self, type_name: str) -> str | None:
        """Only input, output and temp are reachable by `type=` (HTTP routes rely on this)."""
        if type_name == "output":
            return self.get_output_directory()
        if type_name == "temp":
            return self.get_temp_directory()
        if type_name == "input":
            return self.get_input_directory()
        return None

    def get_input_subfolders(self) -> list[str]:
        """Every directory under input/ as a '/'-separated relative path, sorted."""
        root = self.get_input_directory()
        if not os.path.isdir(root):
            return []
        folders = []
        for current, _dirs, _files in os.walk(root):
            rel = os.path.relpath(current, root)
            if rel != ".":
                folders.append(rel.replace(os.sep, "/"))
        return sorted(folders)

    def get_system_user_directory(self, name: str = "default") -> str:
        """`user/__<name>`: a system user's folder, never reachable over HTTP."""
        if not name or not name.replace("_", "").isalnum():
            raise ValueError(f"invalid system user name {name!r}")
        return os.path.join(self.get_user_directory(), "__" + name)

    def get_public_user_directory(self, user_id: str) -> str | None:
        """`user/<user_id>`, or None for system users (`__` prefix) and names that escape user/."""
        if not user_id or user_id.startswith("__"):
            return None
        try:
            return str(safe_join(self.get_user_directory(), user_id))
        except ValueError:
            return None

    # -- annotated names: "x.png [output]" ---------------------------------------------------------

    def annotated_filepath(self, name: str) -> tuple[str, str | None]:
        """(name without annotation, base dir it selects) or (name, None) when not annotated."""
        for kind in ANNOTATIONS:
            suffix = f"[{kind}]"
            if name.endswith(suffix):
                # ComfyUI drops the annotation and the one space before it
                return name[: -len(suffix) - 1], self.get_directory_by_type(kind)
        return name, None

    def get_annotated_filepath(self, name: str, default_dir: str | None = None) -> str:
        name, base_dir = self.annotated_filepath(name)
        if base_dir is None:
            base_dir = default_dir if default_dir is not None else self.get_input_directory()
        return os.path.join(base_dir, name)

    def exists_annotated_filepath(self, name: str) -> bool:
        name, base_dir = self.annotated_filepath(name)
        if base_dir is None:
            base_dir = self.get_input_directory()
        return os.path.exists(os.path.join(base_dir, name))

    def resolve_annotated(self, name: str, default_dir: str | None = None) -> Path:
        """Like get_annotated_filepath, but refuses (ValueError) names that leave their base directory."""
        rel, base_dir = self.annotated_filepath(name)
        if base_dir is None:
            base_dir = default_dir if default_dir is not None else self.get_input_directory()
        return safe_join(base_dir, rel)

    # -- model folders -----------------------------------------------------------------------------

    def map_legacy(self, folder_name: str) -> str:
        return map_legacy(folder_name)

    def add_model_folder_path(
        self, folder_name: str, full_folder_path: str, is_default: bool = False
    ) -> None:
        """Append (or with is_default, put first) a search directory; unknown keys start a new folder
        with no extension filter. A directory already listed moves to the front when is_default."""
        folder_name = map_legacy(folder_name)
        entry = self.folder_names_and_paths.get(folder_name)
        if entry is None:
            self.folder_names_and_paths[folder_name] = ([full_folder_path], set())
            return
        paths = entry[0]
        if full_folder_path in paths:
            if is_default and paths[0] != full_folder_path:
                paths.remove(full_folder_path)
                paths.insert(0, full_folder_path)
        elif is_default:
            paths.insert(0, full_folder_path)
        else:
            paths.append(full_folder_path)

    def get_folder_paths(self, folder_name: str) -> list[str]:
        """A copy of the key's directory list (KeyError for unknown keys, as in ComfyUI)."""
        return list(self.folder_names_and_paths[map_legacy(folder_name)][0])

    def load_extra_path_config(self, yaml_path: str) -> None:
        _load_extra_path_config(self, yaml_path)

    def recursive_search(
        self, directory: str, excluded_dir_names: list[str] | None = None
    ) -> tuple[list[str], dict[str, float]]:
        return listing.recursive_search(directory, excluded_dir_names or ())

    def filter_files_extensions(self, files, extensions) -> list[str]:  # noqa: ANN001 - mirrors ComfyUI
        return listing.filter_files_extensions(files, extensions)

    def filter_files_content_types(self, files, content_types) -> list[str]:  # noqa: ANN001
        return listing.filter_files_content_types(files, content_types)

    def get_full_path(self, folder_name: str, filename: str) -> str | None:
        """The first directory of the key holding `filename` wins; None when absent or key unknown.

        `..` segments cannot climb above the folder (the name is normalised against a virtual root);
        symlinks inside model folders are allowed, users link weights in from other disks.
        """
        folder_name = map_legacy(folder_name)
        entry = self.folder_names_and_paths.get(folder_name)
        if entry is None:
            return None
        filename = os.path.relpath(os.path.join(os.sep, filename), os.sep)
        for folder in entry[0]:
            full_path = os.path.join(folder, filename)
            if os.path.isfile(full_path):
                return full_path
            if os.path.islink(full_path):
                log.warning("path %s exists but doesn't link anywhere, skipping.", full_path)
        return None

    def get_full_path_or_raise(self, folder_name: str, filename: str) -> str:
        full_path = self.get_full_path(folder_name, filename)
        if full_path is None:
            raise FileNotFoundError(f"Model in folder '{folder_name}' with filename '{filename}' not found.")
        return full_path

    def _list_folder(self, folder_name: str) -> listing.ListingEntry:
        folders, extensions = self.folder_names_and_paths[folder_name]
        found: set[str] = set()
        mtimes: dict[str, float] = {}
        for folder in folders:
            files, dirs = listing.recursive_search(folder, excluded_dir_names=(".git",))
            found.update(listing.filter_files_extensions(files, extensions))
            mtimes.update(dirs)
        return listing.ListingEntry(sorted(found), mtimes, list(folders))

    def get_filename_list(self, folder_name: str) -> list[str]:
        """Sorted, de-duplicated, extension-filtered relative names under every directory of the key.

        Cached; the cache is dropped when any directory seen changes mtime or a listed folder appears.
        """
        folder_name = map_legacy(folder_name)
        strong = self.cache_helper.get(folder_name)
        if strong is not None:
            return list(strong.files)
        folders = self.folder_names_and_paths[folder_name][0]
        entry = self.filename_list_cache.get(folder_name)
        if entry is None or not listing.entry_is_fresh(entry, folders):
            entry = self._list_folder(folder_name)
            self.filename_list_cache[folder_name] = entry
        self.cache_helper.set(folder_name, entry)
        return list(entry.files)

    # -- saving ------------------------------------------------------------------------------------

    def get_save_image_path(
        self, filename_prefix: str, output_dir: str, image_width: int = 0, image_height: int = 0
    ) -> tuple[str, str, int, str, str]:
        return _get_save_image_path(filename_prefix, output_dir, image_width, image_height)
