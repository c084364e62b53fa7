"""ComfyUI's `folder_paths` module over the running instance's `comfy_core.paths.Paths`.

Functions keep ComfyUI's names and signatures. Module attributes that ComfyUI keeps as globals
(`models_dir`, `base_path`, `folder_names_and_paths`, `supported_pt_extensions`, `output_directory`, ...)
are read from the instance on access, so a pack that mutates `folder_names_and_paths` edits the live dict.
"""

from __future__ import annotations

from typing import Any

from comfy_core import runtime


def _paths() -> Any:
    paths = runtime.current().paths
    if paths is None:
        raise RuntimeError("folder_paths: the running instance has no paths service")
    return paths


def get_folder_paths(folder_name: str) -> list[str]:
    return _paths().get_folder_paths(folder_name)


def get_filename_list(folder_name: str) -> list[str]:
    return _paths().get_filename_list(folder_name)


def get_full_path(folder_name: str, filename: str) -> str | None:
    return _paths().get_full_path(folder_name, filename)


def get_full_path_or_raise(folder_name: str, filename: str) -> str:
    return _paths().get_full_path_or_raise(folder_name, filename)


def get_input_directory() -> str:
    return _paths().get_input_directory()


def get_output_directory() -> str:
    return _paths().get_output_directory()


def get_temp_directory() -> str:
    return _paths().get_temp_directory()


def get_user_directory() -> str:
    return _paths().get_user_directory()


def get_directory_by_type(type_name: str) -> str | None:
    return _paths().get_directory_by_type(type_name)


def get_annotated_filepath(name: str, default_dir: str | None = None) -> str:
    return _paths().get_annotated_filepath(name, default_dir)


def exists_annotated_filepath(name: str) -> bool:
    return _paths().exists_annotated_filepath(name)


def annotated_filepath(name: str) -> tuple[str, str | None]:
    return _paths().annotated_filepath(name)


def get_save_image_path(
    filename_prefix: str, output_dir: str, image_width: int = 0, image_height: int = 0
) -> tuple[str, str, int, str, str]:
    return _paths().get_save_image_path(filename_prefix, output_dir, image_width, image_height)


def add_model_folder_path(folder_name: str, full_folder_path: str, is_default: bool = False) -> None:
    return _paths().add_model_folder_path(folder_name, full_folder_path, is_default)


def filter_files_extensions(files: Any, extensions: Any) -> list[str]:
    return _paths().filter_files_extensions(files, extensions)


def filter_files_content_types(files: Any, content_types: Any) -> list[str]:
    return _paths().filter_files_content_types(files, content_types)


def get_input_subfolders() -> list[str]:
    return _paths().get_input_subfolders()


def get_system_user_directory(name: str = "default") -> str:
    return _paths().get_system_user_directory(name)


def get_public_user_directory(user_id: str) -> str | None:
    return _paths().get_public_user_directory(user_id)


def set_output_directory(output_dir: str) -> None:
    return _paths().set_output_directory(output_dir)


def set_input_directory(input_dir: str) -> None:
    return _paths().set_input_directory(input_dir)


def set_temp_directory(temp_dir: str) -> None:
    return _paths().set_temp_directory(temp_dir)


def set_user_directory(user_dir: str) -> None:
    return _paths().set_user_directory(user_dir)


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    return getattr(_paths(), name)
