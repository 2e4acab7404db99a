"""What resuming repairs in a run folder written by an older version.

Before the selection rules, a validation wrote last.pt before best.pt. A run stopped between
the two has a last.pt recording a better validation loss than the one best.pt holds, and
resuming never rewrote best.pt (only a better loss does). Runs since write best.pt (and
selected.pt and the step-<N>.pt snapshots) before last.pt, so those files never lag behind
the state last.pt records; older runs never had a selected.pt.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from seq2seq.checkpoint import load_checkpoint, save_checkpoint
from seq2seq.errors import UserError
from seq2seq.runs import BEST, LAST, METRICS
from seq2seq.training.log import parse_record


def validation_losses(path: Path) -> dict[int, float]:
    """{step: validation loss} of a metrics.jsonl (damaged lines skipped)."""
    losses: dict[int, float] = {}
    if not path.is_file():
        return losses
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        record = parse_record(line)
        if record is not None and record.get("kind") == "valid":
            losses[record.get("step")] = record.get("loss")
    return losses


def repair_best(run_dir: Path, last: dict[str, Any]) -> str | None:
    """Make best.pt hold the best validation loss that last.pt records, where it lags behind.

    Args:
        run_dir: the run folder being resumed.
        last: its last.pt, loaded.

    Returns:
        A notice when best.pt lagged behind: repaired (last.pt is the checkpoint of that
        validation and now best.pt too), or a warning that the best weights were never saved.
        None when best.pt is consistent.
    """
    best_loss = last.get("best_valid_loss")
    if not isinstance(best_loss, float) or not math.isfinite(best_loss):
        return None
    path = run_dir / BEST
    try:
        held = float(load_checkpoint(path, mmap=True)["best_valid_loss"])
    except (UserError, KeyError, TypeError, ValueError):  # missing, damaged, or not ours
        held = math.inf
    if held <= best_loss:
        return None
    step = last["step"]
    if validation_losses(run_dir / METRICS).get(step) == best_loss:
        save_checkpoint(path, last)
        return (
            f"repaired {path}: it held validation loss {held:.4f}, behind the best loss "
            f"{best_loss:.4f} that {LAST} records (a save cut short by an older version); "
            f"{LAST}, saved at that validation (step {step}), is now {BEST} too"
        )
    return (
        f"warning: {path} holds validation loss {held:.4f}, but the run's best was "
        f"{best_loss:.4f}, whose weights were never saved (an older version stopped between "
        f"{LAST} and {BEST}); {BEST} is replaced at the next validation that beats it"
    )
