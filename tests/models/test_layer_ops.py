from __future__ import annotations

import torch
import torch.nn.functional as F

from comfy_core.ops import MANUAL_CAST, PLAIN, pick_operations
from comfy_core.ops.attention import attention


def test_pick_operations() -> None:
    assert pick_operations(torch.float32, None) is PLAIN
    assert pick_operations(torch.bfloat16, torch.bfloat16) is PLAIN
    assert pick_operations(torch.float16, torch.float32) is MANUAL_CAST
    assert pick_operations(torch.float8_e4m3fn, torch.float8_e4m3fn) is MANUAL_CAST


def test_manual_cast_layers_compute_in_the_input_dtype() -> None:
    g = torch.Generator().manual_seed(0)
    lin = MANUAL_CAST.Linear(8, 4, dtype=torch.float16)
    lin.weight.data = torch.randn(4, 8, generator=g).half()
    lin.bias.data = torch.randn(4, generator=g).half()
    x = torch.randn(3, 8, generator=g)
    out = lin(x)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, F.linear(x, lin.weight.float(), lin.bias.float()))
    conv = MANUAL_CAST.Conv2d(2, 3, 3, padding=1, dtype=torch.bfloat16)
    conv.weight.data.normal_()
    conv.bias.data.zero_()
    img = torch.randn(1, 2, 5, 5)
    torch.testing.assert_close(conv(img), F.conv2d(img, conv.weight.float(), conv.bias.float(), padding=1))
    gn = MANUAL_CAST.GroupNorm(1, 2, dtype=torch.float16)
    gn.weight.data.fill_(2.0)
    gn.bias.data.zero_()
    assert gn(img).dtype == torch.float32


def test_plain_layer_switches_to_casting_and_runs_weight_functions() -> None:
    lin = PLAIN.Linear(2, 2, bias=False)
    lin.weight.data = torch.eye(2)
    x = torch.tensor([[1.0, 2.0]])
    torch.testing.assert_close(lin(x), x)
    lin.weight_function.append(lambda w: w * 3)  # an on-the-fly patch (e.g. a LoRA on offloaded weights)
    torch.testing.assert_close(lin(x), 3 * x)
    lin.weight_function.clear()
    lin.comfy_cast_weights = True
    lin.weight.data = torch.eye(2, dtype=torch.float32)
    torch.testing.assert_close(lin(x.double()), x.double())


def test_layers_skip_random_init() -> None:
    lin = PLAIN.Linear(3, 3, device="meta")
    assert lin.weight.is_meta


def test_attention_matches_softmax_reference() -> None:
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(2, 5, 12, generator=g) for _ in range(3))
    out = attention(q, k, v, heads=3)
    qh, kh, vh = (t.view(2, -1, 3, 4).transpose(1, 2) for t in (q, k, v))
    ref = torch.softmax(qh @ kh.transpose(-1, -2) / 2.0, dim=-1) @ vh
    torch.testing.assert_close(out, ref.transpose(1, 2).reshape(2, 5, 12), atol=1e-5, rtol=1e-5)
    up = attention(q.bfloat16(), k.bfloat16(), v.bfloat16(), heads=3, upcast=True)
    assert up.dtype == torch.bfloat16
