"""Paths: folder table, legacy aliases, listing, cache, full-path resolution, directories."""

from __future__ import annotations

import os
import time

import pytest

from comfy_core.paths import SUPPORTED_PT_EXTENSIONS, Paths


def touch(path, data: bytes = b"x") -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


@pytest.fixture
def paths(tmp_path) -> Paths:
    return Paths(tmp_path)


def test_every_section7_key_with_defaults(paths: Paths, tmp_path) -> None:
    m = str(tmp_path / "models")
    out = str(tmp_path / "output")
    expected = {
        "checkpoints": [f"{m}/checkpoints", f"{out}/checkpoints"],
        "configs": [f"{m}/configs"],
        "loras": [f"{m}/loras", f"{out}/loras"],
        "vae": [f"{m}/vae", f"{out}/vae"],
        "text_encoders": [f"{m}/text_encoders", f"{m}/clip", f"{out}/clip"],
        "diffusion_models": [f"{m}/unet", f"{m}/diffusion_models", f"{out}/diffusion_models"],
        "clip_vision": [f"{m}/clip_vision"],
        "style_models": [f"{m}/style_models"],
        "embeddings": [f"{m}/embeddings"],
        "diffusers": [f"{m}/diffusers"],
        "vae_approx": [f"{m}/vae_approx"],
        "controlnet": [f"{m}/controlnet", f"{m}/t2i_adapter"],
        "gligen": [f"{m}/gligen"],
        "upscale_models": [f"{m}/upscale_models"],
        "latent_upscale_models": [f"{m}/latent_upscale_models"],
        "custom_nodes": [f"{tmp_path}/custom_nodes"],
        "hypernetworks": [f"{m}/hypernetworks"],
        "photomaker": [f"{m}/photomaker"],
        "classifiers": [f"{m}/classifiers"],
        "model_patches": [f"{m}/model_patches"],
        "audio_encoders": [f"{m}/audio_encoders"],
    }
    assert set(paths.folder_names_and_paths) == set(expected)
    for key, dirs in expected.items():
        assert paths.get_folder_paths(key) == dirs, key
    assert paths.supported_pt_extensions == {
        ".ckpt",
        ".pt",
        ".pt2",
        ".bin",
        ".pth",
        ".safetensors",
        ".pkl",
        ".sft",
    }
    assert SUPPORTED_PT_EXTENSIONS == frozenset(paths.supported_pt_extensions)
    assert paths.folder_names_and_paths["configs"][1] == [".yaml"]
    assert paths.folder_names_and_paths["diffusers"][1] == ["folder"]
    assert paths.folder_names_and_paths["classifiers"][1] == {""}
    assert paths.folder_names_and_paths["custom_nodes"][1] == set()
    assert paths.models_dir == m and paths.base_path == str(tmp_path)


def test_legacy_aliases(paths: Paths, tmp_path) -> None:
    assert paths.get_folder_paths("clip") == paths.get_folder_paths("text_encoders")
    assert paths.get_folder_paths("unet") == paths.get_folder_paths("diffusion_models")
    touch(tmp_path / "models/clip/t5.safetensors")
    touch(tmp_path / "models/text_encoders/clip_l.safetensors")
    assert paths.get_filename_list("clip") == ["clip_l.safetensors", "t5.safetensors"]
    paths.add_model_folder_path("unet", "/elsewhere/unets")
    assert paths.get_folder_paths("diffusion_models")[-1] == "/elsewhere/unets"
    assert paths.get_full_path("clip", "t5.safetensors") == str(tmp_path / "models/clip/t5.safetensors")


def test_get_folder_paths_returns_copy_and_unknown_key_raises(paths: Paths) -> None:
    paths.get_folder_paths("loras").append("/nope")
    assert "/nope" not in paths.get_folder_paths("loras")
    with pytest.raises(KeyError):
        paths.get_folder_paths("no_such_key")
    assert paths.get_full_path("no_such_key", "x") is None


def test_filename_list_recursive_filtered_dedup_sorted(paths: Paths, tmp_path) -> None:
    touch(tmp_path / "models/loras/b.safetensors")
    touch(tmp_path / "models/loras/A.SafeTensors")
    touch(tmp_path / "models/loras/sub/deep/c.pt")
    touch(tmp_path / "models/loras/readme.txt")
    touch(tmp_path / "models/loras/.git/objects/x.pt")
    touch(tmp_path / "output/loras/b.safetensors")  # same name in the second dir: listed once
    touch(tmp_path / "output/loras/z.ckpt")
    assert paths.get_filename_list("loras") == sorted(
        ["A.SafeTensors", "b.safetensors", os.path.join("sub", "deep", "c.pt"), "z.ckpt"]
    )
    # first directory in list order wins
    assert paths.get_full_path("loras", "b.safetensors") == str(tmp_path / "models/loras/b.safetensors")
    assert paths.get_full_path("loras", "z.ckpt") == str(tmp_path / "output/loras/z.ckpt")
    assert paths.get_full_path("loras", "missing.pt") is None
    with pytest.raises(
        FileNotFoundError, match="Model in folder 'loras' with filename 'missing.pt' not found"
    ):
        paths.get_full_path_or_raise("loras", "missing.pt")


def test_full_path_cannot_climb_out(paths: Paths, tmp_path) -> None:
    touch(tmp_path / "models/secret.safetensors")
    assert paths.get_full_path("loras", "../secret.safetensors") is None
    touch(tmp_path / "models/loras/ok.pt")
    assert paths.get_full_path("loras", "../../x/../ok.pt") == str(tmp_path / "models/loras/ok.pt")


def test_symlinked_dirs_followed_and_cycles_survive(paths: Paths, tmp_path) -> None:
    external = tmp_path / "external"
    touch(external / "linked.safetensors")
    os.makedirs(tmp_path / "models/checkpoints", exist_ok=True)
    os.symlink(external, tmp_path / "models/checkpoints/ext")
    os.symlink(tmp_path / "models/checkpoints", tmp_path / "models/checkpoints/loop")
    names = paths.get_filename_list("checkpoints")
    assert os.path.join("ext", "linked.safetensors") in names
    assert len(names) == len(set(names))


def test_unknown_key_and_classifiers_extension_rules(paths: Paths, tmp_path) -> None:
    paths.add_model_folder_path("my_pack", str(tmp_path / "pack"))
    touch(tmp_path / "pack/a.bin")
    touch(tmp_path / "pack/notes.txt")
    assert paths.get_filename_list("my_pack") == ["a.bin", "notes.txt"]  # no extension filter
    touch(tmp_path / "models/classifiers/noext")
    touch(tmp_path / "models/classifiers/with.ext")
    assert paths.get_filename_list("classifiers") == ["noext"]


def test_add_model_folder_path_is_default_and_dedup(paths: Paths) -> None:
    paths.add_model_folder_path("vae", "/first", is_default=True)
    assert paths.get_folder_paths("vae")[0] == "/first"
    paths.add_model_folder_path("vae", "/later")
    paths.add_model_folder_path("vae", "/later")
    assert paths.get_folder_paths("vae").count("/later") == 1
    paths.add_model_folder_path("vae", "/later", is_default=True)  # moves to the front
    assert paths.get_folder_paths("vae")[:2] == ["/later", "/first"]


def test_cache_invalidated_by_mtime_and_new_dirs(paths: Paths, tmp_path) -> None:
    touch(tmp_path / "models/vae/a.pt")
    assert paths.get_filename_list("vae") == ["a.pt"]
    entry = paths.filename_list_cache["vae"]
    assert paths.get_filename_list("vae") == ["a.pt"]
    assert paths.filename_list_cache["vae"] is entry  # served from cache
    time.sleep(0.01)
    touch(tmp_path / "models/vae/sub/b.pt")
    os.utime(tmp_path / "models/vae", None)
    assert paths.get_filename_list("vae") == ["a.pt", os.path.join("sub", "b.pt")]
    # a folder of the list that did not exist before appears
    touch(tmp_path / "output/vae/c.pt")
    assert "c.pt" in paths.get_filename_list("vae")
    # a folder list replaced by a custom node is noticed
    paths.folder_names_and_paths["vae"] = ([str(tmp_path / "output/vae")], paths.supported_pt_extensions)
    assert paths.get_filename_list("vae") == ["c.pt"]


def test_cache_helper_strong_cache(paths: Paths, tmp_path) -> None:
    touch(tmp_path / "models/loras/a.pt")
    with paths.cache_helper:
        assert paths.get_filename_list("loras") == ["a.pt"]
        touch(tmp_path / "models/loras/b.pt")
        os.utime(tmp_path / "models/loras", (1, 1))
        assert paths.get_filename_list("loras") == ["a.pt"]  # strong cache ignores changes
    assert paths.get_filename_list("loras") == ["a.pt", "b.pt"]


def test_shared_pt_extension_set(paths: Paths, tmp_path) -> None:
    touch(tmp_path / "models/loras/x.gguf")
    assert paths.get_filename_list("loras") == []
    paths.supported_pt_extensions.add(".gguf")
    paths.filename_list_cache.clear()
    assert paths.get_filename_list("loras") == ["x.gguf"]


def test_directories_and_types(tmp_path) -> None:
    p = Paths(
        tmp_path, output_dir=tmp_path / "o", input_dir=tmp_path / "i", temp_dir=tmp_path / "t", user_dir="u"
    )
    assert p.get_output_directory() == str(tmp_path / "o")
    assert p.get_input_directory() == str(tmp_path / "i")
    assert p.get_temp_directory() == str(tmp_path / "t")
    assert p.get_user_directory() == os.path.abspath("u")
    assert p.get_folder_paths("checkpoints")[-1] == str(tmp_path / "o/checkpoints")
    assert p.get_directory_by_type("output") == str(tmp_path / "o")
    assert p.get_directory_by_type("input") == str(tmp_path / "i")
    assert p.get_directory_by_type("temp") == str(tmp_path / "t")
    assert p.get_directory_by_type("user") is None
    assert p.get_directory_by_type("models") is None
    p.set_output_directory(tmp_path / "o2")
    p.set_input_directory(tmp_path / "i2")
    p.set_temp_directory(tmp_path / "t2")
    p.set_user_directory(tmp_path / "u2")
    assert (p.get_output_directory(), p.get_input_directory()) == (str(tmp_path / "o2"), str(tmp_path / "i2"))
    assert (p.get_temp_directory(), p.get_user_directory()) == (str(tmp_path / "t2"), str(tmp_path / "u2"))
    assert not os.path.exists(tmp_path / "i2")
    p.ensure_input_directory()
    assert os.path.isdir(tmp_path / "i2")
    os.makedirs(tmp_path / "i2/b/c")
    os.makedirs(tmp_path / "i2/a")
    assert p.get_input_subfolders() == ["a", "b", "b/c"]


def test_user_directories(paths: Paths, tmp_path) -> None:
    assert paths.get_system_user_directory() == str(tmp_path / "user/__default")
    assert paths.get_public_user_directory("alice") == str(tmp_path / "user/alice")
    assert paths.get_public_user_directory("__system") is None
    assert paths.get_public_user_directory("../escape") is None
    with pytest.raises(ValueError):
        paths.get_system_user_directory("../x")


def test_content_type_filter(paths: Paths) -> None:
    files = ["a.png", "b.webp", "c.mp4", "d.wav", "e.txt", "f", "g.JPG", "h.safetensors"]
    assert paths.filter_files_content_types(files, ["image"]) == ["a.png", "b.webp", "g.JPG"]
    assert paths.filter_files_content_types(files, ["video", "audio"]) == ["c.mp4", "d.wav"]
    assert paths.filter_files_extensions(["b.PT", "a.pt", "c.txt"], {".pt"}) == ["a.pt", "b.PT"]
    assert paths.filter_files_extensions(["b", "a"], []) == ["a", "b"]


def test_cleanup_temp_and_recursive_search(tmp_path) -> None:
    p = Paths(tmp_path)
    os.makedirs(tmp_path / "temp/sub")
    touch(tmp_path / "temp/sub/x.png")
    p.cleanup_temp()
    assert not os.path.exists(tmp_path / "temp")
    p.cleanup_temp()  # already gone: fine
    p.set_temp_directory(tmp_path)
    with pytest.raises(ValueError):
        p.cleanup_temp()
    touch(tmp_path / "d/.git/x")
    touch(tmp_path / "d/a/b.txt")
    files, dirs = p.recursive_search(str(tmp_path / "d"), excluded_dir_names=[".git"])
    assert files == [os.path.join("a", "b.txt")]
    assert set(dirs) == {str(tmp_path / "d"), str(tmp_path / "d/a")}
