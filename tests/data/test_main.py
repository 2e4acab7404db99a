from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from seq2seq.data import prepare
from seq2seq.data.__main__ import main
from seq2seq.errors import ConfigError, run_cli

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_prints_the_statistics(
    tsv_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    args = ["--corpus", str(tsv_corpus), "--cache-dir", str(tmp_path)]
    main([*args, "--set", "data.vocab_size=1000", "--set", "data.max_tgt_len=12"])
    out = capsys.readouterr().out
    assert "rows" in out and "310" in out
    assert "examples before filtering: 310" in out
    assert "empty response" in out and "empty context" in out
    assert "response longer than data.max_tgt_len" in out
    assert "splits (by chain)" in out and "p99" in out and "(built)" in out
    # the chains are counted before the length filters: said, since they can outnumber examples
    assert "chains: every one the split was given, before the filters" in out


def test_reads_the_data_section_of_a_config(
    raw_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    config = REPO_ROOT / "configs" / "tiny-transformer.yaml"
    main(["--corpus", str(raw_corpus), "--config", str(config), "--cache-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert "splits (by movie)" in out
    assert "conversation names a missing line id" in out
    assert "asked for 1,000" in out  # tiny-transformer.yaml's data.vocab_size


def test_only_data_overrides_without_a_config(tsv_corpus: Path) -> None:
    with pytest.raises(ConfigError, match="only data"):
        main(["--corpus", str(tsv_corpus), "--set", "train.lr=1"])


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "seq2seq.data", "--corpus", str(tmp_path / "nope.tsv")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: corpus ") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_warns_about_splits_from_too_few_movies(
    raw_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    main(["--corpus", str(raw_corpus), "--cache-dir", str(tmp_path),
          "--set", "data.vocab_size=100"])
    assert "warning: the corpus has only" in capsys.readouterr().out


def raw_copy(raw_corpus: Path, folder: Path, conversations: str) -> Path:
    shutil.copytree(raw_corpus, folder)
    (folder / "movie_conversations.txt").write_text(conversations, encoding="latin-1")
    return folder


CORPORA = {  # name -> (how to make it in a folder, what the error must say)
    "no-tab.tsv": (
        lambda raw, tmp: write_bytes(tmp / "no-tab.tsv", b"Hello there\nHow are you?\n" * 20),
        "gives only 0 conversation chains with an exchange, and train, valid and test need at "
        "least 3: read 0 rows, 0 chains, 0 utterances; skipped 40 malformed row (expected "
        "prompt<TAB>reply)",
    ),
    "three-columns.tsv": (
        lambda raw, tmp: write_bytes(tmp / "three-columns.tsv", b"Hi.\tHello.\tBye.\n" * 20),
        "read 0 rows, 0 chains, 0 utterances; skipped 20 malformed row",
    ),
    "garbage.tsv": (
        lambda raw, tmp: write_bytes(tmp / "garbage.tsv", bytes(range(256)) * 50),
        "holds NUL bytes: it is a binary file or UTF-16/32 text",
    ),
    "utf-16.tsv": (
        lambda raw, tmp: write_bytes(tmp / "utf-16.tsv", "Hi.\tHello.\n".encode("utf-16") * 9),
        "is UTF-16 text, not UTF-8",
    ),
    "empty-conversations": (
        lambda raw, tmp: raw_copy(raw, tmp / "empty-conversations", ""),
        "gives only 0 movies with an exchange, and train, valid and test need at least 3: read "
        "32 utterances, 1 empty utterances, 0 conversations, 0 movies",
    ),
    "malformed-lists": (
        lambda raw, tmp: raw_copy(
            raw, tmp / "malformed-lists",
            "u0 +++$+++ u1 +++$+++ m0 +++$+++ [L1, L2]\n"
            "u0 +++$+++ u1 +++$+++ m1 +++$+++ ['L4', 'L5'\n"
            "u0 +++$+++ u1 +++$+++ m2 +++$+++ [1, 2]\n",
        ),
        "skipped 3 malformed line in movie_conversations.txt, 1 malformed line in "
        "movie_lines.txt",
    ),
    "/dev/zero": (
        lambda raw, tmp: Path("/dev/zero"),
        "corpus /dev/zero is a character device, not a file or a folder",
    ),
}


def write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("name", CORPORA)
def test_a_corpus_without_usable_rows_says_why_in_one_line(
    name: str, raw_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    make, expected = CORPORA[name]
    corpus = make(raw_corpus, tmp_path)
    if not corpus.exists():
        pytest.skip(f"{corpus} is not on this machine")
    with pytest.raises(SystemExit) as stop:
        run_cli(lambda: main(["--corpus", str(corpus), "--cache-dir", str(tmp_path / "cache")]))
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: corpus {corpus} ") and err.count("\n") == 1, err
    assert expected in err
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_a_full_disk_while_caching_is_one_line_and_keeps_the_cache(
    tsv_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    main(["--corpus", str(tsv_corpus), "--cache-dir", str(cache), "--set", "data.vocab_size=150"])
    before = {path: path.read_bytes() for path in cache.rglob("*") if path.is_file()}

    def full_disk(file, **arrays) -> None:
        Path(file).write_bytes(b"PK\x03\x04 the first bytes")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(np, "savez", full_disk)
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:  # another data config: another cache folder
        run_cli(lambda: main(["--corpus", str(tsv_corpus), "--cache-dir", str(cache),
                              "--set", "data.vocab_size=160"]))
    assert stop.value.code == 2
    assert capsys.readouterr().err == (
        f"error: cannot write the data cache in {cache} (No space left on device); it was left "
        "as it was (free some space, or choose another place: --cache-dir or $SEQ2SEQ_CACHE)\n"
    )
    assert {path: path.read_bytes() for path in cache.rglob("*") if path.is_file()} == before


@pytest.mark.parametrize("where", ["file", "under-a-file", "read-only"])
def test_a_cache_dir_that_cannot_be_written_is_refused_before_building(
    where: str, tsv_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    taken = tmp_path / "taken"
    taken.write_text("mine")
    cache = {"file": taken, "under-a-file": taken / "cache", "read-only": tmp_path / "cache"}[where]
    reason = f"{taken} is a file, not a folder"
    if where == "read-only":
        # what os.access says of a read-only folder (chmod does not stop root)
        monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != tmp_path)
        reason = f"{tmp_path} is not writable"
    monkeypatch.setattr(prepare, "build", lambda *args: pytest.fail("built before the check"))
    with pytest.raises(SystemExit) as stop:
        run_cli(lambda: main(["--corpus", str(tsv_corpus), "--cache-dir", str(cache)]))
    assert stop.value.code == 2
    assert capsys.readouterr().err == (
        f"error: data cache {cache}: {reason}; choose another with --cache-dir\n"
    )
    assert taken.read_text() == "mine"
