"""Paths the user gives, in messages and checks: what a path that is not a regular file is,
and output folders (a run folder, the data cache, a comparison's reports) checked before any
work starts, so that a folder that cannot be written costs one line instead of a run.

    raise UserError(f"config file {path} {what_it_is(path)}")   # "... is a folder"
    check_writable_folder(Path("runs/x"), "--run-dir runs/x", "choose another --run-dir")
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from seq2seq.errors import UserError

KINDS = (
    (stat.S_ISDIR, "is a folder"),
    (stat.S_ISCHR, "is a character device"),
    (stat.S_ISBLK, "is a block device"),
    (stat.S_ISFIFO, "is a named pipe"),
    (stat.S_ISSOCK, "is a socket"),
)


def what_it_is(path: Path) -> str:
    """Why `path` is no regular file, to follow it in a message: "does not exist", "is a
    folder", "is a broken link (to X)", "is a character device", ..."""
    if path.is_symlink() and not path.exists():
        return f"is a broken link (to {os.readlink(path)})"
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return "does not exist"
    except OSError as error:
        return f"cannot be read ({error.strerror})"
    for test, kind in KINDS:
        if test(mode):
            return kind
    return "is a regular file" if stat.S_ISREG(mode) else "is not a regular file"


def check_writable_folder(folder: Path, what: str, fix: str) -> None:
    """Refuse, creating nothing, a folder that could not be created or written in.

    Args:
        folder: the folder, existing or to be created with its parents.
        what: how the message names it, e.g. "--out runs/x".
        fix: what to do instead, e.g. "choose another --out".

    Raises:
        UserError: the folder, or the nearest existing folder above it, is a file (or a broken
            link) or is not writable (permissions, or a read-only file system).
    """
    existing = folder
    while not existing.exists() and not existing.is_symlink() and existing != existing.parent:
        existing = existing.parent
    if existing.is_symlink() and not existing.exists():
        raise UserError(f"{what}: {existing} is a broken link; {fix}")
    if not existing.is_dir():
        raise UserError(f"{what}: {existing} is a file, not a folder; {fix}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"{what}: {existing} is not writable; {fix}")
