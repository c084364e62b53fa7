"""Command-line flags (ComfyUI's `comfy/cli_args.py` names and defaults) parsed into one `Config` dataclass.

`parse_args(argv)` serves `python main.py [flags]`; `parse_run_args(argv)` serves
`python main.py run WORKFLOW [--set ID.INPUT=VALUE ...] [flags]`. Flags the memory/device work will
implement later (precision, VRAM strategy, attention) are accepted and kept here so `main.py` can pass
them on; nothing in this module acts on them. Unknown flags make argparse exit with the usage text.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
from dataclasses import dataclass, field, fields
from typing import Any

LOOPBACK_LISTEN = "127.0.0.1"
ALL_INTERFACES = "0.0.0.0,::"
AUTH_TOKEN_ENV = "COMFY_CORE_AUTH_TOKEN"
PREVIEW_METHODS = ("none", "auto", "latent2rgb", "taesd")
FRONT_ENDS = ("comfy-core", "comfyui")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass
class Config:
    # network
    listen: str = LOOPBACK_LISTEN
    port: int = 8188
    tls_keyfile: str | None = None
    tls_certfile: str | None = None
    enable_cors_header: str | None = None
    max_upload_size: float = 100.0
    auth_token: str | None = None
    enable_compress_response_body: bool = False
    # directories
    base_directory: str | None = None
    extra_model_paths_config: list[str] = field(default_factory=list)
    output_directory: str | None = None
    input_directory: str | None = None
    temp_directory: str | None = None
    user_directory: str | None = None
    front_end_root: str | None = None
    front_end_version: str = "comfyanonymous/ComfyUI@latest"
    front_end: str = "comfy-core"  # "comfy-core" (web/) or "comfyui" (the comfyui-frontend-package)
    # execution
    cache_classic: bool = False
    cache_lru: int = 0
    cache_ram: float = 0.0
    cache_none: bool = False
    preview_method: str = "none"
    preview_size: int = 512
    disable_metadata: bool = False
    default_hashing_function: str = "sha256"
    # custom nodes and users
    disable_all_custom_nodes: bool = False
    whitelist_custom_nodes: list[str] = field(default_factory=list)
    disable_api_nodes: bool = False
    multi_user: bool = False
    # process
    verbose: str = "INFO"
    log_stdout: bool = False
    quick_test_for_ci: bool = False
    dont_print_server: bool = False
    auto_launch: bool = False
    disable_auto_launch: bool = False
    windows_standalone_build: bool = False
    # device / memory / precision (accepted now, implemented by the memory work)
    cpu: bool = False
    gpu_only: bool = False
    highvram: bool = False
    normalvram: bool = False
    lowvram: bool = False
    novram: bool = False
    reserve_vram: float | None = None
    virtual_vram_mb: int | None = None  # comfy-core: behave as a device of N MB (tests, benches, CPU)
    cuda_device: int | None = None
    default_device: int | None = None
    cuda_malloc: bool = False
    disable_cuda_malloc: bool = False
    force_fp32: bool = False
    force_fp16: bool = False
    fp32_unet: bool = False
    fp64_unet: bool = False
    bf16_unet: bool = False
    fp16_unet: bool = False
    fp8_e4m3fn_unet: bool = False
    fp8_e5m2_unet: bool = False
    fp8_e8m0fnu_unet: bool = False
    fp16_vae: bool = False
    fp32_vae: bool = False
    bf16_vae: bool = False
    cpu_vae: bool = False
    fp8_e4m3fn_text_enc: bool = False
    fp8_e5m2_text_enc: bool = False
    fp16_text_enc: bool = False
    fp32_text_enc: bool = False
    bf16_text_enc: bool = False
    force_channels_last: bool = False
    directml: int | None = None
    oneapi_device_selector: str | None = None
    disable_ipex_optimize: bool = False
    supports_fp8_compute: bool = False
    use_split_cross_attention: bool = False
    use_quad_cross_attention: bool = False
    use_pytorch_cross_attention: bool = False
    use_sage_attention: bool = False
    use_flash_attention: bool = False
    disable_xformers: bool = False
    force_upcast_attention: bool = False
    dont_upcast_attention: bool = False
    async_offload: int | None = None
    disable_async_offload: bool = False
    force_non_blocking: bool = False
    disable_smart_memory: bool = False
    deterministic: bool = False
    fast: list[str] | None = None
    disable_pinned_memory: bool = False
    mmap_torch_files: bool = False
    disable_mmap: bool = False
    enable_manager: bool = False
    disable_manager_ui: bool = False
    enable_manager_legacy_ui: bool = False
    comfy_api_base: str = "https://api.comfy.org"
    database_url: str | None = None
    # `main.py run` only
    workflow: str | None = None
    set_values: list[str] = field(default_factory=list)
    no_progress: bool = False

    @property
    def cache_mode(self) -> str:
        """ComfyUI's priority: classic, then LRU, then RAM pressure, then none (default classic)."""
        if self.cache_classic:
            return "classic"
        if self.cache_lru > 0:
            return "lru"
        if self.cache_ram > 0:
            return "ram"
        if self.cache_none:
            return "none"
        return "classic"

    @property
    def listen_hosts(self) -> list[str]:
        return [h.strip() for h in self.listen.split(",") if h.strip()]

    @property
    def max_upload_bytes(self) -> int:
        return round(self.max_upload_size * 1024 * 1024)

    def listens_beyond_loopback(self) -> bool:
        return any(not is_loopback_address(h) for h in self.listen_hosts)


def is_loopback_address(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _add_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--listen", type=str, default=LOOPBACK_LISTEN, nargs="?", const=ALL_INTERFACES)
    p.add_argument("--port", type=int, default=8188)
    p.add_argument("--tls-keyfile", type=str)
    p.add_argument("--tls-certfile", type=str)
    p.add_argument("--enable-cors-header", type=str, default=None, nargs="?", const="*")
    p.add_argument("--max-upload-size", type=float, default=100.0)
    p.add_argument("--auth-token", type=str, default=None, help=f"also read from ${AUTH_TOKEN_ENV}")
    p.add_argument("--enable-compress-response-body", action="store_true")
    p.add_argument("--base-directory", type=str)
    p.add_argument("--extra-model-paths-config", type=str, nargs="+", action="append", default=None)
    p.add_argument("--output-directory", type=str)
    p.add_argument("--input-directory", type=str)
    p.add_argument("--temp-directory", type=str)
    p.add_argument("--user-directory", type=_existing_dir)
    p.add_argument("--front-end-root", type=_existing_dir)
    p.add_argument("--front-end-version", type=str, default="comfyanonymous/ComfyUI@latest")
    p.add_argument(
        "--front-end",
        choices=FRONT_ENDS,
        default="comfy-core",
        help="comfy-core: our editor in web/; comfyui: the official frontend from `pip install comfyui-frontend-package`",
    )
    cache = p.add_mutually_exclusive_group()
    cache.add_argument("--cache-classic", action="store_true")
    cache.add_argument("--cache-lru", type=int, default=0)
    cache.add_argument("--cache-none", action="store_true")
    cache.add_argument("--cache-ram", type=float, nargs="?", const=4.0, default=0.0)
    p.add_argument("--preview-method", type=str, default="none", choices=PREVIEW_METHODS)
    p.add_argument("--preview-size", type=int, default=512)
    p.add_argument("--disable-metadata", action="store_true")
    p.add_argument(
        "--default-hashing-function", default="sha256", choices=("md5", "sha1", "sha256", "sha512")
    )
    p.add_argument("--disable-all-custom-nodes", action="store_true")
    p.add_argument("--whitelist-custom-nodes", type=str, nargs="+", default=[])
    p.add_argument("--disable-api-nodes", action="store_true")
    p.add_argument("--multi-user", action="store_true")
    p.add_argument("--verbose", default="INFO", const="DEBUG", nargs="?", choices=LOG_LEVELS)
    p.add_argument("--log-stdout", action="store_true")
    p.add_argument("--quick-test-for-ci", action="store_true")
    p.add_argument("--dont-print-server", action="store_true")
    p.add_argument("--auto-launch", action="store_true")
    p.add_argument("--disable-auto-launch", action="store_true")
    p.add_argument("--windows-standalone-build", action="store_true")
    _add_device_flags(p)


def _add_device_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cuda-device", type=int)
    p.add_argument("--default-device", type=int)
    p.add_argument("--directml", type=int, nargs="?", const=-1)
    p.add_argument("--oneapi-device-selector", type=str)
    for group in (
        ("--cuda-malloc", "--disable-cuda-malloc"),
        ("--force-fp32", "--force-fp16"),
        (
            "--fp32-unet",
            "--fp64-unet",
            "--bf16-unet",
            "--fp16-unet",
            "--fp8_e4m3fn-unet",
            "--fp8_e5m2-unet",
            "--fp8_e8m0fnu-unet",
        ),
        ("--fp16-vae", "--fp32-vae", "--bf16-vae"),
        (
            "--fp8_e4m3fn-text-enc",
            "--fp8_e5m2-text-enc",
            "--fp16-text-enc",
            "--fp32-text-enc",
            "--bf16-text-enc",
        ),
        (
            "--use-split-cross-attention",
            "--use-quad-cross-attention",
            "--use-pytorch-cross-attention",
            "--use-sage-attention",
            "--use-flash-attention",
        ),
        ("--force-upcast-attention", "--dont-upcast-attention"),
        ("--gpu-only", "--highvram", "--normalvram", "--lowvram", "--novram", "--cpu"),
        ("--disable-manager-ui", "--enable-manager-legacy-ui"),
    ):
        g = p.add_mutually_exclusive_group()
        for flag in group:
            g.add_argument(flag, action="store_true")
    for flag in (
        "--cpu-vae",
        "--force-channels-last",
        "--disable-ipex-optimize",
        "--supports-fp8-compute",
        "--disable-xformers",
        "--force-non-blocking",
        "--disable-smart-memory",
        "--deterministic",
        "--disable-pinned-memory",
        "--mmap-torch-files",
        "--disable-mmap",
        "--enable-manager",
        "--disable-async-offload",
    ):
        p.add_argument(flag, action="store_true")
    p.add_argument("--reserve-vram", type=float, default=None)
    p.add_argument("--virtual-vram-mb", type=int, default=None)
    p.add_argument("--async-offload", type=int, nargs="?", const=2, default=None)
    p.add_argument("--fast", nargs="*", default=None)
    p.add_argument("--comfy-api-base", type=str, default="https://api.comfy.org")
    p.add_argument("--database-url", type=str, default=None)


def _existing_dir(value: str) -> str:
    if not os.path.isdir(value):
        raise argparse.ArgumentTypeError(f"directory does not exist: {value}")
    return os.path.abspath(value)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="main.py",
        description="comfy-core: a ComfyUI-compatible server. `main.py run WORKFLOW` runs one workflow headless.",
    )
    _add_flags(p)
    return p


def build_run_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="main.py run", description="Run one workflow headless (no server).")
    p.add_argument("workflow", help="API JSON, UI workflow JSON, or a PNG carrying a workflow")
    p.add_argument(
        "--set",
        dest="set_values",
        action="append",
        default=[],
        metavar="ID.INPUT=VALUE",
        help="override one input (VALUE parsed as JSON when possible)",
    )
    p.add_argument("--no-progress", action="store_true")
    _add_flags(p)
    return p


def _to_config(ns: argparse.Namespace) -> Config:
    values: dict[str, Any] = vars(ns).copy()
    nested = values.get("extra_model_paths_config") or []
    values["extra_model_paths_config"] = [f for group in nested for f in group]
    if values.get("auth_token") is None:
        values["auth_token"] = os.environ.get(AUTH_TOKEN_ENV) or None
    names = {f.name for f in fields(Config)}
    return Config(**{k: v for k, v in values.items() if k in names})


def parse_args(argv: list[str] | None = None) -> Config:
    return _to_config(build_parser().parse_args(argv))


def parse_run_args(argv: list[str]) -> Config:
    return _to_config(build_run_parser().parse_args(argv))
