"""Why a run stops: the limits in their order, a signal over all of them, and the non-finite
guard's counts, line and error."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from seq2seq.config import TrainConfig
from seq2seq.training.stopping import STOP_REASONS, NonfiniteGuard, TrainingDiverged, stop_reason


def reason(train: TrainConfig, step: int = 0, epoch: int = 0, bad_evals: int = 0,
           seconds: float = 0.0, budget: float | None = None, signum: int | None = None) -> str:
    return stop_reason(train, step, epoch, bad_evals, seconds, budget, signum)


def test_each_limit_stops_the_run_and_max_steps_overrides_epochs() -> None:
    train = TrainConfig(epochs=2, patience=3)
    assert reason(train, epoch=1, bad_evals=2, seconds=59.0, budget=1.0) == ""
    assert reason(train, epoch=2) == "epochs"
    assert reason(train, bad_evals=3) == "patience"
    assert reason(train, seconds=60.0, budget=1.0) == "time_budget"
    steps = TrainConfig(epochs=2, max_steps=5)
    assert reason(steps, step=4, epoch=9) == ""  # max_steps > 0: epochs do not count
    assert reason(steps, step=5) == "max_steps"
    assert reason(TrainConfig(patience=0), bad_evals=99) == ""  # patience 0: never


def test_a_signal_wins_over_every_other_reason() -> None:
    train = TrainConfig(max_steps=5)
    assert reason(train, step=5, signum=signal.SIGTERM) == "signal"
    assert STOP_REASONS.index("signal") == len(STOP_REASONS) - 1  # processes agree on the max


def test_the_guard_counts_rows_and_raises_at_its_limit(tmp_path: Path) -> None:
    guard = NonfiniteGuard(limit=2, total=4)  # 4: resumed from a checkpoint
    line = guard.skipped(7, float("nan"), float("inf"))
    assert line == (
        "step 8: non-finite loss (nan) or gradient norm (inf), update skipped (1 in a row)"
    )
    guard.check(7, tmp_path / "last.pt")  # one in a row: go on
    guard.passed()
    guard.skipped(8, float("nan"), 1.0)
    guard.skipped(8, float("nan"), 1.0)
    assert (guard.total, guard.in_row) == (7, 2)
    with pytest.raises(TrainingDiverged, match="2 non-finite steps in a row after step 8; no "):
        guard.check(8, tmp_path / "last.pt")
    (tmp_path / "last.pt").write_bytes(b"")
    with pytest.raises(TrainingDiverged, match="the last good checkpoint is .*last.pt"):
        guard.check(8, tmp_path / "last.pt")
