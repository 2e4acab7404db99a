"""python -m seq2seq.data.exchanges: the shared TSVs made again from (local copies of) their
sources. The sources are rebuilt here from the shared files themselves, so these tests check the
transformation and its SHA-256 checks, offline; that the public sources hold exactly these lines
is what a user with a network checks by running the command."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from seq2seq.data import exchanges
from seq2seq.errors import UserError

SHARED = Path(__file__).resolve().parents[3] / "shared" / "corpora" / "cornell"


def shared_bytes(name: str) -> bytes:
    path = SHARED / name
    if not path.is_file():
        pytest.skip(f"{path} is not beside the checkout")
    return path.read_bytes()


def write_sources(folder: Path, main_rows: bytes, formatted: str = "") -> Path:
    """test.enc and test.dec as the source repository would hold them: one side per line,
    some with surrounding blanks (stripped again), and lines after the 25,000 used;
    formatted_movie_lines.txt as given."""
    rows = [row.split("\t") for row in main_rows.decode("utf-8").split("\n")[:-1]]
    prompts = [f" {p}\t" if i % 97 == 0 else p for i, (p, _) in enumerate(rows)]
    replies = [f"{r}  " if i % 89 == 0 else r for i, (_, r) in enumerate(rows)]
    folder.mkdir()
    (folder / "test.enc").write_text("\n".join([*prompts, "later prompt", ""]), encoding="utf-8")
    (folder / "test.dec").write_text("\n".join([*replies, "later reply", ""]), encoding="utf-8")
    (folder / "formatted_movie_lines.txt").write_text(formatted, encoding="utf-8")
    return folder


def test_the_25k_file_comes_back_byte_for_byte(tmp_path: Path, capsys) -> None:
    shared = shared_bytes(exchanges.MAIN.name)
    source = write_sources(tmp_path / "source", shared)
    assert exchanges.main(["--out", str(tmp_path / "out"), "--source", str(source)]) == 0
    made = (tmp_path / "out" / exchanges.MAIN.name).read_bytes()
    assert made == shared
    assert hashlib.sha256(made).hexdigest() == exchanges.MAIN.sha256
    assert "as shared" in capsys.readouterr().out
    assert not (tmp_path / "out" / exchanges.EXTRA.name).exists()  # only with --extra


def test_the_extra_rows_are_the_new_distinct_lines_in_file_order(tmp_path: Path) -> None:
    shared, extra = shared_bytes(exchanges.MAIN.name), shared_bytes(exchanges.EXTRA.name)
    main_lines = shared.decode("utf-8").split("\n")[:-1]
    extra_lines = extra.decode("utf-8").split("\n")[:-1]
    # Interleave known rows and repeats with the new rows, as the tutorial-format file would.
    formatted = []
    for i, line in enumerate(extra_lines):
        formatted.append(line)
        if i % 50 == 0:
            formatted += [main_lines[i], extra_lines[i // 2]]
    source = write_sources(tmp_path / "source", shared, "\n".join(formatted) + "\n")
    exchanges.main(["--out", str(tmp_path / "out"), "--source", str(source), "--extra"])
    assert (tmp_path / "out" / exchanges.EXTRA.name).read_bytes() == extra


def test_sides_are_paired_cleaned_and_split_on_newlines_only() -> None:
    prompts = "a\tb \n\u0085 c\u0085d\n"
    replies = "x\n  y\t\n"
    assert exchanges.pair_lines(prompts, replies, rows=2) == "a b\tx\nc\u0085d\ty\n".encode()
    with pytest.raises(UserError, match="hold 2 prompts and 2 replies; 3 of each"):
        exchanges.pair_lines(prompts, replies, rows=3)


def test_a_different_file_is_refused_and_nothing_written(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    (source / "test.enc").write_text("hello\n" * exchanges.MAIN_ROWS, encoding="utf-8")
    (source / "test.dec").write_text("hi\n" * exchanges.MAIN_ROWS, encoding="utf-8")
    out = tmp_path / "out"
    with pytest.raises(UserError, match=r"SHA-256 [0-9a-f]{64}, not d1604c14.*: not written$"):
        exchanges.main(["--out", str(out), "--source", str(source)])
    assert not out.exists()


def test_a_missing_source_file_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="test.enc does not exist .--source needs test.enc"):
        exchanges.main(["--out", str(tmp_path / "out"), "--source", str(tmp_path)])
