"""Which checkpoint files a training writes, in which order, and what a failed write says.

After a validation: a weights-only step-<N>.pt snapshot (train.keep_checkpoints, the oldest
thinned away), selected.pt when the selection rule (train.select other than loss) chose this
step, best.pt on a better loss, and last.pt last: the files last.pt's counters refer to are on
disk before it, so a kill between two writes never leaves best.pt behind last.pt. Between
validations (a signal) only last.pt. Every file is written atomically (checkpoint.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from seq2seq import runs
from seq2seq.checkpoint import save_checkpoint
from seq2seq.config import TrainConfig
from seq2seq.errors import WriteError
from seq2seq.training.selection import thin

Payload = Callable[[], dict[str, Any]]  # built only when a file needs it


def save_checkpoints(
    run_dir: Path, step: int, train: TrainConfig, weights: Payload, full: Payload,
    resume: str, best: bool = False, selected: bool = False,
    validated: bool = False,
) -> None:
    """Write last.pt (`full`: model and training state), and after a validation the files it
    earned (`weights`: the model alone, for snapshots and selected.pt); `resume` is the command
    that continues the run, for the message of a failed write.

    Raises:
        WriteError: the disk is full or the folder read-only; it says how to continue.
    """
    try:
        write_checkpoints(run_dir, step, train, weights, full, best, selected, validated)
    except WriteError as error:  # a full disk: the files already there are intact
        then = (
            f"continue from the {runs.LAST} there with: "
            f"{resume}"
            if (run_dir / runs.LAST).is_file() else "start the run again"
        )
        raise WriteError(
            f"{error}; free some space or make the folder writable, then {then}"
        ) from None


def write_checkpoints(
    run_dir: Path, step: int, train: TrainConfig, weights: Payload, full: Payload,
    best: bool, selected: bool, validated: bool,
) -> None:
    """The files of `save_checkpoints`, in its order."""
    keep = train.keep_checkpoints
    if keep and validated:
        save_checkpoint(run_dir / runs.snapshot_name(step), weights())
        for old in thin(runs.snapshot_steps(run_dir), keep):
            (run_dir / runs.snapshot_name(old)).unlink(missing_ok=True)
    if selected and train.select != "loss":
        save_checkpoint(run_dir / runs.SELECTED, weights())
    payload = full()
    if best:
        save_checkpoint(run_dir / runs.BEST, payload)
    save_checkpoint(run_dir / runs.LAST, payload)
