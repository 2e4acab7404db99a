"""Paths in messages and checks: an input that is no regular file is named for what it is;
output folders are checked before any work (a file in the way, a broken link or a read-only
place is one line naming it, and nothing is created)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from seq2seq.checkpoint import load_checkpoint
from seq2seq.config import load_config
from seq2seq.errors import ConfigError, UserError
from seq2seq.paths import check_writable_folder, what_it_is


def check(folder: Path) -> None:
    check_writable_folder(folder, f"--out {folder}", "choose another --out")


def test_a_new_or_existing_writable_folder_passes_and_nothing_is_created(tmp_path: Path) -> None:
    check(tmp_path)
    check(tmp_path / "a" / "b")
    assert not (tmp_path / "a").exists()


def test_a_file_in_the_way_is_named(tmp_path: Path) -> None:
    taken = tmp_path / "taken"
    taken.write_text("mine")
    for folder in (taken, taken / "sub" / "folder"):
        with pytest.raises(UserError) as error:
            check(folder)
        assert str(error.value) == (
            f"--out {folder}: {taken} is a file, not a folder; choose another --out"
        )
    assert taken.read_text() == "mine"


def test_a_broken_link_is_named(tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "gone")
    with pytest.raises(UserError, match=f"{link} is a broken link; choose another --out"):
        check(link / "out")


def test_a_read_only_place_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Simulates a read-only folder the way the check sees one (chmod does not stop root, and a
    # read-only file system needs a mount): os.access says it cannot be written.
    def access(path, mode) -> bool:
        return Path(path) != tmp_path or not mode & os.W_OK

    monkeypatch.setattr(os, "access", access)
    with pytest.raises(UserError, match=f"--out {tmp_path / 'x'}: {tmp_path} is not writable"):
        check(tmp_path / "x")


def test_what_a_path_that_is_no_regular_file_is(tmp_path: Path) -> None:
    pipe, link = tmp_path / "pipe", tmp_path / "link"
    os.mkfifo(pipe)
    link.symlink_to(tmp_path / "gone")
    assert what_it_is(tmp_path / "missing") == "does not exist"
    assert what_it_is(tmp_path) == "is a folder"
    assert what_it_is(pipe) == "is a named pipe"
    assert what_it_is(link) == f"is a broken link (to {tmp_path / 'gone'})"
    if Path("/dev/null").exists():
        assert what_it_is(Path("/dev/null")) == "is a character device"


@pytest.mark.parametrize("where", ["folder", "pipe"])
def test_input_files_that_are_no_files_are_named_for_what_they_are(tmp_path: Path, where) -> None:
    path = tmp_path / "input"
    path.mkdir() if where == "folder" else os.mkfifo(path)
    kind = "is a folder" if where == "folder" else "is a named pipe"
    with pytest.raises(ConfigError, match=f"config file {path} {kind} \\(see configs/"):
        load_config(path)
    with pytest.raises(UserError, match=f"checkpoint {path} {kind}$"):
        load_checkpoint(path)
