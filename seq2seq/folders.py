"""Output folders (a run folder, the data cache, a comparison's reports): checked before any
work starts, so that a folder that cannot be written costs one line instead of a run.

    check_writable_folder(Path("runs/x"), "--run-dir runs/x", "choose another --run-dir")
"""

from __future__ import annotations

import os
from pathlib import Path

from seq2seq.errors import UserError


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
