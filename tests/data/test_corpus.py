from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from seq2seq.data.corpus import corpus_files, locate_corpus, read_corpus, resolve_corpus
from seq2seq.data.download import RAW_SUBFOLDER
from seq2seq.errors import UserError


def test_a_missing_explicit_path_is_one_clear_line() -> None:
    with pytest.raises(UserError) as error:
        resolve_corpus("/nonexistent", download=False)
    message = str(error.value)
    assert "/nonexistent does not exist" in message
    assert "--corpus" in message and "CORNELL_CORPUS" in message and "\n" not in message


def test_raw_folder_tsv_file_and_the_zip_layout(
    raw_corpus: Path, tsv_corpus: Path, tmp_path: Path
) -> None:
    assert resolve_corpus(raw_corpus) == raw_corpus
    assert resolve_corpus(str(tsv_corpus)) == tsv_corpus
    assert locate_corpus(raw_corpus / "movie_lines.txt") == raw_corpus
    shutil.copytree(raw_corpus, tmp_path / RAW_SUBFOLDER)
    assert resolve_corpus(tmp_path) == tmp_path / RAW_SUBFOLDER


def test_a_folder_without_the_corpus_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="holds neither movie_lines.txt"):
        resolve_corpus(tmp_path)


def test_flag_beats_env_beats_default(
    raw_corpus: Path, tsv_corpus: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no corpora/cornell here: the default would need a download
    monkeypatch.setenv("CORNELL_CORPUS", str(tsv_corpus))
    assert resolve_corpus(None, download=False) == tsv_corpus
    assert resolve_corpus(raw_corpus, download=False) == raw_corpus
    monkeypatch.delenv("CORNELL_CORPUS")
    with pytest.raises(UserError, match="no corpus in corpora/cornell/"):
        resolve_corpus(None, download=False)
    shutil.copytree(raw_corpus, tmp_path / "corpora" / "cornell")
    assert resolve_corpus(None, download=False) == Path("corpora/cornell")


def test_read_corpus_picks_the_reader(raw_corpus: Path, tsv_corpus: Path) -> None:
    assert read_corpus(raw_corpus).format == "raw"
    assert read_corpus(tsv_corpus).format == "tsv"


def test_corpus_files(raw_corpus: Path, tsv_corpus: Path) -> None:
    assert corpus_files(tsv_corpus) == {"tsv": tsv_corpus}
    assert sorted(corpus_files(raw_corpus)) == [
        "movie_characters_metadata.txt",
        "movie_conversations.txt",
        "movie_lines.txt",
        "movie_titles_metadata.txt",
    ]


def test_a_path_that_is_neither_file_nor_folder_is_named_for_what_it_is(tmp_path: Path) -> None:
    pipe = tmp_path / "pipe.tsv"
    os.mkfifo(pipe)
    with pytest.raises(UserError, match=f"corpus {pipe} is a named pipe, not a file or a folder"):
        resolve_corpus(pipe, download=False)
    link = tmp_path / "link.tsv"
    link.symlink_to(tmp_path / "moved.tsv")
    with pytest.raises(UserError, match=f"corpus {link} is a broken link \\(to {tmp_path}"):
        resolve_corpus(link, download=False)
