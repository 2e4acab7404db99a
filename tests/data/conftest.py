"""Shared fixtures of the data tests: the invented corpora in tests/fixtures/ and the real
excerpt beside the checkout (../shared/corpora/cornell/excerpt, skipped when absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

from seq2seq.config import DataConfig

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def raw_corpus() -> Path:
    """Invented raw-format corpus: 4 movies, an 0xE9 byte, an empty line, malformed lines."""
    return FIXTURES / "cornell"


@pytest.fixture
def tsv_corpus() -> Path:
    """Invented prompt<TAB>reply corpus: 310 rows, chains, one empty prompt, one empty reply."""
    return FIXTURES / "exchanges.tsv"


@pytest.fixture
def excerpt() -> Path:
    path = REPO_ROOT.parent / "shared" / "corpora" / "cornell" / "excerpt"
    if not path.is_dir():
        pytest.skip("the real excerpt is not beside the checkout")
    return path


@pytest.fixture
def tiny_config() -> DataConfig:
    """A data config small enough for the fixtures (the vocabulary limit is soft)."""
    return DataConfig(vocab_size=1000, max_src_len=32, max_tgt_len=24)
