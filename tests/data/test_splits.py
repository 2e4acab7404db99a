from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

import pytest

from seq2seq.config import DataConfig
from seq2seq.data.cornell import read_cornell
from seq2seq.data.examples import Split, build_examples
from seq2seq.data.splits import (
    assign_groups,
    duplicate_responses,
    split_examples,
    split_warnings,
)
from seq2seq.data.tsv import read_tsv
from seq2seq.errors import UserError


def test_raw_split_by_movie_never_leaks_a_test_response(raw_corpus: Path) -> None:
    examples = build_examples(read_cornell(raw_corpus), context_turns=2)
    splits = split_examples(examples, DataConfig())
    movies = {name: {e.group for e in group} for name, group in splits.items()}
    assert all(movies.values())  # 4 movies: every split gets at least one
    assert not (movies["train"] & movies["valid"] or movies["train"] & movies["test"])
    assert not movies["valid"] & movies["test"]
    seen_in_training = {line for e in splits["train"] for line in e.turn_ids}
    for name in ("valid", "test"):
        assert not {e.response_id for e in splits[name]} & seen_in_training
    assert sum(len(group) for group in splits.values()) == len(examples)


def test_tsv_split_by_chain_keeps_a_reply_out_of_the_next_training_prompt(
    tsv_corpus: Path,
) -> None:
    examples = build_examples(read_tsv(tsv_corpus), context_turns=1)
    splits = split_examples(examples, DataConfig(valid_fraction=0.2, test_fraction=0.2))
    split_of_row = {int(e.response_id.split()[1]): name for name, g in splits.items() for e in g}
    rows = [line.split("\t") for line in tsv_corpus.read_text(encoding="utf-8").splitlines()]
    replies = Counter(reply for _, reply in rows)
    chained = 0
    for number in range(2, len(rows) + 1):
        (_, reply), (prompt, _) = rows[number - 2], rows[number - 1]
        if prompt and prompt == reply and replies[reply] == 1:  # a reply no other row gives
            chained += 1
            assert split_of_row[number] == split_of_row[number - 1]
    assert chained > 100  # the fixture really has chains, so the check above can fail
    seen_in_training = {turn for e in splits["train"] for turn in e.turn_ids}
    assert not {e.response_id for e in splits["test"]} & seen_in_training


def test_splits_are_seeded() -> None:
    sizes = {f"m{i}": 10 for i in range(100)}
    config = DataConfig()
    assert assign_groups(sizes, config) == assign_groups(dict(reversed(sizes.items())), config)
    other = assign_groups(sizes, dataclasses.replace(config, split_seed=7))
    assert other != assign_groups(sizes, config)


def test_fractions_are_met_in_examples() -> None:
    sizes = {f"m{i}": 10 for i in range(200)}
    assignment = assign_groups(sizes, DataConfig(valid_fraction=0.1, test_fraction=0.05))
    counts = {name: list(assignment.values()).count(name) for name in ("train", "valid", "test")}
    assert counts == {"train": 170, "valid": 20, "test": 10}


def test_three_groups_give_one_each_and_fewer_are_refused() -> None:
    assignment = assign_groups({"a": 100, "b": 1, "c": 50}, DataConfig())
    assert sorted(assignment.values()) == ["test", "train", "valid"]
    with pytest.raises(UserError, match="only 2 movies or conversation chains"):
        assign_groups({"a": 5, "b": 5}, DataConfig())


def test_duplicate_responses_are_counted() -> None:
    def split(name: str, texts: list[str]) -> Split:
        return Split(name, [], [], [], texts)

    splits = {
        "train": split("train", ["Yes.", "No.", "Maybe later."]),
        "valid": split("valid", ["Yes.", "Why?"]),
        "test": split("test", ["No.", "Yes.", "Never."]),
    }
    assert duplicate_responses(splits) == {"valid": 1, "test": 2}


def split_stats(train: int, valid: int, test: int, groups: tuple[int, int, int]) -> dict:
    return {"format": "raw", "examples": {"train": train, "valid": valid, "test": test},
            "groups": dict(zip(("train", "valid", "test"), groups, strict=True))}


def test_split_warnings_name_a_split_larger_than_train_and_too_few_movies():
    # the raw excerpt of 3 movies: 126 train / 293 valid / 264 test
    warnings = split_warnings(split_stats(126, 293, 264, (1, 1, 1)))
    assert len(warnings) == 3
    assert "only 3 movies" in warnings[0]
    assert "valid split (293 examples) is larger than the training split (126)" in warnings[1]
    assert "test split (264" in warnings[2]
    assert split_warnings(split_stats(18790, 1047, 1035, (500, 30, 30))) == []
