"""User-facing errors: one clear line on stderr, a non-zero exit, no traceback; and the small
checks every config section (seq2seq/config.py and each model's own) phrases its errors with."""

from __future__ import annotations

import errno
import sys
from collections.abc import Callable


class UserError(Exception):
    """A problem with the user's input (config, corpus, checkpoint), not a bug in the code."""


class ConfigError(UserError):
    """An unknown key, a wrong type or an impossible value in a config."""


def check(condition: bool, key: str, message: str) -> None:
    """Raise `ConfigError` for `key` unless `condition` holds."""
    if not condition:
        raise ConfigError(f"config: {key}: {message}")


def check_choice(value: str, choices: tuple[str, ...], key: str) -> None:
    check(value in choices, key, f"{value!r} is not one of {', '.join(choices)}")


def check_probability(value: float, key: str) -> None:
    check(0.0 <= value < 1.0, key, f"{value} must be in [0, 1)")


class WriteError(UserError):
    """A file could not be written (a full disk, a read-only place); what was there before is
    intact."""


# Failed writes that are the machine's state, not a bug: anywhere they happen (a log line, a
# TensorBoard event), they end a command with one line. (Windows has no EDQUOT.)
DISK_ERRORS = {errno.ENOSPC, errno.EROFS, getattr(errno, "EDQUOT", errno.ENOSPC)}


def run_cli(main: Callable[[], int | None]) -> None:
    """Run a command-line entry point, turning `UserError` into `error: ...` and exit code 2."""
    try:
        code = main()
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except OSError as error:
        if error.errno not in DISK_ERRORS:
            raise
        where = f" {error.filename}" if error.filename else ""  # a writer thread names none
        print(f"error: cannot write{where}: {error.strerror}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code or 0)
