from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from seq2seq.config import DataConfig
from seq2seq.data import encode_corpus, prepare_data
from seq2seq.data.__main__ import main as data_main
from seq2seq.data.prepare import STATS_SHAPE, fits
from seq2seq.errors import UserError
from seq2seq.tokenizer import Tokenizer


def prepare(config: DataConfig, corpus: Path, cache: Path):
    return prepare_data(config, corpus, cache_dir=cache, progress=False)


def test_tsv_fixture_is_prepared(tiny_config: DataConfig, tsv_corpus: Path, tmp_path: Path) -> None:
    data = prepare(tiny_config, tsv_corpus, tmp_path)
    assert set(data.splits) == {"train", "valid", "test"}
    assert all(len(split) > 0 for split in data.splits.values())
    assert data.corpus == tsv_corpus and not data.cached
    train = data.splits["train"]
    assert train.src[0].dtype == np.int32
    for ids in (*train.src, *train.tgt):
        assert (
            0 < len(ids) and data.tokenizer.bos_id not in ids and data.tokenizer.eos_id not in ids
        )
    assert max(len(t) for t in train.tgt) <= tiny_config.max_tgt_len
    assert data.tokenizer.vocab_size < tiny_config.vocab_size  # the soft limit at work
    stats = data.stats
    assert stats["examples_before_filtering"] == 310
    assert stats["dropped"] == {"empty response": 1, "empty context": 1}
    assert sum(stats["examples"].values()) == 308
    assert stats["tokenizer"]["vocab_size"] == data.tokenizer.vocab_size
    assert set(stats["lengths"]["context"]) == {"p50", "p90", "p99", "max"}


def test_tokenizer_sees_the_training_split_only(
    tiny_config: DataConfig, tsv_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    train = Tokenizer.train

    def spy(texts, *args, **kwargs):
        seen.extend(texts)
        return train(seen, *args, **kwargs)

    monkeypatch.setattr(Tokenizer, "train", spy)
    data = prepare(tiny_config, tsv_corpus, tmp_path)
    assert set(data.splits["train"].tgt_text) <= set(seen)
    assert not set(data.splits["test"].tgt_text) & set(seen) - set(data.splits["train"].tgt_text)


def test_second_call_hits_the_cache(
    tiny_config: DataConfig, tsv_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = prepare(tiny_config, tsv_corpus, tmp_path)

    def refuse(*args, **kwargs):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(Tokenizer, "train", refuse)
    second = prepare(tiny_config, tsv_corpus, tmp_path)
    assert second.cached and second.key == first.key
    assert second.tokenizer.fingerprint() == first.tokenizer.fingerprint()
    assert second.stats == first.stats
    for name, split in first.splits.items():
        again = second.splits[name]
        assert [a.tolist() for a in again.src] == [a.tolist() for a in split.src]
        assert [a.tolist() for a in again.tgt] == [a.tolist() for a in split.tgt]
        assert (again.src_text, again.tgt_text) == (split.src_text, split.tgt_text)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporaries


def test_changed_config_or_corpus_rebuilds(
    tiny_config: DataConfig, tsv_corpus: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    first = prepare(tiny_config, tsv_corpus, cache)
    shorter = prepare(dataclasses.replace(tiny_config, max_tgt_len=8), tsv_corpus, cache)
    assert shorter.key != first.key and not shorter.cached
    assert max(len(t) for t in shorter.splits["train"].tgt) <= 8
    copy = tmp_path / "copy.tsv"
    shutil.copy(tsv_corpus, copy)
    assert prepare(tiny_config, copy, cache).cached  # same content elsewhere: same data
    copy.write_text(tsv_corpus.read_text(encoding="utf-8") + "One more?\tYes.\n", "utf-8")
    edited = prepare(tiny_config, copy, cache)
    assert not edited.cached and edited.stats["examples_before_filtering"] == 311
    assert len(list(cache.iterdir())) == 3


def test_a_damaged_cache_is_rebuilt(
    tiny_config: DataConfig, tsv_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    first = prepare(tiny_config, tsv_corpus, tmp_path)
    (folder,) = tmp_path.iterdir()
    (folder / "train.npz").write_bytes(b"garbage")
    again = prepare(tiny_config, tsv_corpus, tmp_path)
    assert not again.cached and "rebuilding" in capsys.readouterr().err
    assert again.stats == first.stats
    assert prepare(tiny_config, tsv_corpus, tmp_path).cached


def without(stats: dict, *keys: str) -> dict:
    """A copy of stats without the nested key stats[keys[0]][keys[1]]..."""
    stats = json.loads(json.dumps(stats))
    inner = stats
    for key in keys[:-1]:
        inner = inner[key]
    del inner[keys[-1]]
    return stats


@pytest.mark.parametrize("damage", [
    lambda stats: json.dumps(without(stats, "tokenizer")),
    lambda stats: json.dumps(without(stats, "lengths", "context", "p99")),
    lambda stats: json.dumps(without(stats, "entropy_filter", "distribution")),
    lambda stats: json.dumps(stats)[:40],  # cut short: not JSON
    lambda stats: "[]",
])
def test_a_cache_whose_stats_lack_keys_or_are_not_json_is_rebuilt(
    damage, tsv_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    cache = tmp_path / "cache"
    args = ["--corpus", str(tsv_corpus), "--cache-dir", str(cache), "--set", "data.vocab_size=150"]
    data_main(args)
    (folder,) = cache.iterdir()
    first = json.loads((folder / "stats.json").read_text())
    assert fits(first, STATS_SHAPE)
    (folder / "stats.json").write_text(damage(first))
    capsys.readouterr()
    data_main(args)  # python -m seq2seq.data, which prints every statistic
    out, err = capsys.readouterr()
    assert err == f"warning: cached data in {folder} is damaged; rebuilding it\n"
    assert "(built)" in out
    assert json.loads((folder / "stats.json").read_text()) == first


def test_cache_dir_defaults_to_env(
    tiny_config: DataConfig, tsv_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEQ2SEQ_CACHE", str(tmp_path / "env-cache"))
    data = prepare_data(tiny_config, tsv_corpus, progress=False)
    assert (tmp_path / "env-cache" / data.key[:24]).is_dir()


def test_raw_corpus_multi_turn_and_stats(
    tiny_config: DataConfig, raw_corpus: Path, tmp_path: Path
) -> None:
    # The fixture's tokenizer knows one or two movies: other movies split into many pieces.
    config = dataclasses.replace(tiny_config, context_turns=3, max_src_len=500, max_tgt_len=500)
    data = prepare(config, raw_corpus, tmp_path)
    stats = data.stats
    assert stats["format"] == "raw" and stats["corpus"]["movies"] == 4
    assert stats["skipped"]["conversation names a missing line id"] == 1
    assert stats["dropped"] == {"empty response": 1, "empty context": 1}
    assert sum(stats["groups"].values()) == 4 and min(stats["groups"].values()) >= 1
    sep = data.tokenizer.sep_id
    all_src = [ids.tolist() for split in data.splits.values() for ids in split.src]
    assert any(sep in ids for ids in all_src)


def test_encode_corpus_uses_the_same_filters(
    tiny_config: DataConfig, tsv_corpus: Path, raw_corpus: Path, tmp_path: Path
) -> None:
    data = prepare(tiny_config, tsv_corpus, tmp_path)
    everything = encode_corpus(tsv_corpus, tiny_config, data.tokenizer)
    assert everything.name == "all"
    assert len(everything) == sum(len(split) for split in data.splits.values())
    assert sorted(everything.tgt_text) == sorted(
        text for split in data.splits.values() for text in split.tgt_text
    )
    external = encode_corpus(raw_corpus, tiny_config, data.tokenizer)
    assert 0 < len(external) <= 18  # 20 examples, one empty response, one empty context


def test_a_killed_build_s_temporary_folder_is_removed_by_the_next_build(
    tiny_config: DataConfig, tsv_corpus: Path, tmp_path: Path
) -> None:
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    cache = tmp_path / "cache"
    leftover = cache / f".{'0123abcd' * 3}.{finished.pid}.k1ll3d_x"  # as a killed build leaves it
    leftover.mkdir(parents=True)
    (leftover / "train.npz").write_bytes(b"half")
    live = cache / f".{'4567abcd' * 3}.{os.getpid()}.bu1ld1ng"  # a build in progress elsewhere
    live.mkdir()
    # the user's own files, named like a temporary of a dead process but not the project's
    theirs = [cache / f".thesis.{finished.pid}.bak", cache / f".project.{finished.pid}.d"]
    theirs[0].write_text("chapter 1")
    theirs[1].mkdir()
    prepare(tiny_config, tsv_corpus, cache)
    assert not leftover.exists() and live.is_dir()
    assert theirs[0].read_text() == "chapter 1" and theirs[1].is_dir()
    assert [p for p in cache.iterdir() if not p.name.startswith(".")]  # the new cache folder


def test_length_filters_that_drop_every_example_are_named_before_training(
    tiny_config: DataConfig, tsv_corpus: Path, tmp_path: Path
) -> None:
    config = dataclasses.replace(tiny_config, max_tgt_len=1)
    with pytest.raises(UserError, match=r"^the train split is empty: the length filters dropped "
                                        r"all its [\d,]+ examples \([\d,]+ with a response "
                                        r"longer than data.max_tgt_len\); raise data.max_tgt_len"):
        prepare(config, tsv_corpus, tmp_path)
