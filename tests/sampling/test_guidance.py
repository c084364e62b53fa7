"""CFG batching, the cfg == 1 skip, area/mask weighting, timestep ranges, hooks and the GUIDER objects."""

from __future__ import annotations

import torch

from comfy_core.sampling.cond_batch import calc_cond_batch
from comfy_core.sampling.guiders import BasicGuider, CFGGuider, DualCFGGuider, process_conds
from comfy_core.sampling.ksampler import common_ksampler, sampler_object
from tests.sampling.toy_models import GaussianModel, cond

SIGMA = torch.tensor([2.0])


def prepared(model, **lists):
    g = CFGGuider(model)
    g.inner_set_conds(lists)
    conds = {k: [c.copy() for c in v] for k, v in g.original_conds.items()}
    x = torch.zeros(1, 4, 32, 32)
    return process_conds(model, x, conds, "cpu", x, None, 0)


def posterior(model, x, mu):
    return model.posterior_mean(x, SIGMA, torch.tensor(float(mu)))


def test_cond_and_uncond_run_in_one_batch_uncond_first():
    model = GaussianModel()
    common_ksampler(
        model, 0, 4, 8.0, "euler", "karras", cond(1.0), cond(0.0), {"samples": torch.zeros(2, 4, 8, 8)}
    )
    assert len(model.calls) == 4
    assert all(c["batch"] == 4 and c["cond_or_uncond"] == [1, 0] for c in model.calls)
    assert torch.equal(model.calls[0]["mu"][:2], torch.zeros(2, 4))  # uncond half first, like ComfyUI


def test_cfg_one_skips_the_unconditional_pass():
    model = GaussianModel()
    common_ksampler(
        model, 0, 4, 1.0, "euler", "karras", cond(1.0), cond(0.0), {"samples": torch.zeros(2, 4, 8, 8)}
    )
    assert [c["batch"] for c in model.calls] == [2] * 4
    assert all(c["cond_or_uncond"] == [0] for c in model.calls)


def test_cfg_formula_on_one_evaluation():
    model = GaussianModel()
    g = CFGGuider(model)
    g.set_conds(cond(1.0), cond(-1.0))
    g.set_cfg(3.0)
    g.inner_model = model
    x = torch.randn(1, 4, 8, 8)
    g.conds = process_conds(model, x, {k: [c.copy() for c in v] for k, v in g.original_conds.items()}, "cpu")
    out = g(x, SIGMA)
    pos, neg = posterior(model, x, 1.0), posterior(model, x, -1.0)
    assert torch.allclose(out, neg + (pos - neg) * 3.0, atol=1e-6)


def test_token_lengths_batch_up_to_four_times_padding():
    model = GaussianModel()
    common_ksampler(
        model,
        0,
        2,
        5.0,
        "euler",
        "karras",
        cond(1.0, tokens=77),
        cond(0.0, tokens=154),
        {"samples": torch.zeros(1, 4, 8, 8)},
    )
    assert [c["batch"] for c in model.calls] == [2, 2]
    model = GaussianModel()
    common_ksampler(
        model,
        0,
        2,
        5.0,
        "euler",
        "karras",
        cond(1.0, tokens=77),
        cond(0.0, tokens=385),
        {"samples": torch.zeros(1, 4, 8, 8)},
    )
    assert [c["batch"] for c in model.calls] == [1, 1, 1, 1]


def test_area_conditioning_weights_and_edge_ramp():
    model = GaussianModel()
    positive = cond(0.0) + [[torch.full((1, 1, 4), 2.0), {"area": (32, 16, 0, 0), "strength": 1.0}]]
    conds = prepared(model, positive=positive)
    x = torch.randn(1, 4, 32, 32)
    out = calc_cond_batch(model, [conds["positive"]], x, SIGMA, {})[0]
    d0, d2 = posterior(model, x, 0.0), posterior(model, x, 2.0)
    assert torch.allclose(out[..., :8], (d0 + d2)[..., :8] / 2, atol=1e-6)  # inside, past the ramp
    assert torch.allclose(out[..., 16:], d0[..., 16:], atol=1e-6)  # outside the area
    # the ramp is min(8, width // 4) = 4 columns: the area's last column gets 1/4 of its weight
    w = 1.0 / 4
    assert torch.allclose(out[..., 15], ((d0 + w * d2) / (1 + w))[..., 15], atol=1e-6)
    assert [c["shape"] for c in model.calls] == [(1, 4, 32, 32), (1, 4, 32, 16)]


def test_percentage_area_and_opposite_area_for_uncond():
    model = GaussianModel()
    positive = [[torch.full((1, 1, 4), 2.0), {"area": ("percentage", 0.5, 0.25, 0.5, 0.0)}]]
    conds = prepared(model, positive=positive, negative=cond(0.0))
    assert conds["positive"][0]["area"] == (16, 8, 16, 0)
    assert [c.get("area") for c in conds["negative"]] == [None, (16, 8, 16, 0)]


def test_mask_conditioning_and_set_area_to_bounds():
    model = GaussianModel()
    mask = torch.zeros(1, 64, 64)
    mask[:, :32] = 1.0  # top half, given at a higher resolution: resized bilinearly to the latent
    positive = cond(0.0) + [
        [torch.full((1, 1, 4), 2.0), {"mask": mask, "mask_strength": 1.0, "strength": 1.0}]
    ]
    conds = prepared(model, positive=positive)
    x = torch.randn(1, 4, 32, 32)
    out = calc_cond_batch(model, [conds["positive"]], x, SIGMA, {})[0]
    d0, d2 = posterior(model, x, 0.0), posterior(model, x, 2.0)
    assert torch.allclose(out[:, :, :15], ((d0 + d2) / 2)[:, :, :15], atol=1e-6)
    assert torch.allclose(out[:, :, 17:], d0[:, :, 17:], atol=1e-6)

    bounded = [[torch.full((1, 1, 4), 2.0), {"mask": mask, "set_area_to_bounds": True}]]
    assert prepared(model, positive=bounded)["positive"][0]["area"] == (16, 32, 0, 0)
    tiny = torch.zeros(1, 32, 32)
    tiny[:, 3, 5] = 1.0
    assert prepared(model, positive=[[torch.zeros(1, 1, 4), {"mask": tiny, "set_area_to_bounds": True}]])[
        "positive"
    ][0]["area"] == (8, 8, 3, 5)


def test_timestep_range_limits_a_cond_to_part_of_the_schedule():
    model = GaussianModel()
    positive = cond(0.0) + [[torch.full((1, 1, 4), 5.0), {"start_percent": 0.5, "end_percent": 1.0}]]
    common_ksampler(
        model, 0, 10, 1.0, "euler", "normal", positive, cond(0.0), {"samples": torch.zeros(1, 4, 8, 8)}
    )
    limit = model.model_sampling.percent_to_sigma(0.5)
    for call in model.calls:
        has_late_cond = bool((call["mu"] == 5.0).any())
        assert has_late_cond == (float(call["sigma"][0]) <= limit)
    assert any(bool((c["mu"] == 5.0).any()) for c in model.calls)


def test_cfg_hooks():
    seen = []

    def cfg_fn(args):  # RescaleCFG-style: works on noise predictions x - denoised
        seen.append(("cfg", float(args["cond_scale"])))
        return args["uncond"] + (args["cond"] - args["uncond"]) * args["cond_scale"]

    def post(args):
        seen.append(("post", args["denoised"].shape))
        return args["denoised"] * 0 + 0.5

    model = GaussianModel()
    model.model_options = {"sampler_cfg_function": cfg_fn, "sampler_post_cfg_function": [post]}
    out = common_ksampler(
        model, 0, 3, 4.0, "euler", "karras", cond(1.0), cond(0.0), {"samples": torch.zeros(1, 4, 8, 8)}
    )
    assert seen == [("cfg", 4.0), ("post", (1, 4, 8, 8))] * 3
    assert torch.allclose(out["samples"], torch.full((1, 4, 8, 8), 0.5))


def run_guider(guider, steps=4):
    noise = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    sigmas = torch.tensor([14.6146, 3.0, 0.8, 0.2, 0.0])[: steps + 1]
    return guider.sample(noise, torch.zeros(1, 4, 8, 8), sampler_object("euler"), sigmas, seed=1)


def test_basic_guider_is_conditional_only():
    model = GaussianModel()
    basic = BasicGuider(model)
    basic.set_conds(cond(1.0))
    out = run_guider(basic)
    assert [c["batch"] for c in model.calls] == [1] * 4
    ref = CFGGuider(GaussianModel())
    ref.set_conds(cond(1.0), cond(-3.0))
    ref.set_cfg(1.0)
    assert torch.equal(out, run_guider(ref))


def test_dual_cfg_guider_formulas():
    model = GaussianModel()
    x = torch.randn(1, 4, 8, 8)
    d = {mu: posterior(model, x, mu) for mu in (1.0, 0.5, -1.0)}
    for nested in (False, True):
        g = DualCFGGuider(model)
        g.set_conds(cond(1.0), cond(0.5), cond(-1.0))
        g.set_cfg(2.0, 3.0, nested=nested)
        g.inner_model = model
        g.conds = process_conds(
            model, x, {k: [c.copy() for c in v] for k, v in g.original_conds.items()}, "cpu"
        )
        assert g.conds["middle"][0]["prompt_type"] == "negative"
        out = g(x, SIGMA)
        if nested:
            text = d[0.5] + (d[1.0] - d[0.5]) * 2.0
            ref = d[-1.0] + 3.0 * (text - d[-1.0])
        else:
            ref = d[-1.0] + (d[0.5] - d[-1.0]) * 3.0 + (d[1.0] - d[0.5]) * 2.0
        assert torch.allclose(out, ref, atol=1e-5)
