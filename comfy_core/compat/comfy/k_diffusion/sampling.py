"""ComfyUI's `comfy.k_diffusion.sampling`: the k-diffusion-style sampler functions, sigma schedules and
noise samplers. Packs add their own `sample_<name>` functions here (setattr); `comfy.samplers.ksampler`
finds them by name."""

from __future__ import annotations

from typing import Any

from comfy_core.sampling.dpm_adaptive import (
    DPMSolver,
    PIDStepSizeController,
    sample_dpm_adaptive,
    sample_dpm_fast,
)
from comfy_core.sampling.dpm_solvers import (
    sample_dpmpp_2m,
    sample_dpmpp_2m_cfg_pp,
    sample_dpmpp_2m_sde,
    sample_dpmpp_2m_sde_gpu,
    sample_dpmpp_2m_sde_heun,
    sample_dpmpp_2m_sde_heun_gpu,
    sample_dpmpp_2s_ancestral,
    sample_dpmpp_2s_ancestral_cfg_pp,
    sample_dpmpp_3m_sde,
    sample_dpmpp_3m_sde_gpu,
    sample_dpmpp_sde,
    sample_dpmpp_sde_gpu,
)
from comfy_core.sampling.exp_sde import (
    sample_er_sde,
    sample_exp_heun_2_x0,
    sample_exp_heun_2_x0_sde,
    sample_sa_solver,
    sample_sa_solver_pece,
    sample_seeds_2,
    sample_seeds_3,
)
from comfy_core.sampling.k_common import (
    append_dims,
    get_ancestral_step,
    to_d,
)
from comfy_core.sampling.k_samplers import (
    linear_multistep_coeff,
    sample_ddpm,
    sample_dpm_2,
    sample_dpm_2_ancestral,
    sample_euler,
    sample_euler_ancestral,
    sample_euler_ancestral_cfg_pp,
    sample_euler_ancestral_rf,
    sample_euler_cfg_pp,
    sample_heun,
    sample_heunpp2,
    sample_lcm,
    sample_lms,
)
from comfy_core.sampling.multistep import (
    sample_deis,
    sample_gradient_estimation,
    sample_gradient_estimation_cfg_pp,
    sample_ipndm,
    sample_ipndm_v,
    sample_res_multistep,
    sample_res_multistep_ancestral,
    sample_res_multistep_ancestral_cfg_pp,
    sample_res_multistep_cfg_pp,
)
from comfy_core.sampling.noise import (
    BatchedBrownianTree,
    BrownianTreeNoiseSampler,
    default_noise_sampler,
)
from comfy_core.sampling.schedulers import (
    append_zero,
    get_sigmas_exponential,
    get_sigmas_karras,
    get_sigmas_laplace,
    get_sigmas_polyexponential,
    get_sigmas_vp,
)

__all__ = [
    "BatchedBrownianTree",
    "BrownianTreeNoiseSampler",
    "DPMSolver",
    "PIDStepSizeController",
    "append_dims",
    "append_zero",
    "default_noise_sampler",
    "get_ancestral_step",
    "get_sigmas_exponential",
    "get_sigmas_karras",
    "get_sigmas_laplace",
    "get_sigmas_polyexponential",
    "get_sigmas_vp",
    "linear_multistep_coeff",
    "sample_ddpm",
    "sample_deis",
    "sample_dpm_2",
    "sample_dpm_2_ancestral",
    "sample_dpm_adaptive",
    "sample_dpm_fast",
    "sample_dpmpp_2m",
    "sample_dpmpp_2m_cfg_pp",
    "sample_dpmpp_2m_sde",
    "sample_dpmpp_2m_sde_gpu",
    "sample_dpmpp_2m_sde_heun",
    "sample_dpmpp_2m_sde_heun_gpu",
    "sample_dpmpp_2s_ancestral",
    "sample_dpmpp_2s_ancestral_cfg_pp",
    "sample_dpmpp_3m_sde",
    "sample_dpmpp_3m_sde_gpu",
    "sample_dpmpp_sde",
    "sample_dpmpp_sde_gpu",
    "sample_er_sde",
    "sample_euler",
    "sample_euler_ancestral",
    "sample_euler_ancestral_cfg_pp",
    "sample_euler_ancestral_rf",
    "sample_euler_cfg_pp",
    "sample_exp_heun_2_x0",
    "sample_exp_heun_2_x0_sde",
    "sample_gradient_estimation",
    "sample_gradient_estimation_cfg_pp",
    "sample_heun",
    "sample_heunpp2",
    "sample_ipndm",
    "sample_ipndm_v",
    "sample_lcm",
    "sample_lms",
    "sample_res_multistep",
    "sample_res_multistep_ancestral",
    "sample_res_multistep_ancestral_cfg_pp",
    "sample_res_multistep_cfg_pp",
    "sample_sa_solver",
    "sample_sa_solver_pece",
    "sample_seeds_2",
    "sample_seeds_3",
    "to_d",
    "trange",
]


def trange(*args: Any, disable: bool | None = None, **kwargs: Any) -> Any:
    """tqdm's trange when available (k-diffusion's samplers loop over it), else range."""
    try:
        from tqdm.auto import trange as tqdm_trange
    except ImportError:
        return range(*args)
    return tqdm_trange(*args, disable=disable, **kwargs)
