"""Fixtures of the browser chat's tests: the session's tiny runs and a server with both (the GRU
that reads context is the session's `context_run`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from seq2seq import conversation

from .helpers import VISIBLE, running


@pytest.fixture(scope="package")
def pair(tiny_runs) -> list[Path]:
    """The tiny Transformer and GRU, in the order the page shows them."""
    return [tiny_runs["transformer"], tiny_runs["gru"]]


@pytest.fixture(scope="package")
def pair_url(pair) -> Iterator[str]:
    """A server with both tiny runs, decoding with VISIBLE."""
    with running(conversation.load_bots([str(run) for run in pair], "cpu", VISIBLE)) as url:
        yield url
