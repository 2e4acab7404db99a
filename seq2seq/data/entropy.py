"""Entropy-based data filtering, identity variant (Csáky, Purgai & Recski, ACL 2019).

Generic utterances ("What?", "I don't know.") are paired with many different utterances across a
corpus. Over the training pairs (s, t), utterances compared after the data's normalisation:

    H_tgt(u) = sum_t p(t | u) log2(1 / p(t | u))   the entropy of the replies to u  (u a source)
    H_src(u) = sum_s p(s | u) log2(1 / p(s | u))   the entropy of what u replies to (u a target)

with p(t | u) = count(u, t) / count(u, .) and likewise for p(s | u). `data.filter` drops the
training pairs whose source has H_tgt above `data.filter_threshold` bits ("source"), whose target
has H_src above it ("target"), or either ("both"). "Identity" means that an utterance is its exact
normalised text; the paper's other variants first cluster utterances by sentence embeddings.

The source of a pair is the utterance it answers: its last context turn (the whole context when
`data.context_turns` is 1, the paper's setting). Only the training split is filtered, after the
tokenizer is trained on all of it, so runs with and without the filter share one tokenizer and one
validation and test split, and `compare.py` can compare them.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from seq2seq.data.examples import Example

SIDES = {"source": ("source",), "target": ("target",), "both": ("source", "target")}
DROP_REASON = "high-entropy {} (data.filter)"
THRESHOLDS = (0.5, 1.0, 2.0, 3.0, 4.0, 5.0)  # reported to help choose data.filter_threshold
TOP_DROPPED = 10


def entropy_bits(counts: Counter[str]) -> float:
    """Entropy in bits of the distribution the counts describe (0.0 for one outcome)."""
    total = sum(counts.values())
    return sum(n / total * math.log2(total / n) for n in counts.values())


def utterance_entropies(
    pairs: list[tuple[str, str]],
) -> tuple[dict[str, float], dict[str, float]]:
    """The entropies of every utterance of some (source, target) pairs.

    Returns:
        H_tgt of each source utterance (over the targets it is paired with) and H_src of each
        target utterance (over the sources it is paired with), in bits.
    """
    replies: defaultdict[str, Counter[str]] = defaultdict(Counter)
    prompts: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for source, target in pairs:
        replies[source][target] += 1
        prompts[target][source] += 1
    return (
        {u: entropy_bits(counts) for u, counts in replies.items()},
        {u: entropy_bits(counts) for u, counts in prompts.items()},
    )


@dataclass
class FilterResult:
    """The training examples kept, and what the filter (and the other thresholds) would drop."""

    kept: list[Example]
    dropped: Counter[str]  # by reason, as in the length filters' table
    top_dropped: list[tuple[str, int]]  # the most frequent high-entropy utterances dropped
    stats: dict[str, Any]  # JSON-able: the setting, the counts, the entropy distribution


def filter_examples(
    examples: list[Example], normalize: Callable[[str], str], mode: str, threshold: float
) -> FilterResult:
    """Drop the examples whose `mode` side ("none", "source", "target", "both") is high-entropy.

    Args:
        examples: the training split's examples (before the length filters).
        normalize: the data's normalisation of one utterance (`Tokenizer.normalize_text`).
        mode: `data.filter`; threshold: `data.filter_threshold`, in bits.
    """
    cache: dict[str, str] = {}

    def norm(text: str) -> str:
        if text not in cache:
            cache[text] = normalize(text)
        return cache[text]

    pairs = [(norm(e.context[-1]), norm(e.response)) for e in examples]
    source_h, target_h = utterance_entropies(pairs)
    sides = SIDES.get(mode, ())
    kept, dropped, utterances = [], Counter(), Counter()
    for example, (source, target) in zip(examples, pairs, strict=True):
        high = [
            side for side, text, h in (("source", source, source_h), ("target", target, target_h))
            if side in sides and h[text] > threshold
        ]
        if not high:
            kept.append(example)
            continue
        dropped[DROP_REASON.format(high[0])] += 1
        utterances.update(source if side == "source" else target for side in high)
    top = utterances.most_common(TOP_DROPPED)
    stats = {
        "filter": mode,
        "threshold": threshold,
        "pairs": len(examples),
        "dropped": len(examples) - len(kept),
        "top_dropped": [[text, count] for text, count in top],
        "distribution": entropy_distribution(pairs, source_h, target_h),
    }
    return FilterResult(kept, dropped, top, stats)


def entropy_distribution(
    pairs: list[tuple[str, str]], source_h: dict[str, float], target_h: dict[str, float]
) -> dict[str, Any]:
    """How many pairs each setting would drop at each of `THRESHOLDS`, and the entropy of the
    most generic utterances: what `python -m seq2seq.data` shows to choose a threshold."""
    by_pair = [(source_h[s], target_h[t]) for s, t in pairs]
    would_drop = {
        str(t): {
            "source": sum(hs > t for hs, _ in by_pair),
            "target": sum(ht > t for _, ht in by_pair),
            "both": sum(hs > t or ht > t for hs, ht in by_pair),
        }
        for t in THRESHOLDS
    }
    highest = {
        side: [[u, round(h, 2)] for u, h in sorted(table.items(), key=lambda kv: -kv[1])[:5]]
        for side, table in (("source", source_h), ("target", target_h))
    }
    return {"would_drop": would_drop, "highest": highest}


def filter_summary(stats: dict[str, Any]) -> str | None:
    """One line for a `FilterResult.stats`: what the filter dropped (None when it is off)."""
    if stats["filter"] == "none":
        return None
    share = stats["dropped"] / max(stats["pairs"], 1)
    top = ", ".join(f"{text!r} ({count:,})" for text, count in stats["top_dropped"][:5])
    return (
        f"entropy filter ({stats['filter']}, > {stats['threshold']:g} bits): dropped "
        f"{stats['dropped']:,} of {stats['pairs']:,} training pairs ({share:.1%}); "
        f"most frequent: {top or '(none)'}"
    )


def threshold_table(stats: dict[str, Any]) -> list[str]:
    """Lines: how many training pairs each `data.filter` would drop at each threshold."""
    lines = [f"{'training pairs above an entropy threshold:':<44}  source  target    both"]
    for threshold, counts in stats["distribution"]["would_drop"].items():
        lines.append(
            f"  > {float(threshold):g} bits".ljust(44)
            + "".join(f"{counts[side]:>8,}" for side in ("source", "target", "both"))
        )
    return lines
