"""valid/hits1_random, valid/hits1_generic and valid/context_gap: what validation logs is what
the relevance code computes for the saved weights on the fixed validation examples."""

from __future__ import annotations

import json

import pytest

from seq2seq.checkpoint import load_trained
from seq2seq.config import config_from_dict
from seq2seq.data import prepare_data
from seq2seq.errors import UserError
from seq2seq.training.validation import relevance_probe, relevance_scalars

KEYS = ("hits1_random", "hits1_generic", "context_gap")


def valid_lines(run_dir) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [row for row in map(json.loads, lines) if row["kind"] == "valid"]


def test_validation_logs_relevance_of_the_saved_weights(tiny_config, train_tiny, tmp_path,
                                                        data_cache, exchanges_corpus):
    # A larger validation split than the tiny default: 20 different replies are needed.
    config = tiny_config("gru", data={"valid_fraction": 0.2},
                         train={"max_steps": 4, "eval_interval": 2, "relevance_examples": 12})
    result = train_tiny(config, tmp_path / "run")
    rows = valid_lines(result.run_dir)
    assert [row["step"] for row in rows] == [2, 4]
    for row in rows:
        assert 0 <= row["hits1_random"] <= 1 and 0 <= row["hits1_generic"] <= 1
    trained = load_trained(result.run_dir / "last.pt")
    prepared = prepare_data(config.data, exchanges_corpus, cache_dir=data_cache)
    probe = relevance_probe(prepared.splits["valid"], prepared.splits["train"], 12,
                            config.data.split_seed)
    assert len(probe.src) == 12 and probe.distractors.candidates == 20
    again = relevance_scalars(trained.model, probe, trained.tokenizer, batch_size=5)
    for key in KEYS:
        assert rows[-1][key] == pytest.approx(again[key], abs=1e-6)


def test_without_relevance_examples_or_enough_replies_nothing_is_logged(
    tiny_config, train_tiny, tmp_path
):
    for name, train in (("off", {"relevance_examples": 0}), ("few", {})):  # 18 valid replies
        config = tiny_config("gru", train={"max_steps": 2, "eval_interval": 2, **train})
        result = train_tiny(config, tmp_path / name)
        (row,) = valid_lines(result.run_dir)
        assert not set(KEYS) & set(row)


def test_one_relevance_example_is_refused():
    with pytest.raises(UserError, match="train.relevance_examples"):
        config_from_dict({"model": {"arch": "gru"}, "train": {"relevance_examples": 1}})
