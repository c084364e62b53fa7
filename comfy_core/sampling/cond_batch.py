"""Turning CONDITIONING lists into batched model calls (ComfyUI `samplers.py` semantics).

Per step, every active conditioning entry (inside its start/end range) becomes (input crop, weight
`mult`, model inputs, area). Entries whose inputs can be concatenated run in one model call, the
predictions are accumulated per cond list with their weights, and divided by the summed weights:

    out = sum_k mult_k * D_k(x[area_k]) / (1e-37 + sum_k mult_k)

`mult` is strength * mask (times mask_strength), or for an area without mask a ramp of up to 8 latent
pixels at the area's inner edges so neighbouring areas blend.
"""

from __future__ import annotations

import collections
import math
import uuid
from typing import Any

import torch

COND = 0
UNCOND = 1

CondObj = collections.namedtuple(
    "CondObj", ["input_x", "mult", "conditioning", "area", "control", "patches", "uuid", "hooks"]
)


def convert_cond(cond: list) -> list[dict]:
    """CONDITIONING [[tensor, dict], ...] -> list of dicts with `cross_attn`, `model_conds`, `uuid`."""
    out = []
    for c in cond:
        temp = c[1].copy()
        model_conds = temp.get("model_conds", {})
        if c[0] is not None:
            temp["cross_attn"] = c[0]
        temp["model_conds"] = model_conds
        temp["uuid"] = uuid.uuid4()
        out.append(temp)
    return out


def add_area_dims(area: list[int], num_dims: int) -> list[int]:
    while (len(area) // 2) < num_dims:
        area = [2147483648] + area[: len(area) // 2] + [0] + area[len(area) // 2 :]
    return area


def get_area_and_mult(conds: dict, x_in: torch.Tensor, timestep_in: torch.Tensor) -> CondObj | None:
    dims = tuple(x_in.shape[2:])
    area = None
    strength = 1.0
    if "timestep_start" in conds and timestep_in[0] > conds["timestep_start"]:
        return None
    if "timestep_end" in conds and timestep_in[0] < conds["timestep_end"]:
        return None
    if "area" in conds:
        area = add_area_dims(list(conds["area"]), len(dims))
        if (len(area) // 2) > len(dims):
            area = area[: len(dims)] + area[len(area) // 2 : (len(area) // 2) + len(dims)]
    if "strength" in conds:
        strength = conds["strength"]

    input_x = x_in
    if area is not None:
        for i in range(len(dims)):
            area[i] = min(input_x.shape[i + 2] - area[len(dims) + i], area[i])
            input_x = input_x.narrow(i + 2, area[len(dims) + i], area[i])

    if "mask" in conds:
        mask_strength = conds.get("mask_strength", 1.0)
        mask = conds["mask"][: input_x.shape[0]]
        if area is not None:
            for i in range(len(dims)):
                mask = mask.narrow(i + 1, area[len(dims) + i], area[i])
        mask = mask * mask_strength
        mask = mask.unsqueeze(1).repeat(
            (input_x.shape[0] // mask.shape[0], input_x.shape[1]) + (1,) * (mask.ndim - 1)
        )
    else:
        mask = torch.ones_like(input_x)
    mult = mask * strength

    if "mask" not in conds and area is not None:
        fuzz = 8
        for i in range(len(dims)):
            rr = min(fuzz, mult.shape[2 + i] // 4)
            if area[len(dims) + i] != 0:
                for t in range(rr):
                    m = mult.narrow(i + 2, t, 1)
                    m *= (1.0 / rr) * (t + 1)
            if (area[i] + area[len(dims) + i]) < x_in.shape[i + 2]:
                for t in range(rr):
                    m = mult.narrow(i + 2, area[i] - 1 - t, 1)
                    m *= (1.0 / rr) * (t + 1)

    conditioning = {}
    for name, value in conds["model_conds"].items():
        conditioning[name] = value.process_cond(batch_size=x_in.shape[0], area=area)
    return CondObj(
        input_x, mult, conditioning, area, conds.get("control"), None, conds.get("uuid"), conds.get("hooks")
    )


def _cond_equal_size(c1: dict, c2: dict) -> bool:
    if c1 is c2:
        return True
    if c1.keys() != c2.keys():
        return False
    return all(c1[k].can_concat(c2[k]) for k in c1)


def can_concat_cond(c1: CondObj, c2: CondObj) -> bool:
    if c1.input_x.shape != c2.input_x.shape:
        return False
    for a, b in ((c1.control, c2.control), (c1.patches, c2.patches)):
        if (a is None) != (b is None) or (a is not None and a is not b):
            return False
    return _cond_equal_size(c1.conditioning, c2.conditioning)


def cond_cat(c_list: list[dict]) -> dict:
    temp: dict[str, list] = {}
    for x in c_list:
        for k in x:
            temp.setdefault(k, []).append(x[k])
    return {k: conds[0].concat(conds[1:]) for k, conds in temp.items()}


def _finalize_default_conds(
    to_run: list, default_conds: list[list[dict]], x_in: torch.Tensor, timestep: torch.Tensor
) -> None:
    """Entries marked `default` fill whatever weight the other entries of their list leave uncovered."""
    default_mults = [torch.ones_like(x_in) for _ in default_conds]
    for cond_obj, i in to_run:
        if len(default_conds[i]) == 0:
            continue
        if cond_obj.area is not None:
            cur = default_mults[i]
            dims = len(cond_obj.area) // 2
            for d in range(dims):
                cur = cur.narrow(d + 2, cond_obj.area[d + dims], cond_obj.area[d])
            cur -= cond_obj.mult
        else:
            default_mults[i] -= cond_obj.mult
    for i, mult in enumerate(default_mults):
        if len(default_conds[i]) == 0:
            continue
        torch.nn.functional.relu(mult, inplace=True)
        if torch.max(mult) == 0.0:
            continue
        for x in default_conds[i]:
            p = get_area_and_mult(x, x_in, timestep)
            if p is not None:
                to_run.append((p._replace(mult=mult), i))


def _batch_limit(
    model: Any, to_run: list, to_batch_temp: list[int], first_shape: torch.Size, model_options: dict
) -> list[int]:
    """ComfyUI halves the candidate batch until memory_required * 1.5 fits the free memory."""
    free_memory = model_options.get("sampler_free_memory")
    memory_required = getattr(model, "memory_required", None)
    if free_memory is None or memory_required is None:
        return to_batch_temp
    if callable(free_memory):
        free_memory = free_memory()
    for i in range(1, len(to_batch_temp) + 1):
        batch_amount = to_batch_temp[: len(to_batch_temp) // i]
        input_shape = [len(batch_amount) * first_shape[0]] + list(first_shape)[1:]
        if memory_required(input_shape) * 1.5 < free_memory:
            return batch_amount
    return to_batch_temp[:1]


def calc_cond_batch(
    model: Any,
    conds: list[list[dict] | None],
    x_in: torch.Tensor,
    timestep: torch.Tensor,
    model_options: dict,
) -> list[torch.Tensor]:
    """Weighted predictions for each cond list in `conds` (None lists give zeros)."""
    out_conds = []
    out_counts = []
    to_run: list[tuple[CondObj, int]] = []
    default_conds: list[list[dict]] = []
    has_default = False
    for i, cond in enumerate(conds):
        out_conds.append(torch.zeros_like(x_in))
        out_counts.append(torch.ones_like(x_in) * 1e-37)
        defaults = []
        for x in cond or []:
            if "default" in x:
                defaults.append(x)
                has_default = True
                continue
            p = get_area_and_mult(x, x_in, timestep)
            if p is not None:
                to_run.append((p, i))
        default_conds.append(defaults)
    if has_default:
        _finalize_default_conds(to_run, default_conds, x_in, timestep)

    while len(to_run) > 0:
        first = to_run[0]
        first_shape = first[0].input_x.shape
        to_batch_temp = [k for k in range(len(to_run)) if can_concat_cond(to_run[k][0], first[0])]
        to_batch_temp.reverse()
        to_batch = _batch_limit(model, to_run, to_batch_temp, first_shape, model_options)

        input_x, mult, c, cond_or_uncond, uuids, area = [], [], [], [], [], []
        control = None
        for k in to_batch:
            p, idx = to_run.pop(k)
            input_x.append(p.input_x)
            mult.append(p.mult)
            c.append(p.conditioning)
            area.append(p.area)
            cond_or_uncond.append(idx)
            uuids.append(p.uuid)
            control = p.control

        batch_chunks = len(cond_or_uncond)
        input_x = torch.cat(input_x)
        c = cond_cat(c)
        timestep_ = torch.cat([timestep] * batch_chunks)

        transformer_options = copy_nested_dicts(model_options.get("transformer_options", {}))
        transformer_options["cond_or_uncond"] = cond_or_uncond[:]
        transformer_options["uuids"] = uuids[:]
        transformer_options["sigmas"] = timestep
        c["transformer_options"] = transformer_options
        if control is not None:
            c["control"] = control.get_control(
                input_x, timestep_, c, len(cond_or_uncond), transformer_options
            )

        if "model_function_wrapper" in model_options:
            args = {
                "input": input_x,
                "timestep": timestep_,
                "c": c,
                "cond_or_uncond": cond_or_uncond,
                "cond_scale": model_options.get("current_cfg_scale"),
            }
            output = model_options["model_function_wrapper"](model.apply_model, args).chunk(batch_chunks)
        else:
            output = model.apply_model(input_x, timestep_, **c).chunk(batch_chunks)

        for o in range(batch_chunks):
            idx = cond_or_uncond[o]
            a = area[o]
            out_c = out_conds[idx]
            out_cts = out_counts[idx]
            if a is not None:
                dims = len(a) // 2
                for d in range(dims):
                    out_c = out_c.narrow(d + 2, a[d + dims], a[d])
                    out_cts = out_cts.narrow(d + 2, a[d + dims], a[d])
            out_c += output[o] * mult[o]
            out_cts += mult[o]

    for i in range(len(out_conds)):
        out_conds[i] /= out_counts[i]
    return out_conds


def copy_nested_dicts(d: dict) -> dict:
    """Copy dicts recursively and lists shallowly (ComfyUI `create_model_options_clone`)."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out[k] = copy_nested_dicts(v)
        elif isinstance(v, list):
            out[k] = v.copy()
        else:
            out[k] = v
    return out


# --- preparing the cond lists once per sampling run ---------------------------------------------


def get_mask_aabb(masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    b = masks.shape[0]
    boxes = torch.zeros((b, 4), device=masks.device, dtype=torch.int)
    is_empty = torch.zeros((b), device=masks.device, dtype=torch.bool)
    for i in range(b):
        mask = masks[i]
        if mask.numel() == 0:
            continue
        if not torch.any(mask != 0):
            is_empty[i] = True
            continue
        y, x = torch.where(mask)
        boxes[i, 0] = torch.min(x)
        boxes[i, 1] = torch.min(y)
        boxes[i, 2] = torch.max(x)
        boxes[i, 3] = torch.max(y)
    return boxes, is_empty


def resolve_areas_and_cond_masks(conditions: list[dict], dims: tuple[int, ...], device: Any) -> None:
    """Percentage areas -> latent pixels; masks resized (bilinear) to the latent; `set_area_to_bounds`
    turns a mask into its bounding-box area (at least 8x8)."""
    for i in range(len(conditions)):
        c = conditions[i]
        if "area" in c and c["area"][0] == "percentage":
            a = c["area"][1:]
            a_len = len(a) // 2
            area: tuple = ()
            for d in range(len(dims)):
                area += (max(1, round(a[d] * dims[d])),)
            for d in range(len(dims)):
                area += (round(a[d + a_len] * dims[d]),)
            c = dict(c, area=area)
            conditions[i] = c
        if "mask" in c:
            mask = c["mask"].to(device=device)
            modified = c.copy()
            if len(mask.shape) == len(dims):
                mask = mask.unsqueeze(0)
            if tuple(mask.shape[1:]) != tuple(dims):
                if mask.ndim < 4:
                    mask = torch.nn.functional.interpolate(
                        mask.unsqueeze(1), size=(dims[-2], dims[-1]), mode="bilinear"
                    ).squeeze(1)
                else:
                    mask = torch.nn.functional.interpolate(mask, size=(dims[-2], dims[-1]), mode="bilinear")
            if modified.get("set_area_to_bounds", False):
                bounds = torch.max(torch.abs(mask), dim=0).values.unsqueeze(0)
                boxes, is_empty = get_mask_aabb(bounds)
                if is_empty[0]:
                    modified["area"] = (8, 8, 0, 0)  # all-zero mask: smallest area, contributes nothing
                else:
                    box = boxes[0]
                    h, w, y, x = (box[3] - box[1] + 1, box[2] - box[0] + 1, box[1], box[0])
                    modified["area"] = (int(max(8, h)), int(max(8, w)), int(y), int(x))
            modified["mask"] = mask
            conditions[i] = modified


def create_cond_with_same_area_if_none(conds: list[dict], c: dict) -> None:
    """Give the other list an entry covering `c`'s area, copied from its smallest enclosing entry, so
    cond and uncond predictions exist on the same regions."""
    if "area" not in c:
        return

    def area_inside(a: list, area_cmp: list) -> bool:
        a = add_area_dims(list(a), len(area_cmp) // 2)
        area_cmp = add_area_dims(list(area_cmp), len(a) // 2)
        a_l, cmp_l = len(a) // 2, len(area_cmp) // 2
        for i in range(min(a_l, cmp_l)):
            if a[a_l + i] < area_cmp[cmp_l + i]:
                return False
        for i in range(min(a_l, cmp_l)):
            if (a[i] + a[a_l + i]) > (area_cmp[i] + area_cmp[cmp_l + i]):
                return False
        return True

    c_area = c["area"]
    smallest = None
    for x in conds:
        if "area" in x:
            a = x["area"]
            if area_inside(c_area, a):
                if smallest is None or "area" not in smallest:
                    smallest = x
                elif math.prod(smallest["area"][: len(smallest["area"]) // 2]) > math.prod(a[: len(a) // 2]):
                    smallest = x
        elif smallest is None:
            smallest = x
    if smallest is None:
        return
    if "area" in smallest and smallest["area"] == c_area:
        return
    out = c.copy()
    out["model_conds"] = smallest["model_conds"].copy()
    conds += [out]


def calculate_start_end_timesteps(model_sampling: Any, conds: list[dict]) -> None:
    """start/end_percent -> sigma bounds `timestep_start` / `timestep_end` checked each step."""
    for t in range(len(conds)):
        x = conds[t]
        start = end = None
        if "clip_start_percent" in x:
            start = model_sampling.percent_to_sigma(max(x["clip_start_percent"], x.get("start_percent", 0.0)))
            end = model_sampling.percent_to_sigma(min(x["clip_end_percent"], x.get("end_percent", 1.0)))
        else:
            if "start_percent" in x:
                start = model_sampling.percent_to_sigma(x["start_percent"])
            if "end_percent" in x:
                end = model_sampling.percent_to_sigma(x["end_percent"])
        if start is not None or end is not None:
            n = x.copy()
            if start is not None:
                n["timestep_start"] = start
            if end is not None:
                n["timestep_end"] = end
            conds[t] = n
