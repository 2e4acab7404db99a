"""Bootstrap confidence intervals over examples: perplexity differences between runs, and any
ratio of per-example sums (hits@1, MRR, the context gap: `ratio_interval`).

Both runs are scored on the same examples, so the resampling is paired: each bootstrap replicate
draws examples with replacement once and recomputes every run's token-level perplexity on that
same draw (Koehn, 2004, "Statistical Significance Tests for Machine Translation Evaluation";
Efron & Tibshirani, 1993, the percentile interval).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RESAMPLES = 1000
CONFIDENCE = 0.95
CHUNK = 100  # replicates per vectorised step: (CHUNK, N) counts stay small even for big N


@dataclass(frozen=True)
class Interval:
    """An observed statistic (e.g. ppl(b) - ppl(a)) and its bootstrap percentile interval."""

    difference: float  # the observed value
    lower: float
    upper: float
    resamples: int
    n: int  # examples resampled


def pooled_perplexity(nll_sum: np.ndarray, n_tokens: np.ndarray) -> np.ndarray:
    """Token-level perplexity exp(total NLL / total tokens) along the last axis."""
    return np.exp(nll_sum.sum(-1) / n_tokens.sum(-1))


def bootstrap_ratios(
    numerator: np.ndarray, denominator: np.ndarray, resamples: int = RESAMPLES, seed: int = 0
) -> np.ndarray:
    """sum(numerator) / sum(denominator) of every row on `resamples` shared resamples.

    Args:
        numerator, denominator: (R, N) per-example sums of R rows (runs, or conditions of one
            run) on the same N examples.
        resamples: bootstrap replicates.
        seed: seeds the resampling; the same seed gives the same intervals.

    Returns:
        (resamples, R) ratios; row i uses the same resample for every row (paired).
    """
    rows, n = numerator.shape
    rng = np.random.default_rng(seed)
    out = np.empty((resamples, rows))
    for start in range(0, resamples, CHUNK):
        size = min(CHUNK, resamples - start)
        # How often each example is drawn in each replicate: (size, N), rows sum to N.
        counts = rng.multinomial(n, np.full(n, 1.0 / n), size=size).astype(np.float64)
        out[start : start + size] = (counts @ numerator.T) / (counts @ denominator.T)
    return out


def bootstrap_perplexities(
    nll_sum: np.ndarray, n_tokens: np.ndarray, resamples: int = RESAMPLES, seed: int = 0
) -> np.ndarray:
    """Perplexity of every run on `resamples` shared resamples of the examples.

    Args:
        nll_sum: (R, N) summed NLL of each run on each example.
        n_tokens: (R, N) target tokens (eos included) of each run on each example.

    Returns:
        (resamples, R) perplexities; row i uses the same resample for every run.
    """
    return np.exp(bootstrap_ratios(nll_sum, n_tokens, resamples, seed))


def ratio_interval(
    numerator: np.ndarray,
    denominator: np.ndarray,
    resamples: int = RESAMPLES,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> Interval:
    """sum(numerator) / sum(denominator) over N examples with its bootstrap percentile interval.

    A mean of per-example values is the case denominator = ones (hits@1: numerator 0/1); a
    paired difference per token puts the per-example difference of two conditions' summed NLL
    over the example's tokens.

    Args:
        numerator, denominator: (N,) per-example sums.
    """
    replicates = bootstrap_ratios(numerator[None], denominator[None], resamples, seed)[:, 0]
    tail = 100 * (1 - confidence) / 2
    lower, upper = np.percentile(replicates, [tail, 100 - tail])
    observed = float(numerator.sum() / denominator.sum())
    return Interval(observed, float(lower), float(upper), resamples, len(numerator))


def perplexity_difference_intervals(
    nll_sum: np.ndarray,
    n_tokens: np.ndarray,
    pairs: list[tuple[int, int]],
    resamples: int = RESAMPLES,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> list[Interval]:
    """Paired bootstrap intervals of ppl(b) - ppl(a) for each pair (a, b) of run indices.

    Args:
        nll_sum: (R, N) summed NLL per run and example.
        n_tokens: (R, N) target tokens per run and example.
        pairs: run index pairs (a, b).

    Returns:
        One `Interval` per pair, in order.
    """
    observed = pooled_perplexity(nll_sum, n_tokens)  # (R,)
    replicates = bootstrap_perplexities(nll_sum, n_tokens, resamples, seed)  # (resamples, R)
    tail = 100 * (1 - confidence) / 2
    intervals = []
    for a, b in pairs:
        lower, upper = np.percentile(replicates[:, b] - replicates[:, a], [tail, 100 - tail])
        intervals.append(
            Interval(
                float(observed[b] - observed[a]), float(lower), float(upper), resamples,
                nll_sum.shape[1],
            )
        )
    return intervals
