"""How long a run will take on this machine, measured on its first steps.

After `ESTIMATE_AFTER` optimizer updates of a session (the first step, which warms up the
allocator and any lazy initialisation, is left out of the rate), the loop prints one line:

    estimate on cpu: 2.41 s/step, 1 h 50 min per epoch, 11 days for the run's remaining
    400,000 of 400,000 steps (training only, validation excluded)

and on a CPU, when the run would take longer than `LONG_RUN_HOURS`, the hint train.py gives
(the config that suits one).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

ESTIMATE_AFTER = 6  # updates measured before the estimate (the first one is not counted)
LONG_RUN_HOURS = 3.0


@dataclass
class Pace:
    """A training session's clock: where it started (step, training seconds) and how long its
    first update took, which the rate leaves out (it warms up the allocator and lazy set-up)."""

    start_step: int
    start_seconds: float
    first_step_seconds: float | None = None

    def record(self, seconds: float) -> None:
        """One update's training seconds (only the session's first is kept)."""
        if self.first_step_seconds is None:
            self.first_step_seconds = seconds

    def seconds_per_step(self, step: int, train_seconds: float) -> float | None:
        """Mean training seconds per update in this session, the first update excluded
        (None until there are two)."""
        steps = step - self.start_step
        if steps < 2 or self.first_step_seconds is None:
            return None
        return (train_seconds - self.start_seconds - self.first_step_seconds) / (steps - 1)

    def estimate_due(self, step: int) -> bool:
        """Whether `step` is the session's update after which the estimate is printed."""
        return step - self.start_step == ESTIMATE_AFTER


def format_duration(seconds: float) -> str:
    """A rough human duration: `42 s`, `17 min`, `3 h 05 min`, `11 days`."""
    if not math.isfinite(seconds):
        return "unknown"
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = seconds / 60
    if minutes < 90:
        return f"{minutes:.0f} min"
    hours = minutes / 60
    if hours < 48:
        return f"{int(hours)} h {int(minutes % 60):02d} min"
    return f"{hours / 24:.0f} days"


def estimate_line(
    device: str, seconds_per_step: float, steps_per_epoch: int, steps_left: int | None,
    total_steps: int | None, budget_seconds_left: float | None,
) -> str:
    """The estimate for the rest of the run (`steps_left` of `total_steps`; None: unknown)."""
    parts = [
        f"{seconds_per_step:.3g} s/step",
        f"{format_duration(seconds_per_step * steps_per_epoch)} per epoch",
    ]
    if steps_left is not None and total_steps is not None:
        parts.append(
            f"{format_duration(seconds_per_step * steps_left)} for the run's remaining "
            f"{steps_left:,} of {total_steps:,} steps"
        )
    if budget_seconds_left is not None:
        parts.append(f"at most {format_duration(budget_seconds_left)} (--time-budget)")
    return f"estimate on {device}: {', '.join(parts)} (training only, validation excluded)"


def run_seconds(
    seconds_per_step: float, steps_left: int | None, budget_seconds_left: float | None
) -> float:
    """Training seconds the rest of the run will take, as far as it is known."""
    seconds = math.inf if steps_left is None else seconds_per_step * steps_left
    return seconds if budget_seconds_left is None else min(seconds, budget_seconds_left)


def estimate_messages(
    device: str, seconds_per_step: float, steps_per_epoch: int, step: int, total_steps: int,
    train_seconds: float, time_budget: float | None, cpu_hint: str | None,
) -> list[str]:
    """The estimate line at `step` of `total_steps` (0: unknown) after `train_seconds` of
    training, within `time_budget` minutes if any; and on a CPU, when the run is long,
    `cpu_hint` (train.py's config that suits one)."""
    budget_left = None if time_budget is None else max(time_budget * 60 - train_seconds, 0.0)
    steps_left = max(total_steps - step, 0) if total_steps else None
    lines = [estimate_line(device, seconds_per_step, steps_per_epoch, steps_left,
                           total_steps or None, budget_left)]
    long_run = run_seconds(seconds_per_step, steps_left, budget_left) > LONG_RUN_HOURS * 3600
    if device.startswith("cpu") and long_run and cpu_hint:
        lines.append(cpu_hint)
    return lines
