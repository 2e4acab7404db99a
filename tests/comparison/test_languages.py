"""A language written without spaces, end to end: the tiny pair trained on a small Chinese TSV
(tests/fixtures/exchanges-zh.tsv, invented conversations), then compared. Words are characters
(seq2seq/words.py), so lengths, distinct-n, word perplexity and BLEU mean something, the text
stays as written (data.normalize: raw keeps full-width punctuation), and the heat-maps draw
without a flood of missing-glyph warnings."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from seq2seq.comparison.cli import main
from seq2seq.words import words

CHINESE = Path(__file__).resolve().parents[1] / "fixtures" / "exchanges-zh.tsv"


@pytest.fixture(scope="module")
def chinese_comparison(train_tiny, tiny_config, data_cache, tmp_path_factory, monkeypatch_module):
    """report.json and report.md of comparing the tiny pair trained on the Chinese fixture, on
    all its examples; and the Python warnings recorded while comparing."""
    root = tmp_path_factory.mktemp("zh")
    runs = []
    for arch in ("transformer", "gru"):
        config = tiny_config(arch, data={"normalize": "raw", "vocab_size": 200},
                             train={"max_steps": 150}, decode={"max_len": 12})
        runs.append(str(train_tiny(config, root / arch, corpus=CHINESE).run_dir))
    out = root / "compare"
    monkeypatch_module.setenv("SEQ2SEQ_CACHE", str(data_cache))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main([*runs, "--split", "all", "--corpus", str(CHINESE), "--out", str(out),
                     "--device", "cpu", "--threads", "1", "--speed-passes", "1"]) == 0
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    return report, (out / "report.md").read_text(encoding="utf-8"), caught


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_chinese_replies_have_meaningful_word_figures(chinese_comparison):
    report, _, _ = chinese_comparison
    for run in report["runs"]:
        assert run["mean_length"] > 2  # characters, not "1.00 words" per reply
        assert run["distinct_1"] is not None and run["distinct_2"] is not None  # >= 100 n-grams
        assert run["n_words"] > 5 * run["n_examples"]  # each character a word, + 1 per eos
        assert run["word_ppl"] < run["token_ppl"] ** 2  # finite, and on the same NLL
        assert "tok:zh" in run["bleu_signature"]


def test_chinese_replies_and_references_stay_as_written(chinese_comparison):
    report, markdown, _ = chinese_comparison
    replies = [reply for sample in report["samples"] for reply in sample["replies"]]
    assert any(len(words(reply)) > 1 for reply in replies)
    assert all(not reply.isascii() for reply in replies if reply.strip())
    references = "".join(sample["reference"] for sample in report["samples"])
    assert "，" in references or "？" in references or "。" in references  # not made ASCII
    assert "," not in references and "?" not in references
    assert "CJK character" in markdown


def test_the_heat_maps_give_no_warning_per_glyph(chinese_comparison):
    _, _, caught = chinese_comparison
    assert not [w for w in caught if "Glyph" in str(w.message)]
