"""Frequency-aware cross-entropy, FACE (Jiang, Ren, Monz & de Rijke, WWW 2019, "Improving Neural
Response Diversity with Frequency-Aware Cross-Entropy Loss", https://arxiv.org/abs/1902.09191).

Maximum likelihood rewards a chatbot for predicting "I", "'m", "not" in every reply; FACE weights
each target token's loss by a decreasing function of the token's frequency, so frequent tokens
earn less. `train.loss: face` with:

- frequencies: the gold tokens of the training split's replies (the paper's ground-truth
  frequency; its other variant counts the model's own outputs as it trains), counted once before
  training from the training split only and saved in the checkpoint, so a resumed run uses the
  very same weights. End-of-sequence is not counted, as in the authors' code (replies carry no eos
  in the splits): suppressing the end token would make the model unable to stop.
- `train.face_weighting: pre` (the paper's pre-weight), with RF_i = f_i / sum_j f_j:

      w_i = 1 - s * RF_i / max_j RF_j,  then  w <- w * |V| / sum_j w_j    (mean weight 1)

  every gold token's loss is multiplied by w[gold]. With s = 1 (the paper's a = -1 / max RF) the
  most frequent token's loss vanishes; s = 0 gives plain cross-entropy.
- `train.face_weighting: post` (the paper's post-weight), per position t:

      w_t = 1 + s * relu(RF[argmax_t] - RF[gold_t])

  a position costs more where the model prefers a token more frequent than the gold one.

s is `train.face_strength`. Label smoothing applies inside the weighted term; every reported loss
stays plain NLL (`seq2seq.metrics.masked_cross_entropy`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from seq2seq.config import TrainConfig


def token_frequencies(targets: list[np.ndarray], vocab_size: int) -> Tensor:
    """(V,) int64 count of every token id in the reply ids of a split (no bos/eos in them)."""
    flat = np.concatenate(targets) if targets else np.zeros(0, dtype=np.int64)
    return torch.from_numpy(np.bincount(flat, minlength=vocab_size).astype(np.int64))


def pre_weights(frequencies: Tensor, strength: float) -> Tensor:
    """(V,) float32 FACE pre-weights from (V,) counts: mean 1, 1 - strength * RF / max RF before
    normalisation (all exactly 1.0 when strength is 0)."""
    relative = frequencies.double() / frequencies.sum().clamp(min=1)
    weights = 1.0 - strength * relative / relative.max().clamp(min=1e-12)
    return (weights * (len(weights) / weights.sum())).float()


class FrequencyWeights:
    """Per-token factors on the training objective, from the training replies' frequencies."""

    def __init__(
        self, frequencies: Tensor, weighting: str, strength: float,
        device: torch.device | str = "cpu",
    ) -> None:
        self.frequencies = frequencies.cpu()  # (V,) int64: what the checkpoint keeps
        self.weighting, self.strength = weighting, strength
        relative = frequencies.double() / frequencies.sum().clamp(min=1)
        self.relative = relative.float().to(device)  # (V,) RF
        self.pre = pre_weights(frequencies, strength).to(device)  # (V,)

    def __call__(self, logits: Tensor, target: Tensor) -> Tensor:
        """(B, T) weights for logits (B, T, V) and gold target (B, T) (any value on padding)."""
        if self.weighting == "pre":
            return self.pre[target]
        predicted = logits.detach().argmax(dim=-1)  # (B, T)
        excess = (self.relative[predicted] - self.relative[target]).clamp(min=0.0)
        return 1.0 + self.strength * excess


def build_frequency_weights(
    train: TrainConfig,
    targets: list[np.ndarray],
    vocab_size: int,
    device: torch.device | str = "cpu",
    saved: Tensor | None = None,
) -> FrequencyWeights | None:
    """The FACE weights `train.loss` asks for (None for plain cross-entropy).

    Args:
        train: the train section (loss, face_weighting, face_strength).
        targets: the training split's reply ids, counted unless `saved` is given.
        vocab_size: V.
        device: where the weights are used.
        saved: (V,) counts from a checkpoint: a resumed run reuses them.
    """
    if train.loss != "face":
        return None
    frequencies = saved if saved is not None else token_frequencies(targets, vocab_size)
    return FrequencyWeights(frequencies, train.face_weighting, train.face_strength, device)
