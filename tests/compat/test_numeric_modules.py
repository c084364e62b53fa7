"""The numeric ComfyUI modules packs import (comfy.samplers, comfy.sample, comfy.sd, comfy.model_patcher,
comfy.model_sampling, comfy.latent_formats, comfy.k_diffusion.sampling, comfy.lora, latent_preview and the
memory side of comfy.model_management): names exist and behave like comfy-core's own pieces."""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from comfy_core import runtime
from comfy_core.compat import PRELOADED, install_aliases
from comfy_core.families import latent_formats as core_formats
from comfy_core.memory.patcher import ModelPatcher
from comfy_core.sampling import ksampler as core_ksampler
from comfy_core.sampling import noise as core_noise
from comfy_core.sampling import schedulers as core_schedulers
from comfy_core.sampling.model_sampling import ModelSamplingDiscrete as CoreDiscrete
from tests.fixtures.sd_env import CKPT, install_services, make_base, single_thread

install_aliases()

import comfy.k_diffusion.sampling as k_sampling  # noqa: E402
import comfy.latent_formats  # noqa: E402
import comfy.lora  # noqa: E402
import comfy.model_management as mm  # noqa: E402
import comfy.model_patcher  # noqa: E402
import comfy.model_sampling  # noqa: E402
import comfy.sample  # noqa: E402
import comfy.samplers  # noqa: E402
import comfy.sd  # noqa: E402
import comfy.utils  # noqa: E402
import latent_preview  # noqa: E402
from comfy.cli_args import LatentPreviewMethod, args  # noqa: E402

NAMES = {
    "comfy.samplers": "KSampler KSAMPLER sampler_object ksampler CFGGuider calculate_sigmas SAMPLER_NAMES "
    "KSAMPLER_NAMES SCHEDULER_NAMES SCHEDULER_HANDLERS sample sampling_function cfg_function calc_cond_batch",
    "comfy.sample": "prepare_noise sample sample_custom fix_empty_latent_channels prepare_mask",
    "comfy.sd": "load_checkpoint_guess_config load_checkpoint load_lora_for_models VAE CLIP load_clip "
    "load_diffusion_model load_unet save_checkpoint CLIPType",
    "comfy.model_patcher": "ModelPatcher set_model_options_post_cfg_function set_model_options_patch_replace",
    "comfy.model_sampling": "EPS V_PREDICTION EDM X0 CONST ModelSamplingDiscrete ModelSamplingDiscreteFlow "
    "ModelSamplingFlux time_snr_shift",
    "comfy.latent_formats": "LatentFormat SD15 SDXL",
    "comfy.k_diffusion.sampling": "sample_euler sample_euler_ancestral sample_dpmpp_2m sample_dpmpp_2m_sde "
    "sample_lcm get_sigmas_karras get_sigmas_exponential BrownianTreeNoiseSampler default_noise_sampler to_d "
    "get_ancestral_step append_zero trange",
    "comfy.lora": "load_lora model_lora_keys_unet model_lora_keys_clip",
    "comfy.model_management": "load_models_gpu load_model_gpu free_memory unload_all_models get_free_memory "
    "soft_empty_cache cast_to_device intermediate_device text_encoder_device vae_device unet_dtype "
    "get_torch_device unet_offload_device should_use_fp16 OOM_EXCEPTION current_loaded_models VRAMState",
    "comfy.utils": "state_dict_prefix_replace calculate_parameters PROGRESS_BAR_ENABLED tiled_scale lanczos "
    "bislerp repeat_to_batch_size reshape_mask common_upscale get_tiled_scale_steps",
    "latent_preview": "prepare_callback set_preview_method default_preview_method get_previewer "
    "MAX_PREVIEW_RESOLUTION",
}


@pytest.mark.parametrize("module", sorted(NAMES))
def test_module_imports_and_names_exist(module: str) -> None:
    mod = importlib.import_module(module)
    assert mod is importlib.import_module("comfy_core.compat." + module)
    missing = [n for n in NAMES[module].split() if not hasattr(mod, n)]
    assert missing == []


def test_import_comfy_reaches_submodules_lazily() -> None:
    code = (
        "from comfy_core.compat import install_aliases; install_aliases()\n"
        "import comfy\n"
        "print(len(comfy.samplers.KSampler.SAMPLERS), comfy.sd.load_checkpoint_guess_config.__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["44", "load_checkpoint_guess_config"]


def test_preloaded_modules_stay_torch_free() -> None:
    assert "latent_preview" not in PRELOADED and not any(
        ".samplers" in n or ".sd" == n[-3:] for n in PRELOADED
    )
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from comfy_core.compat import install_aliases; install_aliases()\n"
        "import comfy.model_management as mm, comfy.cli_args as ca\n"
        "print(ca.LatentPreviewMethod.from_string('auto').value, callable(mm.load_models_gpu))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["auto", "True"]


# ---- comfy.samplers ------------------------------------------------------------------------------
def test_sampler_and_scheduler_names_are_ours_as_lists() -> None:
    assert comfy.samplers.KSampler.SAMPLERS == list(core_ksampler.SAMPLER_NAMES)
    assert len(comfy.samplers.KSampler.SAMPLERS) == 44
    assert comfy.samplers.KSampler.SAMPLERS[:3] == ["euler", "euler_cfg_pp", "euler_ancestral"]
    assert comfy.samplers.KSampler.SAMPLERS[-3:] == ["ddim", "uni_pc", "uni_pc_bh2"]
    assert comfy.samplers.KSampler.SCHEDULERS == list(core_schedulers.SCHEDULER_NAMES)
    assert comfy.samplers.KSampler.SCHEDULERS + ["AYS SD1"] == list(core_schedulers.SCHEDULER_NAMES) + [
        "AYS SD1"
    ]
    assert comfy.samplers.KSampler.SAMPLERS is comfy.samplers.SAMPLER_NAMES
    assert comfy.samplers.KSAMPLER_NAMES == list(core_ksampler.KSAMPLER_NAMES)


def test_calculate_sigmas_and_sampler_objects() -> None:
    ms = CoreDiscrete()
    for name in ("karras", "normal", "simple"):
        assert torch.equal(
            comfy.samplers.calculate_sigmas(ms, name, 5), core_schedulers.calculate_sigmas(ms, name, 5)
        )
    karras = comfy.samplers.calculate_sigmas(ms, "karras", 4)
    expected = k_sampling.get_sigmas_karras(4, float(ms.sigma_min), float(ms.sigma_max))
    assert torch.allclose(karras, expected) and karras[-1] == 0
    assert comfy.samplers.sampler_object("euler").sampler_function is core_ksampler.sampler_function("euler")
    assert comfy.samplers.ksampler("dpmpp_2m").sampler_function is k_sampling.sample_dpmpp_2m
    assert comfy.samplers.sampler_object("ddim").inpaint_options == {"random": True}
    with pytest.raises(ValueError):
        comfy.samplers.sampler_object("no_such_sampler")


def test_pack_registered_sampler_and_scheduler(monkeypatch: pytest.MonkeyPatch) -> None:
    def sample_pack_noop(model, x, sigmas, extra_args=None, callback=None, disable=None):  # noqa: ANN001, ANN202
        return x

    monkeypatch.setattr(k_sampling, "sample_pack_noop", sample_pack_noop, raising=False)
    assert comfy.samplers.ksampler("pack_noop").sampler_function is sample_pack_noop
    assert comfy.samplers.sampler_object("pack_noop").sampler_function is sample_pack_noop

    def linear(model_sampling, steps):  # noqa: ANN001, ANN202
        return torch.linspace(float(model_sampling.sigma_max), 0.0, steps + 1)

    handlers = dict(comfy.samplers.SCHEDULER_HANDLERS)
    handlers["pack_linear"] = comfy.samplers.SchedulerHandler(linear)
    monkeypatch.setattr(comfy.samplers, "SCHEDULER_HANDLERS", handlers)
    sigmas = comfy.samplers.calculate_sigmas(CoreDiscrete(), "pack_linear", 4)
    assert sigmas.shape == (5,) and float(sigmas[-1]) == 0.0


# ---- comfy.sample --------------------------------------------------------------------------------
def test_prepare_noise_equals_ours() -> None:
    latent = torch.zeros(3, 4, 8, 8)
    assert torch.equal(comfy.sample.prepare_noise(latent, 42), core_noise.prepare_noise(latent, 42))
    picked = comfy.sample.prepare_noise(latent[:2], 42, [2, 0])
    assert torch.equal(picked, core_noise.prepare_noise(latent[:2], 42, [2, 0]))
    assert torch.equal(picked[0], core_noise.prepare_noise(latent, 42)[2])
    assert not torch.equal(comfy.sample.prepare_noise(latent, 43), comfy.sample.prepare_noise(latent, 42))


# ---- comfy.model_sampling / latent_formats ------------------------------------------------------
def test_model_sampling_compat_constructor_and_isinstance() -> None:
    class Advanced(comfy.model_sampling.ModelSamplingDiscrete, comfy.model_sampling.V_PREDICTION):
        pass

    class Config:
        sampling_settings = {"beta_schedule": "linear", "linear_start": 0.00085, "linear_end": 0.012}

    ms = Advanced(Config(), zsnr=True)
    assert isinstance(ms, comfy.model_sampling.V_PREDICTION)
    assert float(ms.sigmas[-1]) > 1e3  # zero terminal SNR: the last sigma is (nearly) infinite
    plain = comfy.model_sampling.ModelSamplingDiscrete()
    assert torch.equal(plain.sigmas, CoreDiscrete().sigmas)
    assert isinstance(CoreDiscrete(), comfy.model_sampling.ModelSamplingDiscrete)
    assert not isinstance(CoreDiscrete(), Advanced)


def test_latent_formats() -> None:
    lf = comfy.latent_formats
    assert lf.SD15() is core_formats.SD15 and lf.SDXL() is core_formats.SDXL
    assert isinstance(core_formats.SD15, lf.SD15) and not isinstance(core_formats.SD15, lf.SDXL)
    assert isinstance(core_formats.SDXL, lf.LatentFormat)
    assert lf.SD15.scale_factor == 0.18215 and lf.SDXL.scale_factor == 0.13025

    class Custom(lf.LatentFormat):
        scale_factor = 0.5
        latent_rgb_factors = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]]

    fmt = Custom()
    x = torch.ones(1, 4, 2, 2)
    assert torch.equal(fmt.process_in(x), x * 0.5) and torch.equal(fmt.process_out(x), x * 2)
    assert fmt.latent_to_rgb(x).shape == (1, 2, 2, 3)
    assert not isinstance(core_formats.SD15, Custom)


# ---- comfy.model_management ---------------------------------------------------------------------
class _FakeMemory:
    def __init__(self) -> None:
        self.calls: list = []
        self.current_loaded_models = ["m"]

    def load_models_gpu(self, models, **kwargs):  # noqa: ANN001, ANN003, ANN201
        self.calls.append(("load", list(models), kwargs["memory_required"]))

    def free_memory(self, memory_required, device, keep_loaded=()):  # noqa: ANN001, ANN201
        self.calls.append(("free", memory_required, device))
        return ["freed"]

    def unload_all_models(self) -> None:
        self.calls.append(("unload",))

    def get_free_memory(self, dev=None, torch_free_too=False):  # noqa: ANN001, ANN201
        return (5, 3) if torch_free_too else 5


def test_model_management_delegates_to_the_memory_manager(services) -> None:
    services.memory = _FakeMemory()
    mm.load_models_gpu(["a"], memory_required=7)
    mm.load_model_gpu("b")
    assert mm.free_memory(9, "cpu") == ["freed"]
    mm.unload_all_models()
    assert services.memory.calls == [("load", ["a"], 7), ("load", ["b"], 0), ("free", 9, "cpu"), ("unload",)]
    assert mm.get_free_memory() == 5 and mm.get_free_memory(None, True) == (5, 3)
    assert mm.current_loaded_models == ["m"]


def test_model_management_cpu_fallbacks(services) -> None:
    assert services.memory is None
    mm.load_models_gpu([object()])  # comfy-core places models where they are used
    assert mm.free_memory(1, torch.device("cpu")) == []
    mm.unload_all_models()
    assert mm.current_loaded_models == []
    assert mm.intermediate_device() == torch.device("cpu")
    assert mm.text_encoder_device() == mm.get_torch_device()
    assert mm.unet_dtype() == torch.float32 and mm.should_use_fp16() is False
    t = torch.ones(2, dtype=torch.float32)
    out = mm.cast_to_device(t, torch.device("cpu"), torch.bfloat16)
    assert out.dtype == torch.bfloat16 and mm.cast_to_device(t, "cpu", torch.float32) is t
    assert mm.cast_to_device(t, "cpu", torch.float32, copy=True) is not t
    assert mm.OOM_EXCEPTION is torch.cuda.OutOfMemoryError
    assert mm.get_free_memory(torch.device("cpu")) > 0


# ---- comfy.utils ----------------------------------------------------------------------------------
def test_utils_tiled_scale_and_mask() -> None:
    x = torch.rand(1, 3, 20, 24)
    up = comfy.utils.tiled_scale(
        x, lambda t: torch.nn.functional.interpolate(t, scale_factor=2), 8, 8, 2, 2, 3
    )
    assert up.shape == (1, 3, 40, 48)
    assert torch.allclose(up, torch.nn.functional.interpolate(x, scale_factor=2), atol=1e-5)
    assert comfy.utils.get_tiled_scale_steps(24, 20, 8, 8, 2) == 4 * 3
    mask = comfy.utils.reshape_mask(torch.ones(1, 16, 16), torch.Size((2, 4, 8, 8)))
    assert mask.shape == (2, 4, 8, 8) and torch.all(mask == 1)
    sd = {"a.x": torch.ones(2), "b.y": torch.ones(3)}
    assert comfy.utils.calculate_parameters(sd, "a.") == 2
    assert sorted(comfy.utils.state_dict_prefix_replace(dict(sd), {"a.": "z."}, filter_keys=True)) == ["z.x"]


# ---- comfy.cli_args / latent_preview (ComfyUI's preview_method_override_test semantics) ----------
@pytest.fixture
def restore_preview_method() -> Iterator[None]:
    original = args.preview_method
    yield
    args.preview_method = original


def test_latent_preview_method_enum() -> None:
    assert [m.value for m in LatentPreviewMethod] == ["none", "auto", "latent2rgb", "taesd"]
    for value in ("auto", "latent2rgb", "taesd", "none"):
        assert LatentPreviewMethod.from_string(value).value == value
    for invalid in ("invalid", "TAESD", "AUTO", "Latent2RGB", "latent", "", "default"):
        assert LatentPreviewMethod.from_string(invalid) is None
    default = latent_preview.default_preview_method
    assert isinstance(default, LatentPreviewMethod)


@pytest.mark.usefixtures("restore_preview_method")
def test_set_preview_method_semantics() -> None:
    from latent_preview import default_preview_method, set_preview_method

    for value, member in (
        ("taesd", "TAESD"),
        ("latent2rgb", "Latent2RGB"),
        ("auto", "Auto"),
        ("none", "NoPreviews"),
    ):
        set_preview_method(value)
        assert args.preview_method == LatentPreviewMethod[member]
    for restore in (None, "", "default", "invalid_method", "TAESD"):
        set_preview_method("taesd")
        set_preview_method(restore)
        assert args.preview_method == default_preview_method
    for method in LatentPreviewMethod:
        args.preview_method = method
        assert args.preview_method == method


def test_set_preview_method_on_a_running_instance(tmp_path: Path) -> None:
    services = install_services(tmp_path, preview_method="latent2rgb")
    try:
        import comfy.cli_args

        assert latent_preview.default_preview_method == LatentPreviewMethod.Latent2RGB
        latent_preview.set_preview_method("taesd")
        assert comfy.cli_args.args is services.config and services.config.preview_method == "taesd"
        from comfy_core.preview import preview_method

        assert preview_method() == "taesd"
        latent_preview.set_preview_method(None)
        assert services.config.preview_method == LatentPreviewMethod.Latent2RGB == "latent2rgb"
    finally:
        runtime.uninstall()


# ---- comfy.sd / comfy.lora on the reduced SD1 checkpoint ---------------------------------------
@pytest.fixture(scope="module")
def sd_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_base(tmp_path_factory.mktemp("compat_sd"))


def test_load_checkpoint_guess_config(sd_base: Path) -> None:
    install_services(sd_base)
    try:
        with single_thread():
            path = sd_base / "models" / "checkpoints" / CKPT
            out = comfy.sd.load_checkpoint_guess_config(
                str(path), output_vae=True, output_clip=True, embedding_directory=str(sd_base / "models")
            )
            assert len(out) == 4
            model, clip, vae, clipvision = out
            assert isinstance(model, comfy.model_patcher.ModelPatcher) and model.__class__ is ModelPatcher
            assert isinstance(clip, comfy.sd.CLIP) and isinstance(vae, comfy.sd.VAE) and clipvision is None
            assert isinstance(model.get_model_object("model_sampling"), comfy.model_sampling.EPS)
            latent = vae.encode(torch.rand(1, 64, 64, 3))
            assert latent.shape == (1, 4, 8, 8)
            no_vae = comfy.sd.load_checkpoint_guess_config(str(path), output_vae=False, output_clip=False)
            assert no_vae[1] is None and no_vae[2] is None and no_vae[0] is not None
            rebuilt = comfy.sd.VAE(sd=vae.get_sd())
            assert isinstance(rebuilt, comfy.sd.VAE)
            assert torch.allclose(
                rebuilt.encode(torch.full((1, 64, 64, 3), 0.5)), vae.encode(torch.full((1, 64, 64, 3), 0.5))
            )

            # comfy.lora key maps + load_lora, and comfy.sd.load_lora_for_models
            unet_keys = comfy.lora.model_lora_keys_unet(model.model, {})
            clip_keys = comfy.lora.model_lora_keys_clip(clip.cond_stage_model, {})
            unet_target = "diffusion_model.input_blocks.1.1.proj_in.weight"
            lora_name = next(
                k for k, v in unet_keys.items() if v == unet_target and k.startswith("lora_unet_")
            )
            weight = model.model.state_dict()[unet_target]
            rank = 2
            lora_sd = {
                f"{lora_name}.lora_down.weight": torch.ones(rank, weight.shape[1], *weight.shape[2:]) * 0.01,
                f"{lora_name}.lora_up.weight": torch.ones(weight.shape[0], rank, *([1] * (weight.ndim - 2)))
                * 0.01,
            }
            patches = comfy.lora.load_lora(lora_sd, {**unet_keys, **clip_keys})
            assert list(patches) == [unet_target]
            m2, c2 = comfy.sd.load_lora_for_models(model, clip, lora_sd, 1.0, 0.0)
            assert m2 is not model and c2 is clip and unet_target in m2.patches and not model.patches
    finally:
        runtime.uninstall()


def test_sd_loads_unet_and_clip_files(sd_base: Path) -> None:
    install_services(sd_base)
    try:
        with single_thread():
            unet = comfy.sd.load_diffusion_model(
                str(sd_base / "models" / "diffusion_models" / "tiny_sd15_unet.safetensors")
            )
            assert isinstance(unet, ModelPatcher)
            clip = comfy.sd.load_clip([str(sd_base / "models" / "text_encoders" / "tiny_clip_l.safetensors")])
            cond = clip.encode_from_tokens(clip.tokenize("a cat"))
            assert cond.shape[0] == 1 and cond.shape[1] == 77
    finally:
        runtime.uninstall()


def test_model_management_over_comfy_core_memory_manager(services) -> None:
    from comfy_core.config import Config
    from comfy_core.memory.setup import build_memory_manager

    services.memory = build_memory_manager(Config(cpu=True), virtual_mb=64)
    patcher = ModelPatcher(torch.nn.Linear(256, 256), load_device="cpu")
    budget = 64 * 1024 * 1024
    assert mm.get_free_memory() == budget and mm.get_free_memory(None, True) == (budget, budget)
    assert mm.current_loaded_models == []
    mm.load_models_gpu([patcher])
    weights = 256 * 256 * 4 + 256 * 4
    assert len(mm.current_loaded_models) == 1 and len(mm.loaded_models()) == 1
    assert mm.get_free_memory() == budget - weights
    mm.free_memory(budget, mm.get_torch_device())
    assert mm.current_loaded_models == [] and mm.get_free_memory() == budget
    mm.load_model_gpu(patcher)
    assert len(mm.current_loaded_models) == 1
    mm.unload_all_models()
    assert mm.current_loaded_models == []
