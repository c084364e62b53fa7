"""comfy-core's composition root and command line.

    python main.py [flags]                 serve the ComfyUI-compatible HTTP/WebSocket API (and the web UI)
    python main.py run WORKFLOW [--set ID.INPUT=VALUE ...] [flags]
                                           run one workflow headless and print the files it wrote

Wiring order: args -> Config -> Paths -> compat aliases -> Services -> registry (built-in nodes, then
custom nodes from every `custom_nodes` folder, including extra_model_paths.yaml ones) -> queue ->
executor -> app -> run. This is the only module that joins the workflow side and the numeric side.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import ssl
import sys
import uuid
from typing import Any

from comfy_core import runtime
from comfy_core.config import Config, parse_args, parse_run_args

log = logging.getLogger("comfy_core.main")
REPO_ROOT = os.path.dirname(os.path.abspath(__file__))


def setup_logging(config: Config) -> None:
    stream = sys.stdout if config.log_stdout else sys.stderr
    logging.basicConfig(
        level=getattr(logging, config.verbose), format="%(message)s", stream=stream, force=True
    )


def build_paths(config: Config) -> Any:
    from comfy_core.paths import Paths

    base = os.path.abspath(config.base_directory or REPO_ROOT)
    paths = Paths(
        base,
        output_dir=config.output_directory,
        input_dir=config.input_directory,
        temp_dir=config.temp_directory,
        user_dir=config.user_directory,
    )
    default_yaml = os.path.join(REPO_ROOT, "extra_model_paths.yaml")
    for yaml_path in (
        [default_yaml] if os.path.isfile(default_yaml) else []
    ) + config.extra_model_paths_config:
        log.info("Loading extra model paths from %s", yaml_path)
        paths.load_extra_path_config(yaml_path)
    for directory in (
        paths.get_output_directory(),
        paths.get_input_directory(),
        paths.get_temp_directory(),
        paths.get_user_directory(),
    ):
        os.makedirs(directory, exist_ok=True)
    return paths


def build_registry(config: Config, paths: Any) -> Any:
    from comfy_core.registry.discovery import load_builtin_nodes, load_custom_nodes
    from comfy_core.registry.registry import NodeRegistry

    registry = NodeRegistry()
    try:
        load_builtin_nodes(registry)
    except Exception:  # like ComfyUI: a broken built-in module is reported, the server still starts
        log.exception("IMPORT FAILED: built-in nodes")
        registry.failed_imports["nodes"] = "built-in nodes failed to import (see log)"
    load_custom_nodes(
        registry,
        paths.get_folder_paths("custom_nodes"),
        disable_all=config.disable_all_custom_nodes,
        whitelist=config.whitelist_custom_nodes,
    )
    return registry


def build_executor(config: Config, registry: Any, sink: Any, memory: Any = None) -> Any:
    from execution import CacheConfig, PromptExecutor

    cache = CacheConfig(
        mode=config.cache_mode,
        lru_size=config.cache_lru,
        ram_gb=config.cache_ram if config.cache_ram > 0 else 4.0,
    )
    if memory is None:
        return PromptExecutor(registry, sink, cache)
    return PromptExecutor(registry, sink, cache, on_oom=memory.on_oom, is_oom=memory.is_oom)


def build_services(config: Config, sink_factory: Any) -> runtime.Services:
    """Everything but the HTTP app; `sink_factory(services)` makes the executor's event sink."""
    from comfy_core.compat import install_aliases
    from comfy_core.device import setup_devices
    from comfy_core.memory.setup import build_memory_manager

    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    paths = build_paths(config)
    install_aliases()
    device = setup_devices(config)
    memory = build_memory_manager(config, device)
    services = runtime.install(runtime.Services(paths=paths, config=config, device=device, memory=memory))
    services.sink = sink_factory(services)
    services.registry = build_registry(config, paths)
    services.executor = build_executor(config, services.registry, services.sink, memory)
    memory.on_ram_pressure = services.executor.relieve_ram_pressure
    return services


# serving ------------------------------------------------------------------------------------------
def _server_sink(services: runtime.Services) -> Any:
    from comfy_core.server.instance import PromptServer, ServerSink

    services.server = PromptServer()
    return ServerSink(services.server)


def _ssl_context(config: Config) -> ssl.SSLContext | None:
    if not (config.tls_keyfile and config.tls_certfile):
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certfile=config.tls_certfile, keyfile=config.tls_keyfile)
    return context


async def _serve(app: Any, config: Config) -> None:
    from aiohttp import web

    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    if config.quick_test_for_ci:
        await runner.cleanup()
        return
    context = _ssl_context(config)
    for host in config.listen_hosts:
        await web.TCPSite(runner, host, config.port, ssl_context=context).start()
    if not config.dont_print_server:
        scheme = "https" if context else "http"
        for host in config.listen_hosts:
            shown = "127.0.0.1" if host in ("0.0.0.0", "::") else (f"[{host}]" if ":" in host else host)
            print(f"Starting server\n\nTo see the GUI go to: {scheme}://{shown}:{config.port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def serve(config: Config) -> int:
    if config.listens_beyond_loopback() and not config.auth_token:
        print(
            "refusing to listen beyond loopback without --auth-token (or $COMFY_CORE_AUTH_TOKEN)",
            file=sys.stderr,
        )
        return 2
    from comfy_core.queue import PromptQueue, QueueStore
    from comfy_core.server.app import create_app

    services = build_services(config, _server_sink)
    store = QueueStore.in_directory(services.paths.get_user_directory(), instance=str(config.port))
    services.server.prompt_queue = PromptQueue(store)
    if services.server.prompt_queue.recovered:
        log.warning("re-queued after a crash: %s", ", ".join(services.server.prompt_queue.recovered))
    app = create_app(config, services)
    try:
        asyncio.run(_serve(app, config))
    finally:
        store.close()
        runtime.uninstall()
    return 0


# headless run -------------------------------------------------------------------------------------
class CliSink:
    """Prints node progress with a tqdm bar; remembers errors for the exit message."""

    def __init__(self, show_progress: bool = True) -> None:
        self.show_progress = show_progress
        self.bar: Any = None
        self.errors: list[dict] = []

    def send(self, event: str | int, data: Any, sid: str | None = None) -> None:
        if event == "executing" and isinstance(data, dict) and data.get("node") is not None:
            self._close_bar()
            if self.show_progress:
                print(
                    f"executing node {data.get('display_node') or data['node']}", file=sys.stderr, flush=True
                )
        elif event == "progress" and self.show_progress and isinstance(data, dict):
            if self.bar is None:
                from tqdm import tqdm

                self.bar = tqdm(total=data["max"], file=sys.stderr, leave=False)
            self.bar.n = data["value"]
            self.bar.refresh()
        elif event in ("execution_error", "execution_interrupted") and isinstance(data, dict):
            self._close_bar()
            self.errors.append({"event": event, **data})

    def _close_bar(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def load_workflow(path: str, object_info: Any) -> tuple[dict, dict | None]:
    """(API prompt, UI workflow or None) from an API JSON, a UI JSON or a PNG with metadata."""
    from comfy_core.graph.convert import is_api_prompt, workflow_to_prompt

    if path.lower().endswith(".png"):
        from comfy_core.io.png import parse_workflow_entries, read_png_text_file

        entries = parse_workflow_entries(read_png_text_file(path))
        workflow = entries.get("workflow") if isinstance(entries.get("workflow"), dict) else None
        if is_api_prompt(entries.get("prompt")):
            return entries["prompt"], workflow
        if workflow is not None:
            return workflow_to_prompt(workflow, object_info()), workflow
        raise ValueError(f"{path} carries no ComfyUI workflow")
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if isinstance(data, dict) and is_api_prompt(data.get("prompt")):
        data = data["prompt"]
    if is_api_prompt(data):
        return data, None
    if isinstance(data, dict) and isinstance(data.get("nodes"), list):
        return workflow_to_prompt(data, object_info()), data
    raise ValueError(f"{path} is neither an API prompt nor a UI workflow")


def apply_overrides(prompt: dict, overrides: list[str]) -> None:
    """`ID.INPUT=VALUE` (VALUE parsed as JSON when it parses, else kept as a string)."""
    for item in overrides:
        target, sep, raw = item.partition("=")
        node_id, dot, name = target.partition(".")
        if not sep or not dot or not name:
            raise ValueError(f"--set expects ID.INPUT=VALUE, got {item!r}")
        if node_id not in prompt:
            raise ValueError(f"--set {item!r}: no node {node_id!r} in the workflow")
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        prompt[node_id].setdefault("inputs", {})[name] = value


def output_files(paths: Any, outputs: dict) -> list[str]:
    files = []
    for ui in outputs.values():
        for items in (ui or {}).values():
            for item in items if isinstance(items, list) else []:
                if isinstance(item, dict) and "filename" in item:
                    base = (
                        paths.get_directory_by_type(item.get("type", "output"))
                        or paths.get_output_directory()
                    )
                    files.append(os.path.join(base, item.get("subfolder", ""), item["filename"]))
    return files


def run_workflow(config: Config) -> int:
    from comfy_core.graph.validation import validate_prompt

    sink = CliSink(show_progress=not config.no_progress)
    services = build_services(config, lambda _services: sink)
    try:
        try:
            prompt, workflow = load_workflow(config.workflow, services.registry.object_info)
            apply_overrides(prompt, config.set_values)
        except (OSError, ValueError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        prompt_id = str(uuid.uuid4())
        valid, error, outputs, node_errors = asyncio.run(
            validate_prompt(services.registry, prompt_id, prompt, None)
        )
        if not valid:
            print(f"invalid workflow: {json.dumps(error)}", file=sys.stderr)
            for node_id, entry in node_errors.items():
                for e in entry.get("errors", []):
                    print(
                        f"  node {node_id} ({entry.get('class_type')}): {e['message']}: {e['details']}",
                        file=sys.stderr,
                    )
            return 1
        extra = {"client_id": "cli", "create_time": 0}
        if workflow is not None:
            extra["extra_pnginfo"] = {"workflow": workflow}
        services.executor.execute(prompt, prompt_id, extra, outputs)
        sink._close_bar()
        if not services.executor.success:
            for e in sink.errors:
                print(
                    f"{e['event']}: node {e.get('node_id')} ({e.get('node_type')}): "
                    f"{e.get('exception_message', 'interrupted')}",
                    file=sys.stderr,
                )
            return 1
        for path in output_files(services.paths, services.executor.history_result.get("outputs", {})):
            print(path)
        return 0
    finally:
        runtime.uninstall()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "run":
        config = parse_run_args(argv[1:])
        setup_logging(config)
        return run_workflow(config)
    config = parse_args(argv)
    setup_logging(config)
    return serve(config)


if __name__ == "__main__":
    sys.exit(main())
