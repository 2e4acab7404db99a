"""Bootstrap confidence intervals for perplexity differences between runs.

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
    """The observed difference ppl(b) - ppl(a) and its bootstrap percentile interval."""

    difference: float
    lower: float
    upper: float
    resamples: int
    n: int  # examples resampled


def pooled_perplexity(nll_sum: np.ndarray, n_tokens: np.ndarray) -> np.ndarray:
    """Token-level perplexity exp(total NLL / total tokens) along the last axis."""
    return np.exp(nll_sum.sum(-1) / n_tokens.sum(-1))


def bootstrap_perplexities(
    nll_sum: np.ndarray, n_tokens: np.ndarray, resamples: int = RESAMPLES, seed: int = 0
) -> np.ndarray:
    """Perplexity of every run on `resamples` shared resamples of the examples.

    Args:
        nll_sum: (R, N) summed NLL of each run on each example.
        n_tokens: (R, N) target tokens (eos included) of each run on each example.
        resamples: bootstrap replicates.
        seed: seeds the resampling; the same seed gives the same intervals.

    Returns:
        (resamples, R) perplexities; row i uses the same resample for every run.
    """
    runs, n = nll_sum.shape
    rng = np.random.default_rng(seed)
    out = np.empty((resamples, runs))
    for start in range(0, resamples, CHUNK):
        size = min(CHUNK, resamples - start)
        # How often each example is drawn in each replicate: (size, N), rows sum to N.
        counts = rng.multinomial(n, np.full(n, 1.0 / n), size=size).astype(np.float64)
        out[start : start + size] = np.exp((counts @ nll_sum.T) / (counts @ n_tokens.T))
    return out


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
