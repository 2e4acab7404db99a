"""What a killed process leaves behind: half-written temporary files and stale locks.

Temporary names carry the writer's process id (`.last.pt.<pid>.tmp`, `.<cache key>.<pid>.xxxx`),
so a later run can tell a leftover of a dead process from the work of a live one, and remove it.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path


def pid_alive(pid: int) -> bool:
    """Whether process `pid` exists on this machine (ours always does)."""
    if pid == os.getpid():
        return True
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)  # signal 0: only checks that the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, it is someone else's
    return True


def remove_leftovers(folder: Path, pattern: re.Pattern[str]) -> list[Path]:
    """Remove the entries of `folder` whose name matches `pattern` (a group named "pid") and
    whose process is gone; returns what was removed."""
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for path in folder.iterdir():
        match = pattern.fullmatch(path.name)
        if match is None or pid_alive(int(match["pid"])):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed
