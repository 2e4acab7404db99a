"""Train/valid/test splits by group: by movie for the raw corpus, by conversation chain for a TSV.

Whole groups go to one split, so no test response (nor the line after it, nor anything else from
its movie) is seen in training. Groups are shuffled with `data.split_seed`, then test and valid
take groups until they hold their fraction of the examples; every split gets at least one group.
"""

from __future__ import annotations

import random

from seq2seq.config import DataConfig
from seq2seq.data.examples import Example, Split
from seq2seq.errors import UserError

SPLITS = ("train", "valid", "test")


class TooFewGroups(UserError):
    """Fewer movies or conversation chains than there are splits."""

    def __init__(self, groups: int) -> None:
        super().__init__(
            f"the corpus has only {groups} movies or conversation chains; "
            f"train, valid and test need at least {len(SPLITS)}"
        )
        self.groups = groups


def assign_groups(sizes: dict[str, int], config: DataConfig) -> dict[str, str]:
    """Map each group to a split name.

    Args:
        sizes: examples per group.
        config: supplies valid_fraction, test_fraction and split_seed.
    """
    if len(sizes) < len(SPLITS):
        raise TooFewGroups(len(sizes))
    order = sorted(sizes)
    random.Random(config.split_seed).shuffle(order)
    total = sum(sizes.values())
    assignment: dict[str, str] = {}
    position = 0
    # Test first, then valid; `leave` groups must remain for the splits still to be filled.
    for name, fraction, leave in (
        ("test", config.test_fraction, 2),
        ("valid", config.valid_fraction, 1),
    ):
        taken = 0
        while position < len(order) - leave and (taken == 0 or taken < fraction * total):
            assignment[order[position]] = name
            taken += sizes[order[position]]
            position += 1
    for group in order[position:]:
        assignment[group] = "train"
    return assignment


def split_examples(examples: list[Example], config: DataConfig) -> dict[str, list[Example]]:
    """Partition examples into train/valid/test by their group (order kept within a split)."""
    sizes: dict[str, int] = {}
    for example in examples:
        sizes[example.group] = sizes.get(example.group, 0) + 1
    assignment = assign_groups(sizes, config)
    splits: dict[str, list[Example]] = {name: [] for name in SPLITS}
    for example in examples:
        splits[assignment[example.group]].append(example)
    return splits


def duplicate_responses(splits: dict[str, Split]) -> dict[str, int]:
    """How many valid/test responses have an exact-text twin among the training responses.

    Common replies ("Yes.", "What?") recur across movies; this is reported, not filtered.
    """
    seen = set(splits["train"].tgt_text)
    return {name: sum(text in seen for text in splits[name].tgt_text) for name in ("valid", "test")}


MIN_GROUPS = 10  # fewer movies or chains cannot give splits near the configured fractions


def split_warnings(stats: dict) -> list[str]:
    """Warnings about splits that cannot be trusted, from `prepared.stats`: a valid or test
    split larger than the training split, or too few movies/chains to split at all well."""
    unit = "movies" if stats["format"] == "raw" else "conversation chains"
    examples, groups = stats["examples"], stats["groups"]
    total_groups = sum(groups.values())
    warnings = []
    if total_groups < MIN_GROUPS:
        warnings.append(
            f"warning: the corpus has only {total_groups} {unit} to split by; splits are "
            f"{examples['train']:,} train / {examples['valid']:,} valid / "
            f"{examples['test']:,} test examples, far from data.valid_fraction and "
            f"data.test_fraction (use a larger corpus)"
        )
    for name in ("valid", "test"):
        if examples[name] > examples["train"]:
            warnings.append(
                f"warning: the {name} split ({examples[name]:,} examples) is larger than the "
                f"training split ({examples['train']:,}); check data.valid_fraction and "
                f"data.test_fraction, or use a corpus with more {unit}"
            )
    return warnings
