"""hits@k, MRR and the context gap with their intervals, on stub models whose probabilities
are known."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from seq2seq.comparison.relevance import ranking, relevance
from seq2seq.relevance import Distractors, draw_distractors, gold_ranks, headline, score_candidates

TOKENS = SimpleNamespace(pad_id=0, bos_id=1, eos_id=2)
VOCAB = 12


class IgnoresSource(nn.Module):
    """p(token) fixed by `weights` at every position, whatever the source."""

    def __init__(self, weights: list[float]) -> None:
        super().__init__()
        self.log_probs = torch.tensor(weights).log()  # (V,)

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def forward(self, src: Tensor, src_mask: Tensor, tgt_in: Tensor) -> Tensor:
        return self.log_probs.expand(*tgt_in.shape, VOCAB).clone()  # (B, T, V)


class CopiesSource(IgnoresSource):
    """Puts nearly all probability on the source's tokens (and eos)."""

    def __init__(self) -> None:
        super().__init__([1.0] * VOCAB)

    def forward(self, src: Tensor, src_mask: Tensor, tgt_in: Tensor) -> Tensor:
        in_source = torch.zeros(src.size(0), VOCAB).scatter_(1, src, 1.0) * src_mask.any(1,
                                                                                      True)
        in_source[:, TOKENS.eos_id] = 1.0
        logits = 10.0 * in_source  # (B, V)
        return logits[:, None, :].expand(-1, tgt_in.size(1), -1).clone()  # (B, T, V)


def ids(*tokens: int) -> np.ndarray:
    return np.array(tokens, dtype=np.int64)


def test_ranks_hits_and_mrr_of_known_scores():
    scores = np.array([[1.0, 2.0, 3.0], [3.0, 1.0, 2.0], [2.0, 1.0, 3.0]])  # column 0: gold
    assert gold_ranks(scores).tolist() == [1, 3, 2]
    figures = ranking(scores, seed=0)
    assert figures.hits1.difference == pytest.approx(1 / 3)
    assert figures.mrr.difference == pytest.approx((1 + 1 / 3 + 1 / 2) / 3)
    assert figures.hits5.difference == 1.0
    assert figures.hits1.lower <= figures.hits1.difference <= figures.hits1.upper
    # A tie counts against the gold reply.
    assert gold_ranks(np.array([[1.0, 1.0, 2.0]])).tolist() == [2]


def test_hits_and_mrr_of_a_stub_model_with_known_probabilities():
    # Token t has probability proportional to t (t = 3..11), eos a fixed share: a one-token
    # reply [t] ranks by t alone, the likelier first.
    model = IgnoresSource([1e-9, 1e-9, 5.0, *range(3, VOCAB)])
    pool = [ids(t) for t in range(3, VOCAB)]  # replies of 9 "examples"
    gold = [ids(11), ids(9), ids(4)]  # ranks 1, 3 and 8 among all 9 tokens
    others = [[j for j in range(9) if pool[j][0] != g[0]][:8] for g in gold]
    distractors = Distractors(
        random=np.array(others), generic=np.array(others), generic_replies=pool,
        generic_texts=[str(t) for t in range(3, VOCAB)], derangement=np.array([1, 2, 0]),
    )
    src = [ids(5), ids(6), ids(7)]
    scores = score_candidates(model, TOKENS, src, gold, pool, distractors, batch_size=4)
    assert gold_ranks(scores.random).tolist() == [1, 3, 8]
    figures = relevance(scores, seed=0)
    assert figures.candidates == 9
    assert figures.random.hits1.difference == pytest.approx(1 / 3)
    assert figures.random.hits5.difference == pytest.approx(2 / 3)
    assert figures.random.mrr.difference == pytest.approx((1 + 1 / 3 + 1 / 8) / 3)
    # The empty prompt changes nothing for this model: PMI scores are all 0, so every
    # distractor ties with the gold reply, and the context gaps are exactly 0.
    assert figures.random_pmi.hits1.difference == 0.0
    assert figures.gap_deranged.difference == figures.gap_empty.difference == 0.0
    assert headline(scores) == {"hits1_random": pytest.approx(1 / 3),
                                "hits1_generic": pytest.approx(1 / 3), "context_gap": 0.0}


def test_the_context_gap_is_large_for_a_model_that_copies_its_source():
    # An echo corpus: every reply repeats its prompt, so the prompt tells the reply.
    src = [ids(3, 4), ids(5, 6), ids(7, 8), ids(9, 10)]
    texts = ["a b", "c d", "e f", "g h"]
    distractors = draw_distractors(texts, texts, texts, src, candidates=3, seed=1)
    scores = score_candidates(CopiesSource(), TOKENS, src, src, src, distractors, batch_size=2)
    figures = relevance(scores, seed=0)
    assert figures.gap_deranged.difference > 5.0 and figures.gap_deranged.lower > 5.0
    assert figures.gap_empty.difference > 1.0
    assert figures.random.hits1.difference == 1.0
    assert figures.random_pmi.hits1.difference == 1.0
    # The same replies under a model that ignores the source: no gap at all.
    flat = score_candidates(IgnoresSource([1.0] * VOCAB), TOKENS, src, src, src, distractors, 2)
    assert relevance(flat, seed=0).gap_deranged.difference == 0.0
