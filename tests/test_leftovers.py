"""Leftovers of killed processes: told apart from live work by the pid in their names."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from seq2seq.leftovers import pid_alive, remove_leftovers


def dead_pid() -> int:
    """The pid of a process that has ended."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_pid_alive() -> None:
    assert pid_alive(os.getpid())
    assert not pid_alive(dead_pid())
    assert not pid_alive(0)


def test_only_leftovers_of_dead_processes_are_removed(tmp_path: Path) -> None:
    pattern = re.compile(r"\..+\.(?P<pid>\d+)\.tmp")
    dead, live = tmp_path / f".last.pt.{dead_pid()}.tmp", tmp_path / f".best.pt.{os.getpid()}.tmp"
    folder = tmp_path / f".key.{dead_pid()}.tmp"
    for path in (dead, live, tmp_path / "last.pt"):
        path.write_bytes(b"x")
    folder.mkdir()
    (folder / "stats.json").write_text("{}")
    assert sorted(remove_leftovers(tmp_path, pattern)) == sorted([dead, folder])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, "last.pt"])
