"""Ctrl-C and SIGTERM end a run cleanly: finish the current step, save last.pt, exit.

The handler only records the signal; the loop checks it between optimizer steps, where the
model, optimizer and data position are consistent and can be saved. A second Ctrl-C raises
KeyboardInterrupt at once for a user who does not want to wait for the save.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

HANDLED = (signal.SIGINT, signal.SIGTERM)


class StopOnSignal:
    """Context manager: while active, SIGINT/SIGTERM set `signum` instead of killing us."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.previous: dict[int, Any] = {}

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGINT and self.signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signum = signum

    def __enter__(self) -> StopOnSignal:
        # Handlers can only be installed from the main thread (not, e.g., in a worker thread
        # of a notebook server); elsewhere signals keep their default behaviour.
        if threading.current_thread() is threading.main_thread():
            for signum in HANDLED:
                self.previous[signum] = signal.signal(signum, self.handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        self.previous.clear()
