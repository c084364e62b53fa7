"""A ComfyUI-style sampler pack (tests/fixtures/custom_nodes/sampler_pack) loads through discovery and runs
through the executor on the reduced SD1 checkpoint, giving the built-in KSampler's latents; per-prompt
`extra_data.preview_method` changes how many binary preview frames a prompt sends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from comfy_core import runtime
from comfy_core.events import BinaryEvent
from tests.compat.sd_executor import SDRunner, txt2img_prompt
from tests.fixtures.sd_env import make_base, single_thread

KSAMPLER_INPUTS = {"sampler_name": "euler", "scheduler": "normal", "denoise": 1.0}
STEPS = 3


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SDRunner]:
    base = make_base(tmp_path_factory.mktemp("sampler_pack"))
    with single_thread():
        yield SDRunner(base, packs=("sampler_pack",), preview_method="none", preview_size=64)
    runtime.uninstall()


def _probe(runner: SDRunner, sampler: dict, seed: int = 5, extra: dict | None = None) -> tuple[dict, list]:
    with single_thread():
        outputs, events = runner.run(txt2img_prompt(sampler, seed=seed, steps=STEPS), extra)
    return outputs["6"], events


def _frames(events: list) -> int:
    previews = (
        BinaryEvent.PREVIEW_IMAGE,
        BinaryEvent.UNENCODED_PREVIEW_IMAGE,
        BinaryEvent.PREVIEW_IMAGE_WITH_METADATA,
    )
    return sum(1 for event, _, _ in events if event in previews)


def test_pack_ksamplers_match_the_builtin_ksampler(runner: SDRunner) -> None:
    builtin, _ = _probe(runner, {"class_type": "KSampler", "inputs": KSAMPLER_INPUTS})
    assert builtin["shape"] == [1, 4, 8, 8]
    for class_type in ("PackKSampler", "PackNodesKSampler"):
        pack, _ = _probe(runner, {"class_type": class_type, "inputs": KSAMPLER_INPUTS})
        assert pack["head"] == builtin["head"], class_type
        assert pack["sum"] == builtin["sum"], class_type
    other, _ = _probe(runner, {"class_type": "PackKSampler", "inputs": KSAMPLER_INPUTS}, seed=6)
    assert other["head"] != builtin["head"]


def test_pack_custom_sampler_and_guider(runner: SDRunner) -> None:
    builtin, _ = _probe(runner, {"class_type": "KSampler", "inputs": KSAMPLER_INPUTS})
    custom, _ = _probe(
        runner, {"class_type": "PackCustomSampler", "inputs": {"scheduler": "normal", "half_cfg": False}}
    )
    assert custom["head"] == pytest.approx(builtin["head"], abs=1e-5)
    half, _ = _probe(
        runner, {"class_type": "PackCustomSampler", "inputs": {"scheduler": "normal", "half_cfg": True}}
    )
    assert half["head"] != pytest.approx(builtin["head"], abs=1e-3)
    # cfg 6 * 0.5 through the built-in KSampler is the same computation
    three = txt2img_prompt({"class_type": "KSampler", "inputs": KSAMPLER_INPUTS}, seed=5, steps=STEPS)
    three["5"]["inputs"]["cfg"] = 3.0
    with single_thread():
        outputs, _ = runner.run(three)
    assert half["head"] == pytest.approx(outputs["6"]["head"], abs=1e-5)


def test_extra_data_preview_method_per_prompt(runner: SDRunner) -> None:
    sampler = {"class_type": "PackKSampler", "inputs": KSAMPLER_INPUTS}
    counts = {}
    # a fresh seed per prompt so the sampler really runs (extra_data is not part of the cache key)
    for seed, method in enumerate(("latent2rgb", None, "default", "LATENT2RGB", "none", "taesd"), start=100):
        extra = {} if method is None else {"preview_method": method}
        _, events = _probe(runner, sampler, seed=seed, extra=extra)
        counts[method] = _frames(events)
    assert counts == {"latent2rgb": STEPS, None: 0, "default": 0, "LATENT2RGB": 0, "none": 0, "taesd": STEPS}
    assert runner.services.config.preview_method == "none"  # the override never touches the configuration
