"""User-facing errors: one clear line on stderr, a non-zero exit, no traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable


class UserError(Exception):
    """A problem with the user's input (config, corpus, checkpoint), not a bug in the code."""


class ConfigError(UserError):
    """An unknown key, a wrong type or an impossible value in a config."""


def run_cli(main: Callable[[], int | None]) -> None:
    """Run a command-line entry point, turning `UserError` into `error: ...` and exit code 2."""
    try:
        code = main()
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code or 0)
