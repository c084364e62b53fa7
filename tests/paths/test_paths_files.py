"""Paths: extra_model_paths.yaml, annotated names, save-path counters, escape refusal."""

from __future__ import annotations

import os
import time

import pytest

from comfy_core.paths import Paths, read_extra_path_config, safe_join


@pytest.fixture
def paths(tmp_path) -> Paths:
    return Paths(tmp_path / "comfy")


def write(path, text: str) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return str(path)


# -- extra_model_paths.yaml ----------------------------------------------------------------------


def test_yaml_base_path_multiline_and_aliases(paths: Paths, tmp_path) -> None:
    yml = write(
        tmp_path / "cfg/extra.yaml",
        """
a111:
    base_path: /srv/sd/
    checkpoints: models/Stable-diffusion
    vae: models/VAE
    loras: |
         models/Lora
         models/LyCORIS
    clip: models/clip
    unet: models/unet
    custom_nodes: my_nodes
""",
    )
    paths.load_extra_path_config(yml)
    assert paths.get_folder_paths("checkpoints")[-1] == "/srv/sd/models/Stable-diffusion"
    assert paths.get_folder_paths("vae")[-1] == "/srv/sd/models/VAE"
    assert paths.get_folder_paths("loras")[-2:] == ["/srv/sd/models/Lora", "/srv/sd/models/LyCORIS"]
    assert paths.get_folder_paths("text_encoders")[-1] == "/srv/sd/models/clip"
    assert paths.get_folder_paths("diffusion_models")[-1] == "/srv/sd/models/unet"
    assert paths.get_folder_paths("custom_nodes")[-1] == "/srv/sd/my_nodes"


def test_yaml_is_default_relative_base_and_no_base(paths: Paths, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("MODELS_ROOT", str(tmp_path / "envroot"))
    yml = write(
        tmp_path / "cfg/extra.yaml",
        """
first:
    is_default: true
    base_path: ../shared
    checkpoints: ckpts
second:
    checkpoints: relative/ckpts
    loras: /abs/loras
third:
    base_path: $MODELS_ROOT
    embeddings: emb
empty_section:
weird_key_section:
    my_new_key: stuff
""",
    )
    paths.load_extra_path_config(yml)
    ck = paths.get_folder_paths("checkpoints")
    assert ck[0] == str(tmp_path / "shared/ckpts")  # is_default -> first; base_path relative to yaml dir
    assert ck[-1] == str(tmp_path / "cfg/relative/ckpts")  # no base_path -> relative to yaml dir
    assert paths.get_folder_paths("loras")[-1] == "/abs/loras"
    assert paths.get_folder_paths("embeddings")[-1] == str(tmp_path / "envroot/emb")
    assert paths.get_folder_paths("my_new_key") == [str(tmp_path / "cfg/stuff")]
    assert paths.folder_names_and_paths["my_new_key"][1] == set()


def test_yaml_home_expansion(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    yml = write(tmp_path / "x.yaml", "s:\n  base_path: ~/models\n  vae: v\n")
    assert read_extra_path_config(yml) == [("vae", str(tmp_path / "home/models/v"), False)]


def test_yaml_files_become_listable(paths: Paths, tmp_path) -> None:
    os.makedirs(tmp_path / "extra/loras")
    open(tmp_path / "extra/loras/x.safetensors", "wb").close()
    yml = write(tmp_path / "e.yaml", f"s:\n  base_path: {tmp_path / 'extra'}\n  loras: loras\n")
    paths.load_extra_path_config(yml)
    assert paths.get_filename_list("loras") == ["x.safetensors"]


# -- annotated names -----------------------------------------------------------------------------


def test_annotated_filepath(paths: Paths) -> None:
    inp, out, tmp = paths.get_input_directory(), paths.get_output_directory(), paths.get_temp_directory()
    assert paths.annotated_filepath("a.png [output]") == ("a.png", out)
    assert paths.annotated_filepath("a.png [input]") == ("a.png", inp)
    assert paths.annotated_filepath("sub/a.png [temp]") == ("sub/a.png", tmp)
    assert paths.annotated_filepath("a.png") == ("a.png", None)
    assert paths.get_annotated_filepath("a.png") == os.path.join(inp, "a.png")
    assert paths.get_annotated_filepath("a.png", "/d") == os.path.join("/d", "a.png")
    assert paths.get_annotated_filepath("a.png [output]", "/d") == os.path.join(out, "a.png")
    os.makedirs(out)
    open(os.path.join(out, "a.png"), "wb").close()
    assert paths.exists_annotated_filepath("a.png [output]")
    assert not paths.exists_annotated_filepath("a.png")
    assert paths.resolve_annotated("a.png [output]") == safe_join(out, "a.png")
    with pytest.raises(ValueError, match="outside"):
        paths.resolve_annotated("../../etc/passwd [output]")


# -- save paths ----------------------------------------------------------------------------------


def test_save_path_counter_rules(paths: Paths) -> None:
    out = paths.get_output_directory()
    os.makedirs(out)
    folder, name, counter, sub, prefix = paths.get_save_image_path("ComfyUI", out, 64, 32)
    assert (folder, name, counter, sub, prefix) == (os.path.join(out, ""), "ComfyUI", 1, "", "ComfyUI")
    for n in (
        "ComfyUI_00001_.png",
        "ComfyUI_00007_.png",
        "ComfyUI_temp_abcde_00042_.png",
        "comfyui_00099_.png",
        "ComfyUIX_00500_.png",
        "Other_00300_.png",
    ):
        open(os.path.join(out, n), "wb").close()
    # highest counter of this exact prefix (+1); other prefixes and case variants (POSIX) do not count
    assert paths.get_save_image_path("ComfyUI", out)[2] == 8


def test_save_path_subfolders_and_tokens(paths: Paths) -> None:
    out = paths.get_output_directory()
    folder, name, counter, sub, prefix = paths.get_save_image_path(
        "video/run_%width%x%height%", out, 640, 480
    )
    assert sub == "video" and name == "run_640x480" and counter == 1 and prefix == "video/run_640x480"
    assert folder == os.path.join(out, "video") and os.path.isdir(folder)
    open(os.path.join(folder, "run_640x480_00003_.webp"), "wb").close()
    assert paths.get_save_image_path("video/run_%width%x%height%", out, 640, 480)[2] == 4
    year = str(time.localtime().tm_year)
    assert paths.get_save_image_path("%year%/x", out)[3] == year
    month = paths.get_save_image_path("%month%-%day%_%hour%%minute%%second%", out)[1]
    assert len(month) == len("MM-DD_HHMMSS")


def test_save_path_escape_refused(paths: Paths, tmp_path) -> None:
    out = paths.get_output_directory()
    os.makedirs(out)
    with pytest.raises(ValueError, match="outside the output folder"):
        paths.get_save_image_path("../evil/x", out)
    with pytest.raises(ValueError, match="outside the output folder"):
        paths.get_save_image_path("/etc/x", out)
    os.makedirs(tmp_path / "elsewhere")
    os.symlink(tmp_path / "elsewhere", os.path.join(out, "link"))
    with pytest.raises(ValueError, match="outside the output folder"):
        paths.get_save_image_path("link/x", out)
    assert not os.listdir(tmp_path / "elsewhere")


# -- safe_join -----------------------------------------------------------------------------------


def test_safe_join(tmp_path) -> None:
    root = tmp_path / "root"
    os.makedirs(root / "sub")
    assert safe_join(root, "sub/a.png") == (root / "sub/a.png").resolve()
    assert safe_join(root, "sub/../a.png") == (root / "a.png").resolve()
    assert safe_join(root, "") == root.resolve()
    for bad in ("../x", "sub/../../x", "/etc/passwd", "a\0b"):
        with pytest.raises(ValueError):
            safe_join(root, bad)
    # symlink escape: a link inside root pointing outside is refused, also through a linked dir
    os.makedirs(tmp_path / "outside")
    (tmp_path / "outside/secret.txt").write_text("s")
    os.symlink(tmp_path / "outside/secret.txt", root / "leak.txt")
    os.symlink(tmp_path / "outside", root / "leakdir")
    with pytest.raises(ValueError, match="outside its root"):
        safe_join(root, "leak.txt")
    with pytest.raises(ValueError):
        safe_join(root, "leakdir/secret.txt")
    # a link that stays inside is fine
    os.symlink(root / "sub", root / "inner")
    assert safe_join(root, "inner/a.png") == (root / "sub/a.png").resolve()
