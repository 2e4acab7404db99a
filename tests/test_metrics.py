"""Token-level loss and metrics: padding never counts, label smoothing matches torch's, the
logged NLL ignores smoothing, and averages are weighted by real tokens."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from seq2seq.metrics import (
    Accumulator,
    correct_tokens,
    example_scores,
    masked_cross_entropy,
    perplexity,
)

PAD = 0


@pytest.fixture
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    logits = torch.randn(3, 5, 11)
    target = torch.randint(1, 11, (3, 5))
    target[0, 3:] = PAD
    target[2, 1:] = PAD
    return logits, target


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_loss_matches_torch_cross_entropy_ignoring_pad(batch, smoothing: float) -> None:
    logits, target = batch
    objective, nll = masked_cross_entropy(logits, target, PAD, smoothing)
    expected = F.cross_entropy(logits.flatten(0, 1), target.flatten(), ignore_index=PAD,
                               label_smoothing=smoothing, reduction="sum")
    assert objective.item() == pytest.approx(expected.item(), rel=1e-5)
    plain = F.cross_entropy(logits.flatten(0, 1), target.flatten(), ignore_index=PAD,
                            reduction="sum")
    assert nll.item() == pytest.approx(plain.item(), rel=1e-5)


def test_padding_positions_do_not_matter(batch) -> None:
    logits, target = batch
    changed = logits.clone()
    changed[target == PAD] = 1e4  # whatever the model says at padding
    assert masked_cross_entropy(changed, target, PAD)[0].item() == pytest.approx(
        masked_cross_entropy(logits, target, PAD)[0].item()
    )


def test_gradient_flows_through_the_objective_only(batch) -> None:
    logits, target = batch
    logits.requires_grad_(True)
    objective, nll = masked_cross_entropy(logits, target, PAD, 0.1)
    assert objective.requires_grad and not nll.requires_grad


def test_correct_tokens_counts_real_positions_only() -> None:
    target = torch.tensor([[3, 4, PAD]])
    logits = F.one_hot(torch.tensor([[3, 5, PAD]]), 6).float()
    assert correct_tokens(logits, target, PAD) == (1, 2)


def test_accumulator_weights_batches_by_real_tokens(batch) -> None:
    logits, target = batch
    totals = Accumulator()
    totals.add(logits[:1], target[:1], PAD)
    totals.add(logits[1:], target[1:], PAD)
    whole = Accumulator()
    whole.add(logits, target, PAD)
    assert totals.result() == pytest.approx(whole.result())
    tokens = int((target != PAD).sum())
    _, nll = masked_cross_entropy(logits, target, PAD)
    assert whole.result()["loss"] == pytest.approx(nll.item() / tokens)
    assert whole.result()["ppl"] == pytest.approx(math.exp(nll.item() / tokens))


def test_perplexity_of_a_diverged_loss_is_large_but_finite() -> None:
    assert perplexity(math.log(7.0)) == pytest.approx(7.0)
    assert math.isfinite(perplexity(1e6))


def test_example_scores_are_the_batch_metrics_row_by_row(batch) -> None:
    logits, target = batch
    nll, correct, tokens = example_scores(logits, target, PAD)
    for row in range(target.size(0)):
        _, row_nll = masked_cross_entropy(logits[row : row + 1], target[row : row + 1], PAD)
        assert nll[row].item() == pytest.approx(row_nll.item())
        assert (int(correct[row]), int(tokens[row])) == correct_tokens(
            logits[row : row + 1], target[row : row + 1], PAD
        )
