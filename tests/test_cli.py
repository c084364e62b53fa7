"""Command line: flag parsing into Config, `main.py run`, and ComfyUI's test-suite start-up line."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import requests

import main
from comfy_core.config import Config, parse_args, parse_run_args
from tests.server.harness import save_prompt
from tests.server.process import REPO, TEST_YAML, free_port


def test_defaults_and_flags():
    c = parse_args([])
    assert (c.listen, c.port, c.max_upload_size, c.cache_mode, c.preview_method, c.verbose) == (
        "127.0.0.1",
        8188,
        100.0,
        "classic",
        "none",
        "INFO",
    )
    c = parse_args(
        [
            "--listen",
            "--port",
            "9000",
            "--cache-lru",
            "5",
            "--extra-model-paths-config",
            "a.yaml",
            "b.yaml",
            "--extra-model-paths-config",
            "c.yaml",
            "--enable-cors-header",
            "--verbose",
            "--whitelist-custom-nodes",
            "x",
            "y",
            "--lowvram",
            "--fp16-vae",
            "--bf16-unet",
            "--cpu-vae",
            "--preview-method",
            "taesd",
            "--preview-size",
            "256",
            "--disable-metadata",
            "--multi-user",
        ]
    )
    assert c.listen == "0.0.0.0,::" and c.listen_hosts == ["0.0.0.0", "::"] and c.listens_beyond_loopback()
    assert c.port == 9000 and c.cache_mode == "lru" and c.cache_lru == 5
    assert c.extra_model_paths_config == ["a.yaml", "b.yaml", "c.yaml"]
    assert c.enable_cors_header == "*" and c.verbose == "DEBUG"
    assert c.whitelist_custom_nodes == ["x", "y"] and c.lowvram and c.fp16_vae and c.bf16_unet and c.cpu_vae
    assert (c.preview_method, c.preview_size, c.disable_metadata, c.multi_user) == ("taesd", 256, True, True)
    assert parse_args(["--cache-ram"]).cache_mode == "ram" and parse_args(["--cache-ram"]).cache_ram == 4.0
    assert parse_args(["--cache-none"]).cache_mode == "none"
    assert parse_args(["--max-upload-size", "1"]).max_upload_bytes == 1024 * 1024


def test_bad_flags_exit_with_usage(capsys):
    for argv in (
        ["--no-such-flag"],
        ["--cache-none", "--cache-lru", "3"],
        ["--lowvram", "--novram"],
        ["--preview-method", "magic"],
    ):
        with pytest.raises(SystemExit) as exc:
            parse_args(argv)
        assert exc.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_auth_token_from_env_and_loopback_rule(monkeypatch):
    monkeypatch.setenv("COMFY_CORE_AUTH_TOKEN", "envtok")
    assert parse_args([]).auth_token == "envtok"
    monkeypatch.delenv("COMFY_CORE_AUTH_TOKEN")
    assert parse_args(["--auth-token", "t"]).auth_token == "t"
    assert not Config(listen="127.0.0.1,::1,localhost").listens_beyond_loopback()
    assert main.main(["--listen", "0.0.0.0"]) == 2  # refuses before building anything


def test_run_parser():
    c = parse_run_args(["wf.json", "--set", "3.seed=5", "--set", "6.text=a cat", "--output-directory", "o"])
    assert (
        c.workflow == "wf.json" and c.set_values == ["3.seed=5", "6.text=a cat"] and c.output_directory == "o"
    )


def _run(tmp_path, capsys, workflow_path, *extra):
    out = tmp_path / "out"
    rc = main.main(
        [
            "run",
            str(workflow_path),
            "--base-directory",
            str(tmp_path / "base"),
            "--output-directory",
            str(out),
            "--extra-model-paths-config",
            TEST_YAML,
            "--no-progress",
            *extra,
        ]
    )
    captured = capsys.readouterr()
    return rc, [line for line in captured.out.splitlines() if line.strip()], captured.err


def test_run_api_json_ui_json_and_png(tmp_path, capsys):
    from PIL import Image, PngImagePlugin

    api = tmp_path / "api.json"
    api.write_text(json.dumps(save_prompt(3, prefix="cli")))
    rc, lines, err = _run(tmp_path, capsys, api, "--set", "1.value=77")
    assert rc == 0, err
    (path,) = lines
    assert path.startswith(str(tmp_path / "out")) and Image.open(path).getpixel((0, 0)) == (77, 7, 9)

    ui = {
        "version": 0.4,
        "nodes": [
            {
                "id": 1,
                "type": "ServerTestInt",
                "mode": 0,
                "inputs": [],
                "outputs": [{"name": "INT", "type": "INT"}],
                "widgets_values": [12],
            },
            {
                "id": 2,
                "type": "ServerTestSave",
                "mode": 0,
                "inputs": [{"name": "value", "type": "INT", "link": 1, "widget": {"name": "value"}}],
                "outputs": [],
                "widgets_values": [0, "uiwf"],
            },
        ],
        "links": [[1, 1, 0, 2, 0, "INT"]],
    }
    ui_path = tmp_path / "ui.json"
    ui_path.write_text(json.dumps(ui))
    rc, lines, err = _run(tmp_path, capsys, ui_path)
    assert rc == 0, err
    assert os.path.basename(lines[0]).startswith("uiwf_12_")

    info = PngImagePlugin.PngInfo()
    info.add_text("workflow", json.dumps(ui))
    png = tmp_path / "carrier.png"
    Image.new("RGB", (2, 2)).save(png, pnginfo=info)
    rc, lines, err = _run(tmp_path, capsys, png, "--set", "1.value=13")
    assert rc == 0, err
    assert os.path.basename(lines[0]).startswith("uiwf_13_")


def test_run_reports_failures(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "1": {"class_type": "ServerTestFail", "inputs": {"value": 1}},
                "2": {"class_type": "ServerTestSave", "inputs": {"value": ["1", 0], "filename_prefix": "f"}},
            }
        )
    )
    rc, lines, err = _run(tmp_path, capsys, bad)
    assert rc == 1 and "asked to fail" in err and lines == []
    invalid = tmp_path / "invalid.json"
    invalid.write_text(json.dumps({"1": {"class_type": "NoSuchNode", "inputs": {}}}))
    rc, _, err = _run(tmp_path, capsys, invalid)
    assert rc == 1 and "NoSuchNode" in err
    rc, _, err = _run(tmp_path, capsys, invalid, "--set", "nodot=1")
    assert rc == 2 and "ID.INPUT=VALUE" in err
    notwf = tmp_path / "x.json"
    notwf.write_text("[1, 2]")
    assert _run(tmp_path, capsys, notwf)[0] == 2


def test_comfyui_test_suite_command_line(tmp_path):
    """The exact start-up line of ComfyUI's tests/execution fixtures, with --cache-none."""
    port = free_port()
    out = tmp_path / "samples"
    cmd = [
        sys.executable,
        "main.py",
        "--output-directory",
        str(out),
        "--listen",
        "127.0.0.1",
        "--port",
        str(port),
        "--extra-model-paths-config",
        TEST_YAML,
        "--cpu",
        "--cache-none",
        "--user-directory",
        str(tmp_path),
    ]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        import time

        for _ in range(600):
            try:
                requests.get(f"http://127.0.0.1:{port}/prompt", timeout=1)
                break
            except requests.ConnectionError:
                assert proc.poll() is None, proc.stdout.read().decode()[-2000:]
                time.sleep(0.2)
        r = requests.post(
            f"http://127.0.0.1:{port}/prompt", json={"prompt": save_prompt(1, prefix="suite")}, timeout=10
        )
        pid = r.json()["prompt_id"]
        for _ in range(300):
            h = requests.get(f"http://127.0.0.1:{port}/history/{pid}", timeout=5).json()
            if h:
                break
            time.sleep(0.1)
        image = h[pid]["outputs"]["3"]["images"][0]
        assert os.path.isfile(out / image["filename"])
    finally:
        proc.terminate()
        proc.wait(30)
    assert proc.returncode in (0, -15)


def test_quick_test_for_ci(tmp_path):
    r = subprocess.run(
        [
            sys.executable,
            "main.py",
            "--quick-test-for-ci",
            "--base-directory",
            str(tmp_path),
            "--extra-model-paths-config",
            TEST_YAML,
        ],
        cwd=REPO,
        capture_output=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    assert os.path.isfile(tmp_path / "user" / "comfy-core.db")
