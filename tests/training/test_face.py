"""The frequency-aware loss (FACE, Jiang et al., 2019): weights on a hand-made vocabulary, and
plain cross-entropy again when the strength is 0."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seq2seq.config import TrainConfig
from seq2seq.metrics import masked_cross_entropy
from seq2seq.training.face import (
    FrequencyWeights,
    build_frequency_weights,
    pre_weights,
    token_frequencies,
)

PAD = 0
# Replies over a 4-token vocabulary: token 2 six times, token 1 twice, tokens 0 (pad) and 3 never.
REPLIES = [np.array([2, 2, 1], dtype=np.int32), np.array([2, 2, 2, 1, 2], dtype=np.int32)]


def test_token_frequencies_count_the_reply_tokens() -> None:
    assert token_frequencies(REPLIES, 4).tolist() == [0, 2, 6, 0]
    assert token_frequencies([], 3).tolist() == [0, 0, 0]


def test_pre_weights_on_a_hand_made_vocabulary() -> None:
    # RF = [0, 1/4, 3/4, 0]; 1 - RF / max RF = [1, 2/3, 0, 1], sum 8/3; times 4 / (8/3):
    weights = pre_weights(token_frequencies(REPLIES, 4), strength=1.0)
    torch.testing.assert_close(weights, torch.tensor([1.5, 1.0, 0.0, 1.5]))
    # half strength: [1, 5/6, 1/2, 1], sum 10/3, times 4 / (10/3) = 1.2
    half = pre_weights(token_frequencies(REPLIES, 4), strength=0.5)
    torch.testing.assert_close(half, torch.tensor([1.2, 1.0, 0.6, 1.2]))


def test_post_weights_penalise_predicting_a_more_frequent_token() -> None:
    face = FrequencyWeights(token_frequencies(REPLIES, 4), "post", strength=1.0)
    logits = torch.full((1, 3, 4), -5.0)
    logits[0, 0, 2] = logits[0, 1, 1] = logits[0, 2, 2] = 5.0  # predictions: 2, 1, 2
    target = torch.tensor([[1, 2, 2]])  # gold: 1 (rarer than 2), 2 (more frequent than 1), 2
    torch.testing.assert_close(face(logits, target), torch.tensor([[1.5, 1.0, 1.0]]))


def logits_and_target() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 5, 4, generator=generator)
    target = torch.tensor([[2, 1, 2, 3, PAD], [2, 2, PAD, PAD, PAD]])
    return logits, target


@pytest.mark.parametrize("weighting", ["pre", "post"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_strength_zero_is_plain_cross_entropy_exactly(weighting: str, label_smoothing: float):
    logits, target = logits_and_target()
    face = FrequencyWeights(token_frequencies(REPLIES, 4), weighting, strength=0.0)
    weights = face(logits, target)
    assert torch.all(weights == 1.0)
    plain = masked_cross_entropy(logits, target, PAD, label_smoothing)
    weighted = masked_cross_entropy(logits, target, PAD, label_smoothing, weights)
    assert torch.equal(plain[0], weighted[0]) and torch.equal(plain[1], weighted[1])


def test_weights_scale_each_tokens_objective_and_the_nll_stays_plain() -> None:
    logits, target = logits_and_target()
    face = FrequencyWeights(token_frequencies(REPLIES, 4), "pre", strength=1.0)
    objective, nll = masked_cross_entropy(logits, target, PAD, 0.0, face(logits, target))
    token_nll = -torch.log_softmax(logits, -1).gather(-1, target.unsqueeze(-1)).squeeze(-1)
    real = target != PAD
    expected = (face.pre[target] * token_nll)[real].sum()
    torch.testing.assert_close(objective, expected)
    torch.testing.assert_close(nll, token_nll[real].sum())
    assert objective < nll  # the frequent token 2 (weight 0) no longer counts


def test_build_reuses_saved_frequencies_and_is_off_for_cross_entropy() -> None:
    assert build_frequency_weights(TrainConfig(), REPLIES, 4) is None
    face_config = TrainConfig(loss="face", face_strength=1.0)
    counted = build_frequency_weights(face_config, REPLIES, 4)
    assert counted is not None and counted.frequencies.tolist() == [0, 2, 6, 0]
    saved = torch.tensor([5, 0, 0, 1])
    resumed = build_frequency_weights(face_config, REPLIES, 4, saved=saved)
    assert resumed is not None and torch.equal(resumed.frequencies, saved)
