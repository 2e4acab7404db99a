import json

import pytest

from seq2seq.comparison.bootstrap import Interval
from seq2seq.comparison.report import markdown, samples_table, summary, write_reports
from seq2seq.comparison.results import METRICS, Comparison, Difference, RunResult, Sample


def run_result(
    label: str, offset: float, teacher_forced: bool = True, bigrams: int = 150
) -> RunResult:
    forced = dict(
        n_examples=40, n_tokens=300, n_words=250, loss=3.0 + offset, token_ppl=20.0855 + offset,
        word_ppl=36.5 + offset, token_accuracy=0.25, bleu=1.5, bleu_signature="nrefs:1|case:lc",
        bleu_detail="BLEU = 1.50",
    )
    return RunResult(
        label=label, checkpoint=f"runs/{label}/best.pt", arch=label, step=10, parameters=1000,
        n_replies=40, distinct_1=0.1, distinct_2=0.2 if bigrams >= 100 else None,
        distinct_1_ngrams=1190, distinct_2_ngrams=bigrams, mean_length=4.5, top1_share=0.3,
        top10_share=0.9, unique_share=0.2, replies_per_second=123.4, decode_seconds=0.3,
        top_replies=[("i don't know", 12)], **(forced if teacher_forced else {}),
    )


def markdown_rows(text: str) -> dict[str, list[str]]:
    """First cell -> other cells, for every row of the Markdown tables in `text`."""
    rows = {}
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith("|---"):
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            rows[cells[0]] = cells[1:]
    return rows


def comparison(teacher_forced: bool = True) -> Comparison:
    runs = [run_result("gru", 0.0, teacher_forced), run_result("transformer", 0.5, teacher_forced)]
    samples = [Sample(3, "how are | you?", "fine" if teacher_forced else None, ["ok", "fine"])]
    differences = [Difference("gru", "transformer", Interval(0.5, 0.1, 0.9, 1000, 40))]
    return Comparison(runs, samples, differences if teacher_forced else [], {"split": "test"})


def test_summary_has_one_row_per_metric_with_n_and_a_column_per_run():
    rows = markdown_rows(summary(comparison()))
    assert rows["metric"] == ["n", "gru", "transformer"]
    for metric in METRICS:
        assert (metric.label in rows) != metric.optional  # optional rows: none has a value
    assert rows["token perplexity"] == ["40", "20.09", "20.59"]
    assert rows["replies/s (batched, median)"] == ["40", "123.4", "123.4"]
    assert rows["transformer - gru"] == ["40", "0.50", "[0.10, 0.90]"]


def test_prompts_mode_shows_reply_level_rows_only():
    text = summary(comparison(teacher_forced=False))
    rows = markdown_rows(text)
    assert "token perplexity" not in rows and "BLEU" not in rows
    assert rows["distinct-1"] == ["40", "0.1000 (1,190 n-grams)", "0.1000 (1,190 n-grams)"]
    assert "reference" not in samples_table(["a", "b"], comparison(False).samples)


def test_reports_agree_with_the_summary(tmp_path):
    result = comparison()
    md_path, json_path = write_reports(result, tmp_path / "out")
    data = json.loads(json_path.read_text())
    assert data["setup"] == {"split": "test"}
    by_key = {m["key"]: m for m in data["metrics"]}
    assert by_key["token_ppl"]["n"] == 40
    assert by_key["token_ppl"]["values"]["transformer"] == pytest.approx(20.5855)
    assert data["perplexity_differences"][0]["lower"] == 0.1
    assert data["samples"][0]["replies"] == ["ok", "fine"]
    report = md_path.read_text()
    assert summary(result) in report
    assert "how are \\| you?" in report  # a pipe in a reply cannot break the table
    assert "`nrefs:1|case:lc`" in report
    assert markdown(result) == report


def test_distinct_n_shows_its_ngram_count_and_na_below_the_minimum(tmp_path):
    runs = [run_result("gru", 0.0), run_result("transformer", 0.5, bigrams=4)]
    result = Comparison(runs, [], [], {"split": "test"})
    rows = markdown_rows(summary(result))
    assert rows["distinct-2"] == ["40", "0.2000 (150 n-grams)", "n/a (4 n-grams)"]
    _, json_path = write_reports(result, tmp_path / "out")
    by_key = {m["key"]: m for m in json.loads(json_path.read_text())["metrics"]}
    assert by_key["distinct_2"]["values"] == {"gru": 0.2, "transformer": None}
    assert by_key["distinct_2"]["counts"] == {"gru": 150, "transformer": 4}
    assert "counts" not in by_key["token_ppl"]
