"""Several runs of one setting as one entry: `compare.py --group NAME=RUN1,RUN2,RUN3`.

The runs of a group must differ only by `train.seed` (same data config, hence the same split
and tokenizer), so their spread is the seed-to-seed spread of the setting. Every figure is then
reported as mean +- sd (n) over the group's runs, sd being the sample standard deviation
(n - 1), and the differences between groups get a hierarchical bootstrap interval that
accounts for both sources of chance (Davison & Hinkley, 1997, section 3.8, two-stage
resampling): each replicate draws the examples with replacement once (shared by every run, the
comparison being paired) and, within each group independently, the runs with replacement; a
group's value is the mean over its drawn runs of each run's figure on the drawn examples. The
interval is the replicates' 2.5th to 97.5th percentile. With three seeds the seed stage is
coarse (a draw takes one of 10 multisets), so the interval is a description, not an exact
coverage guarantee.
"""

from __future__ import annotations

import glob
import itertools
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from seq2seq.checkpoint import Trained
from seq2seq.comparison.bootstrap import CHUNK, CONFIDENCE, RESAMPLES
from seq2seq.comparison.relevance import figures
from seq2seq.errors import UserError

SEED_KEY = "train.seed"


@dataclass(frozen=True)
class Group:
    """A named entry of the comparison and the indices of its runs among all compared runs."""

    name: str
    members: tuple[int, ...]


@dataclass
class Spread:
    """One figure of one group: mean, sample sd (None for one run), n and each run's value."""

    mean: float | None
    sd: float | None
    n: int
    values: dict[str, float | None] = field(default_factory=dict)


@dataclass
class GroupSummary:
    """A group's runs, their seeds and every table figure as a `Spread`, by metric key."""

    name: str
    runs: list[str]
    seeds: list[int]
    metrics: dict[str, Spread]
    # the relevance figures by `seq2seq.comparison.relevance.figures` key (empty: not ranked)
    relevance: dict[str, Spread] = field(default_factory=dict)


@dataclass
class GroupDifference:
    """value(b) - value(a) of one figure between two groups, with its hierarchical interval."""

    key: str
    a: str
    b: str
    difference: float
    lower: float
    upper: float
    resamples: int
    n_examples: int


def parse_group(text: str) -> tuple[str, list[str]]:
    """NAME=RUN1,RUN2,... (each item a path or a glob, e.g. runs/T-s*) as (NAME, paths)."""
    name, equals, items = text.partition("=")
    if not equals or not name or not items:
        raise UserError(f"--group {text}: write NAME=RUN1,RUN2,... (a glob such as runs/T-s* "
                        "may stand for several runs)")
    paths: list[str] = []
    for item in filter(None, items.split(",")):
        matches = sorted(glob.glob(item)) if glob.has_magic(item) else [item]
        if not matches:
            raise UserError(f"--group {name}: {item} matches no run")
        paths += matches
    return name, paths


def check_seeds_only(trained: list[Trained], labels: list[str], name: str) -> None:
    """Refuse a group whose runs differ by anything but train.seed, or share a seed."""
    first = trained[0].config.flat()
    for run, label in zip(trained[1:], labels[1:], strict=True):
        other = run.config.flat()
        keys = [key for key in sorted(first.keys() | other.keys())
                if key != SEED_KEY and first.get(key) != other.get(key)]
        if keys or run.tokenizer.fingerprint() != trained[0].tokenizer.fingerprint():
            what = ", ".join(keys) if keys else "the tokenizer"
            raise UserError(f"--group {name}: {labels[0]} and {label} differ by {what}; the "
                            f"runs of a group may differ only by {SEED_KEY}")
    seeds = [run.config.train.seed for run in trained]
    if len(set(seeds)) < len(seeds):
        raise UserError(f"--group {name}: two runs share {SEED_KEY} ({seeds}); a group holds "
                        "one run per seed")


def spread(values: list[float | None], labels: list[str]) -> Spread:
    """Mean and sample sd of the values (None when any is None: not measured for every run)."""
    per_run = dict(zip(labels, values, strict=True))
    if any(v is None for v in values):
        return Spread(None, None, len(values), per_run)
    sd = statistics.stdev(values) if len(values) > 1 else None
    return Spread(statistics.fmean(values), sd, len(values), per_run)


def format_spread(s: Spread, digits: int) -> str:
    """"mean +- sd (n)", or the value alone for a group of one."""
    if s.mean is None:
        return "n/a"
    if s.sd is None:
        return f"{s.mean:.{digits}f}"
    return f"{s.mean:.{digits}f} +- {s.sd:.{digits}f} ({s.n})"


# A per-run figure on resampled examples: (run index, counts (size, N)) -> (size,) values.
Statistic = Callable[[int, np.ndarray], np.ndarray]


def perplexity_statistic(nll_sum: np.ndarray, n_tokens: np.ndarray) -> Statistic:
    """Token perplexity of run r on the drawn examples (nll_sum, n_tokens: (R, N))."""
    return lambda r, counts: np.exp((counts @ nll_sum[r]) / (counts @ n_tokens[r]))


def top1_statistic(replies: list[list[str]]) -> Statistic:
    """The most frequent reply's share of run r's replies to the drawn examples."""
    onehots = []
    for texts in replies:
        ids = {text: i for i, text in enumerate(dict.fromkeys(texts))}
        onehot = np.zeros((len(texts), len(ids)))
        onehot[np.arange(len(texts)), [ids[t] for t in texts]] = 1.0
        onehots.append(onehot)  # (N, distinct replies)
    return lambda r, counts: (counts @ onehots[r]).max(axis=1) / counts.sum(axis=1)


def hierarchical_intervals(
    statistic: Statistic, groups: list[Group], n_examples: int, key: str,
    resamples: int = RESAMPLES, seed: int = 0, confidence: float = CONFIDENCE,
) -> list[GroupDifference]:
    """value(b) - value(a) for every pair of groups (a before b), with the two-stage bootstrap
    interval of the module docstring."""
    rng = np.random.default_rng(seed)
    full = np.ones((1, n_examples))
    observed = [float(np.mean([statistic(r, full)[0] for r in g.members])) for g in groups]
    replicates = np.empty((resamples, len(groups)))
    for start in range(0, resamples, CHUNK):
        size = min(CHUNK, resamples - start)
        counts = rng.multinomial(n_examples, np.full(n_examples, 1.0 / n_examples),
                                 size=size).astype(np.float64)  # (size, N)
        for j, group in enumerate(groups):
            per_run = np.stack([statistic(r, counts) for r in group.members], 1)  # (size, n)
            drawn = rng.integers(0, len(group.members), size=(size, len(group.members)))
            replicates[start : start + size, j] = np.take_along_axis(per_run, drawn, 1).mean(1)
    tail = 100 * (1 - confidence) / 2
    differences = []
    for a, b in itertools.combinations(range(len(groups)), 2):
        lower, upper = np.percentile(replicates[:, b] - replicates[:, a], [tail, 100 - tail])
        differences.append(GroupDifference(
            key, groups[a].name, groups[b].name, observed[b] - observed[a], float(lower),
            float(upper), resamples, n_examples))
    return differences


def summarize(
    groups: list[Group], trained: list[Trained], results: list, metrics: tuple
) -> list[GroupSummary]:
    """Each group's `Spread` of every metric in `metrics` and of every relevance figure (when
    every run was ranked) over its runs' `results`."""
    summaries = []
    for group in groups:
        runs = [results[i] for i in group.members]
        labels = [run.label for run in runs]
        ranked = [figures(run.relevance) for run in runs if run.relevance is not None]
        relevance = {} if len(ranked) < len(runs) else {
            key: spread([None if found[key] is None else found[key].difference
                         for found in ranked], labels)
            for key in ranked[0]}
        summaries.append(GroupSummary(
            group.name, labels, [trained[i].config.train.seed for i in group.members],
            {m.key: spread([getattr(run, m.key) for run in runs], labels) for m in metrics},
            relevance,
        ))
    return summaries
