"""The comparison's TensorBoard writer on a full disk: one line naming the folder, and no
traceback from the writer's own thread."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

import pytest
from tensorboard.summary.writer import record_writer

from seq2seq.comparison.tensorboard import events_writer
from seq2seq.errors import WriteError


def test_a_full_disk_while_writing_events_is_one_line_naming_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def full(self, data: bytes) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(record_writer.RecordWriter, "write", full)
    hook = threading.excepthook
    with pytest.raises(WriteError) as error:
        with events_writer(tmp_path / "run") as writer:
            writer.add_text("compare/summary", "text", 0)
    assert str(error.value) == (
        f"cannot write the TensorBoard events in {tmp_path / 'run'} (No space left on device)"
    )
    assert "Traceback" not in capsys.readouterr().err
    assert threading.excepthook is hook  # put back
