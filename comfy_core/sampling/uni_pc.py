"""UniPC: unified predictor-corrector multistep sampler (Zhao et al. 2023, "UniPC: A Unified
Predictor-Corrector Framework for Fast Sampling of Diffusion Models", arXiv:2302.04867), B(h) = h
("bh1") or e^h - 1 ("bh2"), data prediction, in the variance-preserving frame derived from sigma.

Follows ComfyUI's use: time is sigma itself, the final sigma 0 is replaced by 0.001, order is
min(3, steps - 1), the last step runs without corrector.
"""

from __future__ import annotations

import torch


def _log_alpha(sigma: torch.Tensor) -> torch.Tensor:
    return 0.5 * torch.log(1 / ((sigma * sigma) + 1))


def _alpha(sigma: torch.Tensor) -> torch.Tensor:
    return torch.exp(_log_alpha(sigma))


def _std(sigma: torch.Tensor) -> torch.Tensor:
    return torch.sqrt(1.0 - torch.exp(2.0 * _log_alpha(sigma)))


def _lambda(sigma: torch.Tensor) -> torch.Tensor:
    log_mean = _log_alpha(sigma)
    log_std = 0.5 * torch.log(1.0 - torch.exp(2.0 * log_mean))
    return log_mean - log_std


def _expand(v: torch.Tensor, dims: int) -> torch.Tensor:
    return v[(...,) + (None,) * (dims - 1)]


class _UniPC:
    def __init__(self, model, extra_args: dict, variant: str) -> None:
        if variant not in ("bh1", "bh2"):
            raise NotImplementedError(variant)
        self.model = model
        self.extra_args = extra_args
        self.variant = variant

    def data_prediction(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x0 from the eps the k-diffusion denoiser implies, in the VP frame x_vp = x / sqrt(1 + sigma^2)."""
        if t.reshape((-1,)).shape[0] == 1:
            t = t.expand(x.shape[0])
        sigma = t.view(t.shape[:1] + (1,) * (x.ndim - 1))
        scaled = x * ((sigma**2 + 1.0) ** 0.5)
        eps = (scaled - self.model(scaled, t, **self.extra_args)) / sigma
        dims = x.dim()
        return (x - _expand(_std(t), dims) * eps) / _expand(_alpha(t), dims)

    def update(self, x, model_prev_list, t_prev_list, t, order, use_corrector=True):
        if len(t.shape) == 0:
            t = t.view(-1)
        dims = x.dim()
        t_prev_0 = t_prev_list[-1]
        lambda_prev_0 = _lambda(t_prev_0)
        lambda_t = _lambda(t)
        model_prev_0 = model_prev_list[-1]
        sigma_prev_0, sigma_t = _std(t_prev_0), _std(t)
        alpha_t = torch.exp(_log_alpha(t))
        h = lambda_t - lambda_prev_0

        rks: list[float] = []
        d1s: list[torch.Tensor] = []
        for i in range(1, order):
            lambda_prev_i = _lambda(t_prev_list[-(i + 1)])
            rk = ((lambda_prev_i - lambda_prev_0) / h)[0]
            rks.append(float(rk))
            d1s.append((model_prev_list[-(i + 1)] - model_prev_0) / rk)
        rks.append(1.0)
        rks_t = torch.tensor(rks, device=x.device)

        hh = -h[0]
        h_phi_1 = torch.expm1(hh)
        h_phi_k = h_phi_1 / hh - 1
        b_h = hh if self.variant == "bh1" else torch.expm1(hh)
        rows, b = [], []
        factorial_i = 1
        for i in range(1, order + 1):
            rows.append(torch.pow(rks_t, i - 1))
            b.append(float(h_phi_k * factorial_i / b_h))
            factorial_i *= i + 1
            h_phi_k = h_phi_k / hh - 1 / factorial_i
        R = torch.stack(rows)
        b_t = torch.tensor(b, device=x.device)

        D1s = torch.stack(d1s, dim=1) if d1s else None
        rhos_p = None
        if D1s is not None:
            rhos_p = (
                torch.tensor([0.5], device=b_t.device)
                if order == 2
                else torch.linalg.solve(R[:-1, :-1], b_t[:-1])
            )
        rhos_c = None
        if use_corrector:
            rhos_c = torch.tensor([0.5], device=b_t.device) if order == 1 else torch.linalg.solve(R, b_t)

        x_t_ = _expand(sigma_t / sigma_prev_0, dims) * x - _expand(alpha_t * h_phi_1, dims) * model_prev_0
        pred_res = torch.tensordot(D1s, rhos_p, dims=([1], [0])) if D1s is not None else 0
        x_t = x_t_ - _expand(alpha_t * b_h, dims) * pred_res
        model_t = None
        if use_corrector:
            model_t = self.data_prediction(x_t, t)
            corr_res = torch.tensordot(D1s, rhos_c[:-1], dims=([1], [0])) if D1s is not None else 0
            d1_t = model_t - model_prev_0
            x_t = x_t_ - _expand(alpha_t * b_h, dims) * (corr_res + rhos_c[-1] * d1_t)
        return x_t, model_t

    def sample(self, x, timesteps, order, callback=None):
        steps = len(timesteps) - 1
        model_prev_list: list = []
        t_prev_list: list = []
        for step_index in range(steps):
            if step_index == 0:
                vec_t = timesteps[0].expand(x.shape[0])
                model_prev_list = [self.data_prediction(x, vec_t)]
                t_prev_list = [vec_t]
            elif step_index < order:
                vec_t = timesteps[step_index].expand(x.shape[0])
                x, model_x = self.update(
                    x, model_prev_list, t_prev_list, vec_t, step_index, use_corrector=True
                )
                if model_x is None:
                    model_x = self.data_prediction(x, vec_t)
                model_prev_list.append(model_x)
                t_prev_list.append(vec_t)
            else:
                extra_final_step = 1 if step_index == steps - 1 else 0
                for step in range(step_index, step_index + 1 + extra_final_step):
                    vec_t = timesteps[step].expand(x.shape[0])
                    step_order = min(order, steps + 1 - step)
                    x, model_x = self.update(
                        x, model_prev_list, t_prev_list, vec_t, step_order, use_corrector=step != steps
                    )
                    for i in range(order - 1):
                        t_prev_list[i] = t_prev_list[i + 1]
                        model_prev_list[i] = model_prev_list[i + 1]
                    t_prev_list[-1] = vec_t
                    if step < steps:
                        if model_x is None:
                            model_x = self.data_prediction(x, vec_t)
                        model_prev_list[-1] = model_x
            if callback is not None:
                sigma = timesteps[step_index]
                callback(
                    {
                        "x": x,
                        "i": step_index,
                        "sigma": sigma,
                        "sigma_hat": sigma,
                        "denoised": model_prev_list[-1],
                    }
                )
        return x


@torch.no_grad()
def sample_unipc(model, noise, sigmas, extra_args=None, callback=None, disable=False, variant="bh1"):
    """UniPC-bh1 multistep (order 3, lower order at the end).

    As in ComfyUI, a final sigma of 0 is replaced by 0.001 *in the caller's tensor*: the KSAMPLER object
    then undoes the noise scaling at 0.001, which matters for flow models."""
    extra_args = {} if extra_args is None else extra_args
    if sigmas[-1] == 0:
        timesteps = sigmas[:]
        timesteps[-1] = 0.001
    else:
        timesteps = sigmas.clone()
    x = noise / torch.sqrt(1.0 + timesteps[0] ** 2.0)
    order = min(3, len(timesteps) - 2)
    x = _UniPC(model, extra_args, variant).sample(x, timesteps, order, callback=callback)
    x /= _alpha(timesteps[-1])
    return x


@torch.no_grad()
def sample_unipc_bh2(model, noise, sigmas, extra_args=None, callback=None, disable=False):
    """UniPC with B(h) = e^h - 1."""
    return sample_unipc(model, noise, sigmas, extra_args, callback, disable, variant="bh2")
