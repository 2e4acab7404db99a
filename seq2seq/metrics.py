"""Token-level loss and metrics over padded targets: padding never counts.

Both models are scored with exactly these functions, so their numbers are comparable:
validation loss is plain negative log-likelihood per real target token (no label smoothing),
perplexity is its exponential, token accuracy the share of real target tokens whose argmax
prediction under teacher forcing is right.
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor

MAX_LOG_PPL = 50.0  # exp(50) ~ 5e21 already says "diverged"; beyond that exp overflows


def masked_cross_entropy(
    logits: Tensor,
    target: Tensor,
    pad_id: int,
    label_smoothing: float = 0.0,
    weights: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Summed cross-entropy over the real tokens of a batch.

    With label smoothing (Szegedy et al., 2016) the target distribution puts 1 - eps on the
    gold token and eps spread uniformly over the vocabulary, as `F.cross_entropy` does:

        objective = (1 - eps) * NLL + eps * mean over the vocabulary of -log p(v)

    and with `weights` (the frequency-aware loss, seq2seq/training/face.py) each token's
    objective is multiplied by its weight.

    Args:
        logits: (B, T, V) next-token logits (any float dtype; computed in float32).
        target: (B, T) gold ids, `pad_id` on padding.
        pad_id: the tokenizer's pad id; those positions are ignored.
        label_smoothing: eps; 0 makes the objective plain NLL.
        weights: optional (B, T) factor of every token's objective (ignored on padding).

    Returns:
        The summed objective (what to back-propagate) and the summed plain NLL (detached, for
        logging: comparable whatever eps and weights); divide by the number of real target
        tokens for the means per token.
    """
    log_probs, nll, real = token_nll(logits, target, pad_id)
    nll_sum = nll.sum()
    if label_smoothing == 0.0 and weights is None:
        return nll_sum, nll_sum.detach()
    objective = nll
    if label_smoothing != 0.0:
        uniform = -log_probs.mean(dim=-1)  # (B, T)
        objective = (1.0 - label_smoothing) * nll + label_smoothing * uniform
    if weights is not None:
        objective = objective * weights
    return objective.masked_fill(~real, 0.0).sum(), nll_sum.detach()


def token_nll(logits: Tensor, target: Tensor, pad_id: int) -> tuple[Tensor, Tensor, Tensor]:
    """(B, T, V) float32 log-probabilities, (B, T) NLL of each target token (0 on padding)
    and the (B, T) mask of real tokens."""
    log_probs = F.log_softmax(logits.float(), dim=-1)  # (B, T, V) float32 even under autocast
    real = target != pad_id  # (B, T)
    nll = -log_probs.gather(-1, target.unsqueeze(-1)).squeeze(-1)  # (B, T)
    return log_probs, nll.masked_fill(~real, 0.0), real


def example_scores(logits: Tensor, target: Tensor, pad_id: int) -> tuple[Tensor, Tensor, Tensor]:
    """Per-example sums of plain NLL, correct argmax predictions and real target tokens.

    Args:
        logits: (B, T, V) next-token logits; target: (B, T) gold ids, `pad_id` on padding.

    Returns:
        Three (B,) tensors on the logits' device (no host sync: the caller copies them once).
    """
    _, nll, real = token_nll(logits, target, pad_id)
    correct = (logits.argmax(dim=-1) == target) & real
    return nll.sum(dim=1), correct.sum(dim=1), real.sum(dim=1)


def correct_tokens(logits: Tensor, target: Tensor, pad_id: int) -> tuple[int, int]:
    """(correct argmax predictions, real tokens): logits (B, T, V), target (B, T)."""
    real = target != pad_id
    correct = (logits.argmax(dim=-1) == target) & real
    return int(correct.sum()), int(real.sum())


def perplexity(loss: float) -> float:
    """exp(mean NLL per token), capped so that a diverged run logs a large number, not inf."""
    return math.exp(min(loss, MAX_LOG_PPL))


class Accumulator:
    """Sums loss and accuracy over many batches; the means are weighted by real tokens."""

    def __init__(self) -> None:
        self.loss = 0.0
        self.correct = 0
        self.tokens = 0

    def add(self, logits: Tensor, target: Tensor, pad_id: int) -> None:
        """Add a batch: logits (B, T, V), target (B, T)."""
        _, nll = masked_cross_entropy(logits, target, pad_id)
        correct, tokens = correct_tokens(logits, target, pad_id)
        self.loss += float(nll)
        self.correct += correct
        self.tokens += tokens

    def result(self) -> dict[str, float]:
        """{"loss", "ppl", "token_acc"} over everything added so far."""
        loss = self.loss / max(self.tokens, 1)
        return {
            "loss": loss,
            "ppl": perplexity(loss),
            "token_acc": self.correct / max(self.tokens, 1),
        }
