"""Fixtures of the browser chat's tests: the session's tiny runs, a GRU that reads context,
and a server with both tiny runs."""

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
def context_run(train_tiny, tiny_config, tmp_path_factory) -> Path:
    """A tiny GRU trained to read the last 3 turns (at most 64 tokens)."""
    config = tiny_config("gru", data={"context_turns": 3, "max_src_len": 64})
    return train_tiny(config, tmp_path_factory.mktemp("web") / "gru-context").run_dir


@pytest.fixture(scope="package")
def pair_url(pair) -> Iterator[str]:
    """A server with both tiny runs, decoding with VISIBLE."""
    with running(conversation.load_bots([str(run) for run in pair], "cpu", VISIBLE)) as url:
        yield url
