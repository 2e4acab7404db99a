"""Why a run stops: its limits (steps, epochs, patience, time budget), a signal, or divergence.

The reasons are ordered; with several processes, all stop for the largest index any of them
reports (a signal wins). Divergence is an error rather than a reason: after
train.max_nonfinite_steps updates in a row skipped for a non-finite loss or gradient norm.
"""

from __future__ import annotations

from pathlib import Path

from seq2seq.config import TrainConfig
from seq2seq.errors import UserError

STOP_REASONS = ("", "max_steps", "epochs", "patience", "time_budget", "signal")


class TrainingDiverged(UserError):
    """Too many optimizer steps in a row had a non-finite loss or gradient norm."""


def stop_reason(
    train: TrainConfig, step: int, epoch: int, bad_evals: int, train_seconds: float,
    time_budget: float | None, signum: int | None,
) -> str:
    """This process's reason to stop now (one of STOP_REASONS; "" to go on)."""
    reason = ""
    if train.max_steps and step >= train.max_steps:
        reason = "max_steps"
    elif not train.max_steps and epoch >= train.epochs:
        reason = "epochs"
    elif train.patience and bad_evals >= train.patience:
        reason = "patience"
    elif time_budget is not None and train_seconds >= time_budget * 60:
        reason = "time_budget"
    if signum is not None:
        reason = "signal"
    return reason


class NonfiniteGuard:
    """Counts updates skipped for a non-finite loss or gradient norm: in all (logged and
    saved) and in a row (a resumed run starts a new row)."""

    def __init__(self, limit: int, total: int = 0) -> None:
        self.limit, self.total, self.in_row = limit, total, 0

    def passed(self) -> None:
        """A finite update ends the row."""
        self.in_row = 0

    def skipped(self, step: int, loss: float, norm: float) -> str:
        """Count a skipped update after `step`; returns the line to log."""
        self.total += 1
        self.in_row += 1
        return (
            f"step {step + 1}: non-finite loss ({loss:.3g}) or gradient norm "
            f"({norm:.3g}), update skipped ({self.in_row} in a row)"
        )

    def check(self, step: int, last: Path) -> None:
        """Raise TrainingDiverged after `limit` skipped updates in a row (`last`: last.pt)."""
        if self.in_row < self.limit:
            return
        where = f"the last good checkpoint is {last}" if last.is_file() else (
            "no checkpoint was saved yet"
        )
        raise TrainingDiverged(
            f"training diverged: {self.in_row} non-finite steps in a row after "
            f"step {step}; {where}; try a lower train.lr, more warm-up, "
            "train.clip_norm, or train.precision=fp32"
        )
