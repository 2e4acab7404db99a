"""The `--threads` flag of train.py, chat.py, compare.py and the benchmarks, in one place that
imports nothing heavier than torch (the chat's start-up stays free of training code)."""

from __future__ import annotations

import torch

from seq2seq.errors import UserError


def set_threads(threads: int | None) -> None:
    """Apply a `--threads` flag: torch's CPU threads (None keeps torch's choice, one per core)."""
    if threads is None:
        return
    if threads < 1:
        raise UserError(f"--threads {threads}: must be >= 1")
    torch.set_num_threads(threads)
