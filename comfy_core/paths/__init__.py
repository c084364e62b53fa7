"""Model folders, input/output/temp/user directories and extra_model_paths.yaml (contract section 7)."""

from comfy_core.paths.extra_config import read_extra_path_config
from comfy_core.paths.folders import LEGACY_FOLDER_NAMES, SUPPORTED_PT_EXTENSIONS, map_legacy
from comfy_core.paths.listing import filter_files_content_types, filter_files_extensions, recursive_search
from comfy_core.paths.paths import Paths
from comfy_core.paths.safe import is_within, safe_join
from comfy_core.paths.save_path import get_save_image_path

__all__ = [
    "LEGACY_FOLDER_NAMES",
    "SUPPORTED_PT_EXTENSIONS",
    "Paths",
    "filter_files_content_types",
    "filter_files_extensions",
    "get_save_image_path",
    "is_within",
    "map_legacy",
    "read_extra_path_config",
    "recursive_search",
    "safe_join",
]
