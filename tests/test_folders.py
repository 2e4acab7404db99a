"""Output folders are checked before any work: a file in the way, a broken link or a read-only
place is one line naming it, and nothing is created."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from seq2seq.errors import UserError
from seq2seq.folders import check_writable_folder


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
