"""Shared fixtures of the data tests: the invented corpora in tests/fixtures/."""

from __future__ import annotations

from pathlib import Path

import pytest

from seq2seq.config import DataConfig

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
RAW_FIXTURE = FIXTURES / "cornell"
TSV_FIXTURE = FIXTURES / "exchanges.tsv"
# The real excerpt, present beside the checkout in development and CI (skipped elsewhere).
EXCERPT = Path(__file__).resolve().parents[3] / "shared" / "corpora" / "cornell" / "excerpt"


@pytest.fixture
def tiny_config() -> DataConfig:
    """A data config small enough for the fixtures (the vocabulary limit is soft)."""
    return DataConfig(vocab_size=1000, max_src_len=32, max_tgt_len=24)
