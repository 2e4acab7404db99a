"""The run folder around a training: checked before the data is prepared, claimed after.

Checked first, so that a folder that cannot take the run costs nothing: resuming needs a
last.pt, a new run needs none, and the folder must be writable. The data then takes a while, so
the folder is claimed only afterwards, under its lock: a second training of it stops with one
line, and one that saved there meanwhile is not overwritten. Claiming also cleans up after
killed saves and repairs a resumed run's lagging best.pt before the run's files are written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from seq2seq import runs
from seq2seq.checkpoint import remove_killed_saves
from seq2seq.config import Config
from seq2seq.errors import UserError
from seq2seq.paths import check_writable_folder
from seq2seq.tokenizer import Tokenizer
from seq2seq.training.repair import repair_best

Stamp = tuple[int, int, int] | None  # runs.last_stamp: which last.pt the folder held


def check_run_folder(
    run_dir: Path | None, runs_root: Path, arch: str, resume: bool
) -> tuple[Path, Stamp]:
    """The run folder (`run_dir`, else a new one under `runs_root`), checked for the run.

    Returns:
        The folder, and the stamp of its last.pt that `claim_run_folder` checks again.
    """
    folder = Path(run_dir or runs.new_run_dir(arch, runs_root))
    runs.check_run_dir(folder, resume)
    stamp = runs.last_stamp(folder)
    check_writable_folder(
        folder, f"--run-dir {folder}" if run_dir else f"run folder {folder}",
        "choose another --run-dir",
    )
    return folder, stamp


def claim_run_folder(
    run_dir: Path, resume: bool, stamp: Stamp, last: dict[str, Any] | None,
    config: Config, tokenizer: Tokenizer, model: torch.nn.Module,
) -> list[str]:
    """Lock the run folder, clean up after killed saves, repair a resumed run's lagging
    best.pt (`last`: its last.pt), write the run's files (main process only).

    Returns:
        The notices to log.
    """
    taken_over = runs.lock_run_dir(run_dir)
    try:  # the data took a while: another training may have saved here meanwhile
        runs.check_run_dir_unchanged(run_dir, resume, stamp)
    except UserError:
        runs.unlock_run_dir(run_dir)
        raise
    notices = [taken_over] if taken_over else []
    removed = remove_killed_saves(run_dir)
    if removed:
        names = ", ".join(path.name for path in removed)
        notices.append(f"removed what killed saves left in {run_dir}: {names}")
    repaired = repair_best(run_dir, last) if last is not None else None
    notices += [repaired] if repaired else []
    runs.write_run_files(run_dir, config, tokenizer, model)
    return notices
