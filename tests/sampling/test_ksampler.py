"""KSampler step selection (denoise, start/end steps), noise handling, inpainting masks and latent formats."""

from __future__ import annotations

import pytest
import torch

from comfy_core.sampling.ksampler import KSampler, common_ksampler, sample, sample_custom, sampler_object
from comfy_core.sampling.noise import prepare_noise
from comfy_core.sampling.schedulers import calculate_sigmas
from tests.sampling.toy_models import GaussianModel, cond


def test_denoise_takes_the_tail_of_a_longer_schedule():
    model = GaussianModel()
    ks = KSampler(model, steps=10, sampler="euler", scheduler="normal", denoise=0.45)
    full = calculate_sigmas(model.model_sampling, "normal", int(10 / 0.45))
    assert len(ks.sigmas) == 11 and torch.equal(ks.sigmas, full[-11:])
    assert len(KSampler(model, steps=10, denoise=0.0).sigmas) == 0
    assert torch.equal(
        KSampler(model, steps=10, scheduler="karras", denoise=1.0).sigmas,
        calculate_sigmas(model.model_sampling, "karras", 10),
    )


def test_unknown_names_fall_back_like_comfyui():
    ks = KSampler(GaussianModel(), steps=4, sampler="nope", scheduler="nope")
    assert (ks.sampler, ks.scheduler) == ("euler", "simple")


def test_start_and_end_steps():
    model = GaussianModel()
    latent = torch.zeros(1, 4, 8, 8)
    noise = prepare_noise(latent, 3)
    common = dict(cfg=1.0, sampler_name="euler", scheduler="karras", positive=cond(1.0), negative=cond(0.0))
    sample(model, noise, 10, latent_image=latent, last_step=4, force_full_denoise=True, **common)
    sigmas = [float(c["sigma"][0]) for c in model.calls]
    full = calculate_sigmas(model.model_sampling, "karras", 10)
    assert sigmas == [float(s) for s in full[:4]]  # 4 steps, the last one to sigma 0
    model.calls.clear()
    sample(model, noise, 10, latent_image=latent, start_step=6, **common)
    assert [float(c["sigma"][0]) for c in model.calls] == [float(s) for s in full[6:10]]
    out = sample(model, noise, 10, latent_image=latent + 1, start_step=10, **common)
    assert torch.equal(out, latent + 1)  # nothing left to do: the latent comes back


def test_split_sampling_equals_one_run_for_euler():
    """KSamplerAdvanced chaining: end_at_step + leftover noise, then add_noise=disable from that step."""
    latent = {"samples": torch.zeros(1, 4, 8, 8)}
    eul = ("euler", "karras", cond(1.0), cond(0.0))
    whole = common_ksampler(GaussianModel(), 11, 10, 1.0, *eul, latent)["samples"]
    first = common_ksampler(GaussianModel(), 11, 10, 1.0, *eul, latent, last_step=5)
    second = common_ksampler(GaussianModel(), 11, 10, 1.0, *eul, first, disable_noise=True, start_step=5)
    assert torch.allclose(whole, second["samples"], atol=1e-5)


def test_noise_mask_keeps_the_unmasked_latent():
    latent = torch.full((1, 4, 8, 8), 3.0)
    mask = torch.zeros(1, 8, 8)
    mask[:, :, 4:] = 1.0
    out = common_ksampler(
        GaussianModel(),
        2,
        6,
        1.0,
        "euler_ancestral",
        "karras",
        cond(1.0),
        cond(0.0),
        {"samples": latent, "noise_mask": mask, "batch_index": [0]},
    )
    assert torch.equal(out["samples"][..., :4], latent[..., :4])
    assert not torch.allclose(out["samples"][..., 4:], latent[..., 4:], atol=0.5)
    assert out["noise_mask"] is mask and out["batch_index"] == [0]


def test_img2img_uses_latent_format_and_denoise():
    class Scaled(GaussianModel):
        def process_latent_in(self, latent):
            return latent * 0.5

        def process_latent_out(self, latent):
            return latent / 0.5

    latent = torch.full((1, 4, 8, 8), 2.0)
    model = Scaled()
    out = common_ksampler(
        model, 0, 20, 1.0, "euler", "karras", cond(1.0), cond(0.0), {"samples": latent}, denoise=0.01
    )
    # tiny denoise: almost the input, through process_latent_in (x0.5) and out (x2) and pulled towards mu
    assert abs(float(out["samples"].mean()) - 2.0) < 0.1
    first_sigma = float(model.calls[0]["sigma"][0])
    assert first_sigma < 0.1


def test_disable_noise_and_ddim_inpaint_noise():
    latent = {"samples": torch.full((1, 4, 8, 8), 0.3)}
    a = common_ksampler(
        GaussianModel(), 1, 5, 1.0, "euler", "karras", cond(1.0), cond(0.0), latent, disable_noise=True
    )
    b = common_ksampler(
        GaussianModel(), 2, 5, 1.0, "euler", "karras", cond(1.0), cond(0.0), latent, disable_noise=True
    )
    assert torch.equal(a["samples"], b["samples"])  # the seed does not matter without noise
    assert sampler_object("ddim").inpaint_options == {"random": True}
    mask = torch.ones(1, 8, 8)
    mask[:, :4] = 0.0
    c = common_ksampler(
        GaussianModel(),
        5,
        5,
        1.0,
        "ddim",
        "karras",
        cond(1.0),
        cond(0.0),
        {"samples": latent["samples"], "noise_mask": mask},
    )
    assert torch.equal(c["samples"][:, :, :4], latent["samples"][:, :, :4])


def test_sample_custom_with_explicit_sigmas():
    model = GaussianModel()
    latent = torch.zeros(1, 4, 8, 8)
    sigmas = torch.tensor([14.6146, 2.0, 0.5, 0.0])
    out = sample_custom(
        model,
        prepare_noise(latent, 4),
        1.0,
        sampler_object("heun"),
        sigmas,
        cond(1.0),
        cond(0.0),
        latent,
        seed=4,
    )
    assert out.shape == latent.shape and out.dtype == torch.float32
    assert [float(c["sigma"][0]) for c in model.calls] == pytest.approx([14.6146, 2.0, 2.0, 0.5, 0.5])
    assert torch.equal(
        sample_custom(
            model, latent, 1.0, sampler_object("euler"), torch.tensor([]), cond(1.0), cond(0.0), latent + 2
        ),
        latent + 2,
    )
