"""The nn.Linear that arranges few-row products as W x^T (seq2seq/models/linear.py)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from seq2seq.models.linear import FEW_ROWS, LARGE_WEIGHT, FewRowLinear


class Calls(TorchFunctionMode):
    """Records the torch functions called."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.names.append(getattr(func, "__name__", str(func)))
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(1, 256), (2, 256), (5, 1, 256), (3, 7, 256),
                                   (FEW_ROWS, 256), (FEW_ROWS + 1, 256), (0, 256)])
def test_equals_nn_linear_in_value_shape_and_gradient(shape, bias):
    torch.manual_seed(0)
    ours = FewRowLinear(256, 300, bias=bias)
    torch_linear = nn.Linear(256, 300, bias=bias)
    torch_linear.load_state_dict(ours.state_dict())  # same parameter names
    x = torch.randn(shape, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_()
    y, y_ref = ours(x), torch_linear(x_ref)
    assert y.shape == y_ref.shape == (*shape[:-1], 300) and y.is_contiguous()
    torch.testing.assert_close(y, y_ref)
    weights = torch.randn_like(y)
    (y * weights).sum().backward()
    (y_ref * weights).sum().backward()
    torch.testing.assert_close(x.grad, x_ref.grad)
    for p, p_ref in zip(ours.parameters(), torch_linear.parameters(), strict=True):
        torch.testing.assert_close(p.grad, p_ref.grad)


@pytest.mark.parametrize(("rows", "outputs", "arranged"), [
    (1, 256, False), (2, 256, True), (5, 256, True), (FEW_ROWS, 256, True),
    (FEW_ROWS + 1, 256, False), (5, 255, False),  # 255 x 256 is below LARGE_WEIGHT
])
def test_few_rows_of_a_large_weight_on_a_cpu_take_the_arranged_product(rows, outputs, arranged):
    assert 255 * 256 < LARGE_WEIGHT <= 256 * 256
    layer = FewRowLinear(256, outputs)
    with torch.no_grad(), Calls() as calls:
        layer(torch.randn(rows, 1, 256))
    assert ("addmm" in calls.names) is arranged
    assert ("linear" in calls.names) is not arranged


def test_a_layer_without_bias_takes_the_arranged_product_too():
    layer = FewRowLinear(256, 256, bias=False)
    x = torch.randn(3, 256)
    with torch.no_grad(), Calls() as calls:
        y = layer(x)
    assert "linear" not in calls.names
    torch.testing.assert_close(y, F.linear(x, layer.weight))


def test_under_bf16_autocast_it_matches_nn_linear_in_dtype():
    layer = FewRowLinear(256, 256)
    x = torch.randn(3, 256)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y, y_ref = layer(x), F.linear(x, layer.weight, layer.bias)
    assert y.dtype == y_ref.dtype
