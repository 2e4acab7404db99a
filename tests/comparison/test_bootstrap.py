import numpy as np
import pytest

from seq2seq.comparison.bootstrap import (
    bootstrap_perplexities,
    perplexity_difference_intervals,
    pooled_perplexity,
    ratio_interval,
)


def scores(seed: int = 0, n: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Two runs on the same n examples; run 1 is worse by about 0.3 nats per token."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(1, 20, size=n).astype(float)
    base = rng.gamma(4.0, 0.8, size=n) * tokens
    worse = base + rng.normal(0.3, 0.5, size=n) * tokens
    return np.stack([base, worse]), np.stack([tokens, tokens])


def test_perplexity_is_exp_of_total_nll_over_total_tokens():
    nll, tokens = np.array([2.0, 4.0]), np.array([1.0, 3.0])
    assert pooled_perplexity(nll, tokens) == pytest.approx(np.exp(6.0 / 4.0))


def test_interval_contains_the_observed_difference_and_is_ordered():
    nll, tokens = scores()
    (interval,) = perplexity_difference_intervals(nll, tokens, [(0, 1)], seed=3)
    observed = pooled_perplexity(nll[1], tokens[1]) - pooled_perplexity(nll[0], tokens[0])
    assert interval.difference == pytest.approx(observed)
    assert interval.lower <= interval.difference <= interval.upper
    assert interval.lower < interval.upper
    assert interval.lower > 0  # a clear difference is significant
    assert (interval.resamples, interval.n) == (1000, 200)


def test_interval_straddles_zero_for_identical_runs_and_flips_with_the_pair():
    nll, tokens = scores()
    same = perplexity_difference_intervals(
        np.stack([nll[0], nll[0]]), tokens, [(0, 1)], seed=1
    )[0]
    assert same.lower == same.upper == same.difference == 0.0
    forward, backward = perplexity_difference_intervals(nll, tokens, [(0, 1), (1, 0)], seed=1)
    assert backward.difference == pytest.approx(-forward.difference)
    assert backward.lower == pytest.approx(-forward.upper)


def test_resampling_is_paired_and_seeded():
    nll, tokens = scores(n=50)
    a = bootstrap_perplexities(nll, tokens, resamples=250, seed=7)
    b = bootstrap_perplexities(nll, tokens, resamples=250, seed=7)
    assert a.shape == (250, 2)
    np.testing.assert_array_equal(a, b)
    # Paired: the same resample for both runs, so identical runs get identical replicates.
    twin = bootstrap_perplexities(np.stack([nll[0], nll[0]]), tokens, resamples=250, seed=7)
    np.testing.assert_array_equal(twin[:, 0], twin[:, 1])
    assert not np.allclose(a, bootstrap_perplexities(nll, tokens, resamples=250, seed=8))


def test_ratio_interval_of_a_mean_and_of_a_paired_difference_per_token():
    hits = np.array([1.0] * 10 + [0.0] * 90)
    interval = ratio_interval(hits, np.ones(100), seed=2)
    assert interval.difference == pytest.approx(0.1)
    assert 0.03 < interval.lower < 0.1 < interval.upper < 0.17
    assert (interval.resamples, interval.n) == (1000, 100)
    # Paired: a constant gap of 0.5 nats on every token has no spread at all.
    tokens = np.arange(1.0, 51.0)
    gap = ratio_interval(0.5 * tokens, tokens, seed=2)
    assert gap.difference == gap.lower == gap.upper == pytest.approx(0.5)
