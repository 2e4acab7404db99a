"""The CPU dropout that draws one 32-bit number per two elements (seq2seq/models/dropout.py)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from seq2seq.models.dropout import LEVELS, FastDropout, dropout


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5])
def test_drops_each_element_with_probability_p_and_keeps_the_mean(p):
    torch.manual_seed(0)
    x = torch.ones(1_000_001)  # odd: the last 32-bit draw serves one element only
    y = dropout(x, p)
    dropped = (y == 0).double().mean().item()
    p_rounded = round(p * LEVELS) / LEVELS
    assert abs(dropped - p_rounded) < 5 * (p * (1 - p) / x.numel()) ** 0.5  # 5 sigma
    assert torch.allclose(y[y != 0], torch.tensor(1 / (1 - p_rounded)))
    assert abs(y.double().mean().item() - 1.0) < 0.01


def test_the_two_halves_of_a_draw_are_independent():
    """Elements 2i and 2i + 1 share a 32-bit draw (its low and high bits)."""
    torch.manual_seed(0)
    n = 1_000_000
    kept = dropout(torch.ones(n), 0.5) != 0
    low, high = kept[0::2].double(), kept[1::2].double()
    correlation = torch.corrcoef(torch.stack([low, high]))[0, 1].item()
    assert abs(correlation) < 0.01


def test_seeded_like_torch_and_differs_between_seeds():
    x = torch.randn(4, 7, 5)
    torch.manual_seed(3)
    first = dropout(x, 0.2)
    torch.manual_seed(3)
    again = dropout(x, 0.2)
    torch.manual_seed(4)
    other = dropout(x, 0.2)
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert first.shape == x.shape


def test_gradient_is_the_same_mask_and_scale():
    torch.manual_seed(0)
    x = torch.randn(64, 33, requires_grad=True)
    y = dropout(x, 0.25)
    y.sum().backward()
    kept = y != 0
    scale = 1 / (1 - round(0.25 * LEVELS) / LEVELS)
    assert torch.allclose(x.grad, kept.float() * scale)
    assert torch.allclose(y[kept], x[kept] * scale)


def test_identity_in_eval_mode_and_at_zero():
    x = torch.randn(10, 10)
    module = FastDropout(0.5).eval()
    assert module(x) is x
    assert dropout(x, 0.0) is x
    assert dropout(x, 0.5, training=False) is x


def test_p_one_drops_everything_as_torch():
    x = torch.randn(5, 5)
    assert torch.equal(dropout(x, 1.0), F.dropout(x, 1.0))
