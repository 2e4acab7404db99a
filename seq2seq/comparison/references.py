"""Reference rows (Csáky et al., 2019): where human replies stand on the reply statistics.

The gold replies of the compared examples (GT) and, for each example, a reply drawn at random
from the training split (RT) get exactly the statistics of the models' greedy replies, on the
same number of replies: distinct-1/2 with their n-gram counts (and Li et al.'s distinct-2 per
word), the most frequent reply's share, the share of distinct replies and the mean length. A
model's distinct-2 of 0.12 then reads against what people write to the same prompts (Csáky et
al. report distinct-2 0.31 for GT and 0.32 for RT on 21,854 Cornell test prompts).

References:
    Csáky et al., 2019, "Improving Neural Conversational Models with Entropy-Based Data
        Filtering" (ACL), the GT and RT rows of their tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from seq2seq import diversity

GOLD = "GT (gold replies)"
RANDOM_TRAIN = "RT (random training replies)"


@dataclass(frozen=True)
class ReplyStats:
    """The reply statistics of one set of replies (a run's greedy ones, or a reference row)."""

    label: str
    n_replies: int
    distinct_1: float | None  # None below diversity.MIN_NGRAMS n-grams
    distinct_1_ngrams: int
    distinct_2: float | None
    distinct_2_ngrams: int
    distinct_2_per_word: float  # Li et al.'s definition
    top1_share: float
    unique_share: float
    mean_length: float


def reply_stats(label: str, replies: Sequence[str]) -> ReplyStats:
    """Every statistic of the reference table for `replies`."""
    texts = list(replies)
    (distinct_1, unigrams), (distinct_2, bigrams) = (
        diversity.distinct_or_none(texts, n) for n in (1, 2)
    )
    counts = diversity.reply_counts(texts, k=1)
    return ReplyStats(
        label, len(texts), distinct_1, unigrams, distinct_2, bigrams,
        diversity.distinct_n_per_word(texts, 2), counts.top1_share, counts.unique_share,
        diversity.mean_length(texts),
    )


def reference_rows(
    gold: Sequence[str], train_replies: Sequence[str], seed: int
) -> list[ReplyStats]:
    """GT: the gold replies; RT: as many training replies drawn at random (with replacement,
    seeded), one per compared example."""
    rng = np.random.default_rng(seed)
    drawn = rng.integers(len(train_replies), size=len(gold))
    return [reply_stats(GOLD, gold),
            reply_stats(RANDOM_TRAIN, [train_replies[i] for i in drawn])]
