"""data.direction: backward and reply-LM models read the forward model's examples, from its
cache folder and with its tokenizer, sides swapped or the prompt emptied."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from seq2seq.config import DataConfig
from seq2seq.data import encode_corpus, prepare_data
from seq2seq.data.splits import SPLITS
from seq2seq.errors import ConfigError
from seq2seq.tokenizer import empty_source


def prepare(config: DataConfig, corpus: Path, cache: Path):
    return prepare_data(config, corpus, cache_dir=cache, progress=False)


def same_arrays(first: list[np.ndarray], second: list[np.ndarray]) -> bool:
    return len(first) == len(second) and all(
        np.array_equal(a, b) for a, b in zip(first, second, strict=True)
    )


def test_backward_splits_are_the_forward_splits_swapped(
    tiny_config: DataConfig, tsv_corpus: Path, tmp_path: Path
) -> None:
    forward = prepare(tiny_config, tsv_corpus, tmp_path)
    backward = prepare(dataclasses.replace(tiny_config, direction="backward"), tsv_corpus, tmp_path)
    assert backward.cached and backward.key == forward.key  # one cache folder, one tokenizer
    assert backward.tokenizer.fingerprint() == forward.tokenizer.fingerprint()
    for name in SPLITS:
        ahead, behind = forward.splits[name], backward.splits[name]
        assert len(ahead) > 0
        assert same_arrays(behind.src, ahead.tgt) and same_arrays(behind.tgt, ahead.src)
        assert behind.src_text == ahead.tgt_text and behind.tgt_text == ahead.src_text


def test_reply_lm_splits_hold_the_forward_replies_after_an_empty_source(
    tiny_config: DataConfig, tsv_corpus: Path, tmp_path: Path
) -> None:
    forward = prepare(tiny_config, tsv_corpus, tmp_path)
    lm = prepare(dataclasses.replace(tiny_config, direction="reply_lm"), tsv_corpus, tmp_path)
    assert lm.tokenizer.fingerprint() == forward.tokenizer.fingerprint()
    empty = empty_source(lm.tokenizer.eos_id)
    assert empty == [lm.tokenizer.eos_id]
    for name in SPLITS:
        assert same_arrays(lm.splits[name].tgt, forward.splits[name].tgt)
        assert lm.splits[name].tgt_text == forward.splits[name].tgt_text
        assert all(np.array_equal(src, empty) for src in lm.splits[name].src)
        assert set(lm.splits[name].src_text) == {""}


def test_a_backward_first_build_gives_the_forward_data(
    tiny_config: DataConfig, tsv_corpus: Path, tmp_path: Path
) -> None:
    """Built from scratch backward (empty cache), then read forward: the folder it wrote is the
    forward one."""
    backward = prepare(dataclasses.replace(tiny_config, direction="backward"), tsv_corpus, tmp_path)
    forward = prepare(tiny_config, tsv_corpus, tmp_path)
    assert not backward.cached and forward.cached
    assert same_arrays(forward.splits["test"].src, backward.splits["test"].tgt)


def test_encode_corpus_reads_the_direction(tiny_config: DataConfig, tsv_corpus: Path,
                                           tmp_path: Path) -> None:
    tokenizer = prepare(tiny_config, tsv_corpus, tmp_path).tokenizer
    forward = encode_corpus(tsv_corpus, tiny_config, tokenizer)
    backward = encode_corpus(
        tsv_corpus, dataclasses.replace(tiny_config, direction="backward"), tokenizer
    )
    assert same_arrays(backward.src, forward.tgt) and backward.src_text == forward.tgt_text


def test_an_unknown_direction_is_refused(tiny_config: DataConfig) -> None:
    with pytest.raises(ConfigError, match="data.direction"):
        dataclasses.replace(tiny_config, direction="sideways").validate()
