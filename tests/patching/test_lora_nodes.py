"""LoraLoader / LoraLoaderModelOnly: the file comes through the loras folder, is read once per node object
until it changes on disk, inputs are cloned and never changed, strength 0 passes the inputs through."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import torch

from comfy_core import runtime
from comfy_core.io.checkpoint import save_safetensors
from comfy_core.patching.models import clip_key_map_of, model_key_map
from nodes.loaders import CheckpointLoaderSimple
from nodes.lora import LoraLoader, LoraLoaderModelOnly
from tests.fixtures.sd_env import CKPT, install_services, make_base, single_thread
from tests.patching.lora_files import kohya_from_manifest

MANIFEST = "lora_sd15_kohya_rank8"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory):
    return make_base(tmp_path_factory.mktemp("lora_nodes"), with_taesd=False)


@pytest.fixture(autouse=True)
def services(base) -> Iterator[runtime.Services]:
    yield install_services(base)
    runtime.uninstall()


@pytest.fixture(scope="module")
def loaded(base):
    install_services(base)
    try:
        with single_thread():
            model, clip, _ = CheckpointLoaderSimple().load_checkpoint(CKPT)
    finally:
        runtime.uninstall()
    key_map = {**model_key_map(model), **clip_key_map_of(clip)}
    lora = kohya_from_manifest(MANIFEST, key_map, {**model.model.state_dict(), **clip.get_sd()}, seed=9)
    folder = base / "models" / "loras"
    folder.mkdir(parents=True, exist_ok=True)
    save_safetensors(lora, folder / "style.safetensors")
    return model, clip


def test_combo_lists_loras(loaded) -> None:
    assert LoraLoader.INPUT_TYPES()["required"]["lora_name"][0] == ["style.safetensors"]
    assert list(LoraLoaderModelOnly.INPUT_TYPES()["required"]) == ["model", "lora_name", "strength_model"]


def test_loader_clones_and_caches_the_file(loaded, base) -> None:
    model, clip = loaded
    node = LoraLoader()
    m1, c1 = node.load_lora(model, clip, "style.safetensors", 1.0, 1.0)
    m2, c2 = node.load_lora(model, clip, "style.safetensors", -0.5, 0.25)
    assert node.lora_cache.reads == 1  # a new strength does not read the file again
    assert m1 is not model and c1 is not clip and not model.patches and not clip.patches
    assert len(m1.patches) == 192 and len(c1.patches) == 72
    assert {p[0] for v in m2.patches.values() for p in v} == {-0.5}
    assert {p[0] for v in c2.patches.values() for p in v} == {0.25}
    path = base / "models" / "loras" / "style.safetensors"
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # the file changed on disk
    node.load_lora(model, clip, "style.safetensors", 1.0, 1.0)
    assert node.lora_cache.reads == 2


def test_strength_zero_passes_inputs_through(loaded) -> None:
    model, clip = loaded
    node = LoraLoader()
    assert node.load_lora(model, clip, "style.safetensors", 0.0, 0.0) == (model, clip)
    assert node.lora_cache.reads == 0
    m, c = node.load_lora(model, clip, "style.safetensors", 0.0, 1.0)
    assert m is model and c is not clip and len(c.patches) == 72


def test_model_only(loaded) -> None:
    model, _ = loaded
    (m,) = LoraLoaderModelOnly().load_lora_model_only(model, "style.safetensors", 0.7)
    assert m is not model and len(m.patches) == 192 and not model.patches
    x = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    ctx = torch.randn(1, 77, 48, generator=torch.Generator().manual_seed(1))
    with single_thread(), torch.no_grad():
        with m.patched("cpu") as mm:
            patched = mm.apply_model(x, torch.tensor([2.0]), c_crossattn=ctx)
        with model.patched("cpu") as mm:
            plain = mm.apply_model(x, torch.tensor([2.0]), c_crossattn=ctx)
    assert not torch.allclose(patched, plain, atol=1e-4)
