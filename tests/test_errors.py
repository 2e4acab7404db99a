"""run_cli: a user error, or a write that the machine refused (a full disk, a read-only file
system), ends the command with one line and exit code 2; anything else stays a traceback."""

from __future__ import annotations

import errno
import os

import pytest

from seq2seq.errors import UserError, run_cli


def fail_with(error: BaseException):
    def main() -> int:
        raise error

    return main


def test_a_user_error_is_one_line(capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        run_cli(fail_with(UserError("--limit must be >= 0")))
    assert stop.value.code == 2
    assert capsys.readouterr().err == "error: --limit must be >= 0\n"


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_a_full_disk_or_read_only_file_system_anywhere_is_one_line(capsys, code) -> None:
    with pytest.raises(SystemExit) as stop:
        run_cli(fail_with(OSError(code, os.strerror(code), "runs/x/metrics.jsonl")))
    assert stop.value.code == 2
    assert capsys.readouterr().err == (
        f"error: cannot write runs/x/metrics.jsonl: {os.strerror(code)}\n"
    )


def test_other_os_errors_stay_tracebacks() -> None:
    with pytest.raises(FileNotFoundError):
        run_cli(fail_with(FileNotFoundError(errno.ENOENT, "No such file", "x")))
