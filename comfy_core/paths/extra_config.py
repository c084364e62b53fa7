"""extra_model_paths.yaml: extra search directories per folder key (contract section 7)."""

from __future__ import annotations

import logging
import os
from typing import Protocol

import yaml

log = logging.getLogger(__name__)


class _AddsFolders(Protocol):
    def add_model_folder_path(
        self, folder_name: str, full_folder_path: str, is_default: bool = False
    ) -> None: ...


def read_extra_path_config(yaml_path: str) -> list[tuple[str, str, bool]]:
    """[(folder_key, absolute_path, is_default), ...] in file order.

    Each top-level section may carry `base_path` (`~` and env vars expanded; relative to the yaml file's
    directory when relative) and `is_default` (insert first instead of appending). Other entries map a
    folder key to one path or several (one per line); relative paths join base_path, or the yaml
    directory when no base_path is given.
    """
    with open(yaml_path, encoding="utf-8") as stream:
        config = yaml.safe_load(stream) or {}
    if not isinstance(config, dict):
        raise ValueError(f"{yaml_path}: expected a mapping of sections at the top level")
    yaml_dir = os.path.dirname(os.path.abspath(yaml_path))
    out: list[tuple[str, str, bool]] = []
    for section_name, section in config.items():
        if section is None:
            continue
        if not isinstance(section, dict):
            raise ValueError(f"{yaml_path}: section {section_name!r} must be a mapping")
        section = dict(section)
        base_path = section.pop("base_path", None)
        if base_path is not None:
            base_path = os.path.expandvars(os.path.expanduser(str(base_path)))
            if not os.path.isabs(base_path):
                base_path = os.path.abspath(os.path.join(yaml_dir, base_path))
        is_default = bool(section.pop("is_default", False))
        for key, value in section.items():
            if value is None:
                continue
            for line in str(value).split("\n"):
                line = line.strip()
                if not line:
                    continue
                if base_path:
                    full = os.path.join(base_path, line)
                elif not os.path.isabs(line):
                    full = os.path.abspath(os.path.join(yaml_dir, line))
                else:
                    full = line
                out.append((str(key), os.path.normpath(full), is_default))
    return out


def load_extra_path_config(paths: _AddsFolders, yaml_path: str) -> None:
    for key, full, is_default in read_extra_path_config(yaml_path):
        log.info("Adding extra search path %s %s", key, full)
        paths.add_model_folder_path(key, full, is_default)
