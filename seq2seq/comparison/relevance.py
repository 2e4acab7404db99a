"""The relevance figures of a comparison: hits@1/5 and MRR against the random and the generic
distractors (by mean NLL per token, the headline, and by PMI) and the context gaps, each with a
paired bootstrap interval over examples (`bootstrap.ratio_interval`); and the distractor lists
written next to the report. The definitions and the scoring are `seq2seq.relevance`'s.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seq2seq.comparison.bootstrap import Interval, ratio_interval
from seq2seq.relevance import CandidateScores, Distractors, gold_ranks


@dataclass(frozen=True)
class Ranking:
    """hits@1, hits@5 and MRR of one distractor set under one score, with 95% intervals."""

    hits1: Interval
    hits5: Interval
    mrr: Interval


def ranking(scores: np.ndarray, seed: int) -> Ranking:
    """The gold reply's hits@1, hits@5 and MRR over the examples; scores: (n, N), column 0 gold."""
    ranks = gold_ranks(scores).astype(np.float64)
    ones = np.ones_like(ranks)
    return Ranking(ratio_interval((ranks <= 1).astype(np.float64), ones, seed=seed),
                   ratio_interval((ranks <= 5).astype(np.float64), ones, seed=seed),
                   ratio_interval(1.0 / ranks, ones, seed=seed))


@dataclass(frozen=True)
class Relevance:
    """One run's relevance figures on the shared examples and candidates.

    Attributes:
        candidates: N, the gold reply included.
        random, generic: ranked by mean NLL per token (the headline).
        random_pmi, generic_pmi: ranked by NLL(c | prompt) - NLL(c | empty prompt).
        gap_deranged, gap_empty: NLL per token of the gold reply given another example's
            prompt / the empty prompt, minus given its own (nats per token).
    """

    candidates: int
    random: Ranking
    generic: Ranking
    random_pmi: Ranking | None
    generic_pmi: Ranking | None
    gap_deranged: Interval
    gap_empty: Interval | None


def relevance(scores: CandidateScores, seed: int) -> Relevance:
    """Rankings and context gaps, each with its bootstrap interval (resamples seeded by `seed`)."""
    pmi = scores.random_empty is not None and scores.generic_empty is not None
    return Relevance(
        candidates=scores.random.shape[1],
        random=ranking(scores.random, seed),
        generic=ranking(scores.generic, seed),
        random_pmi=ranking(scores.random - scores.random_empty, seed) if pmi else None,
        generic_pmi=ranking(scores.generic - scores.generic_empty, seed) if pmi else None,
        gap_deranged=ratio_interval(scores.deranged - scores.own, scores.tokens, seed=seed),
        gap_empty=None if scores.empty is None
        else ratio_interval(scores.empty - scores.own, scores.tokens, seed=seed),
    )


def figures(relevance: Relevance) -> dict[str, Interval | None]:
    """Every relevance figure by key, in table order: hits1/hits5/mrr of the random and generic
    distractors (then the same with `_pmi`), gap_deranged, gap_empty (None: not measured)."""
    found: dict[str, Interval | None] = {}
    for score in ("", "_pmi"):
        for distractors in ("random", "generic"):
            ranking = getattr(relevance, distractors + score)
            for figure in ("hits1", "hits5", "mrr"):
                found[f"{figure}_{distractors}{score}"] = (
                    None if ranking is None else getattr(ranking, figure))
    found["gap_deranged"] = relevance.gap_deranged
    found["gap_empty"] = relevance.gap_empty
    return found


def write_distractors(
    path: Path, prompts: Sequence[str], gold_texts: Sequence[str], pool_texts: Sequence[str],
    distractors: Distractors,
) -> None:
    """One JSON line per example: its prompt, gold reply, derangement partner and both
    distractor lists as text, so that other models can be ranked on the same candidates."""
    with path.open("w", encoding="utf-8") as out:
        for i, (prompt, gold) in enumerate(zip(prompts, gold_texts, strict=True)):
            out.write(json.dumps({
                "index": i, "prompt": prompt, "gold": gold,
                "deranged_prompt": prompts[distractors.derangement[i]],
                "random": [pool_texts[j] for j in distractors.random[i]],
                "generic": [distractors.generic_texts[j] for j in distractors.generic[i]],
            }, ensure_ascii=False) + "\n")
