"""The tiny runs exported as a shipped pair: tmp/pretrained/{transformer,gru}."""

from __future__ import annotations

from pathlib import Path

import pytest

from seq2seq.pretrained.export import export


@pytest.fixture(scope="session")
def shipped_root(tmp_path_factory: pytest.TempPathFactory, tiny_runs: dict[str, Path]) -> Path:
    """A folder holding pretrained/transformer and pretrained/gru exported from the tiny runs
    (float16). Read-only: copy it before changing it."""
    root = tmp_path_factory.mktemp("shipped")
    for name, run_dir in tiny_runs.items():
        export(run_dir, root / "pretrained" / name, commit="0123abcd")
    return root
