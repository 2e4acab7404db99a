from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from seq2seq.data.__main__ import main
from seq2seq.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_prints_the_statistics(
    tsv_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    args = ["--corpus", str(tsv_corpus), "--cache-dir", str(tmp_path)]
    main([*args, "--set", "data.vocab_size=1000", "--set", "data.max_tgt_len=12"])
    out = capsys.readouterr().out
    assert "rows" in out and "310" in out
    assert "examples before filtering: 310" in out
    assert "empty response" in out and "empty context" in out
    assert "response longer than data.max_tgt_len" in out
    assert "splits (by chain)" in out and "p99" in out and "(built)" in out


def test_reads_the_data_section_of_a_config(
    raw_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    config = REPO_ROOT / "configs" / "tiny-transformer.yaml"
    main(["--corpus", str(raw_corpus), "--config", str(config), "--cache-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert "splits (by movie)" in out
    assert "conversation names a missing line id" in out
    assert "asked for 1,000" in out  # tiny-transformer.yaml's data.vocab_size


def test_only_data_overrides_without_a_config(tsv_corpus: Path) -> None:
    with pytest.raises(ConfigError, match="only data"):
        main(["--corpus", str(tsv_corpus), "--set", "train.lr=1"])


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "seq2seq.data", "--corpus", str(tmp_path / "nope.tsv")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: corpus ") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_warns_about_splits_from_too_few_movies(
    raw_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    main(["--corpus", str(raw_corpus), "--cache-dir", str(tmp_path),
          "--set", "data.vocab_size=100"])
    assert "warning: the corpus has only" in capsys.readouterr().out
