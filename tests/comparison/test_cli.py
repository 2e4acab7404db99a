"""compare.py end to end on the two tiny trained runs: the reports agree with stdout, the
numbers are what they claim to be (recomputed independently), and bad input is refused."""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from google.protobuf.json_format import MessageToDict
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from seq2seq.checkpoint import load_checkpoint, load_trained, save_checkpoint
from seq2seq.comparison import pipeline
from seq2seq.comparison.attention import attention_images
from seq2seq.comparison.cli import main, tensorboard_logdir
from seq2seq.comparison.results import METRICS
from seq2seq.data import prepare_data
from seq2seq.decoding import Decoding, greedy
from seq2seq.errors import run_cli
from seq2seq.models import build_model
from seq2seq.plots import DPI, figure_size
from seq2seq.tokenizer import Tokenizer

ROOT = Path(__file__).resolve().parents[2]
EXCHANGES = ROOT / "tests" / "fixtures" / "exchanges.tsv"


def compare(args: list[str], cache: Path) -> str:
    """Run compare in this process; returns its stdout."""
    stdout = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(stdout):
        patch.setenv("SEQ2SEQ_CACHE", str(cache))
        assert main(args) == 0
    return stdout.getvalue()


def table_rows(text: str) -> dict[str, list[str]]:
    """First cell -> the other cells, for every Markdown table row of `text`."""
    rows = {}
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith("|---"):
            cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
            rows[cells[0]] = cells[1:]
    return rows


@pytest.fixture(scope="module")
def compared(tiny_runs, data_cache, tmp_path_factory) -> tuple[str, Path]:
    """(stdout, out dir) of comparing the tiny Transformer with the tiny GRU on the test split."""
    out = tmp_path_factory.mktemp("compare") / "out"
    threads = torch.get_num_threads()
    try:
        stdout = compare(
            [str(tiny_runs["transformer"]), str(tiny_runs["gru"]), "--corpus", str(EXCHANGES),
             "--out", str(out), "--device", "cpu", "--samples", "4", "--batch-size", "8",
             "--threads", "1", "--candidates", "5"],
            data_cache,
        )
    finally:
        torch.set_num_threads(threads)
    return stdout, out


def test_relevance_and_reference_rows_are_printed_and_written(compared, tiny_runs, data_cache):
    stdout, out = compared
    report = json.loads((out / "report.json").read_text())
    rows = table_rows(stdout)
    lines = [json.loads(line) for line in (out / "distractors.jsonl").read_text().splitlines()]
    test = prepare_data(load_trained(tiny_runs["gru"]).config.data, EXCHANGES,
                        cache_dir=data_cache).splits["test"]
    assert [line["gold"] for line in lines] == list(test.tgt_text)
    for line in lines:
        assert len(line["random"]) == len(line["generic"]) == 4
        assert line["gold"] not in line["random"] + line["generic"]
        assert line["deranged_prompt"] != line["prompt"]
    for run in report["runs"]:
        figures = run["relevance"]
        assert figures["candidates"] == 5
        hits1 = figures["random"]["hits1"]
        assert hits1["n"] == len(lines) and 0 <= hits1["lower"] <= hits1["upper"] <= 1
        shown = rows["hits@1/5 random"][1 + [r["label"] for r in report["runs"]].index(
            run["label"])]
        assert shown == f"{hits1['difference']:.3f} [{hits1['lower']:.3f}, {hits1['upper']:.3f}]"
        assert figures["gap_empty"] is not None and figures["random_pmi"] is not None
    labels = [row["label"] for row in report["reply_statistics"]]
    assert labels == ["transformer", "gru", "GT (gold replies)", "RT (random training replies)"]
    gold = next(r for r in report["reply_statistics"] if r["label"].startswith("GT"))
    assert gold["n_replies"] == len(test) and rows["GT (gold replies)"][0] == str(len(test))
    # The same comparison draws the same candidates.
    again = out.parent / "again"
    compare([str(tiny_runs["gru"]), str(tiny_runs["transformer"]), "--corpus", str(EXCHANGES),
             "--out", str(again), "--device", "cpu", "--candidates", "5", "--attention", "0",
             "--speed-passes", "1", "--samples", "0"], data_cache)
    assert (again / "distractors.jsonl").read_text() == (out / "distractors.jsonl").read_text()


def test_too_few_replies_for_the_candidates_is_said_not_fatal(tiny_runs, data_cache, tmp_path):
    stdout = compare([str(tiny_runs["gru"]), str(tiny_runs["transformer"]), "--corpus",
                      str(EXCHANGES), "--out", str(tmp_path / "out"), "--device", "cpu",
                      "--attention", "0", "--speed-passes", "1", "--samples", "0"], data_cache)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["setup"]["candidates"].startswith("not ranked: only 16 different replies")
    assert all(run["relevance"] is None for run in report["runs"])
    assert "hits@1" not in stdout and not (tmp_path / "out" / "distractors.jsonl").exists()


def test_report_opens_with_the_runs_and_states_threads_and_speed_passes(compared, tiny_runs):
    _, out = compared
    markdown = (out / "report.md").read_text()
    first_table = markdown.split("\n\n")[1]
    rows = table_rows(first_table)
    assert rows["run"] == ["architecture", "parameters", "steps", "epochs", "training minutes",
                           "trained on", "checkpoint"]
    for arch in ("transformer", "gru"):
        payload = load_checkpoint(tiny_runs[arch] / "best.pt")
        arch_cell, parameters, steps, epochs, minutes, device, checkpoint = rows[arch]
        assert (arch_cell, steps, epochs, device) == (
            arch, f"{payload['step']:,}", str(payload["epoch"]), "cpu"
        )
        assert float(minutes) == pytest.approx(payload["train_seconds"] / 60, abs=0.06)
        assert checkpoint.endswith("best.pt") and int(parameters.replace(",", "")) > 0
    report = json.loads((out / "report.json").read_text())
    assert report["setup"]["threads"] == 1
    for run in report["runs"]:
        assert len(run["speed_passes"]) == 3  # the default
        assert run["replies_per_second"] == sorted(run["speed_passes"])[1]  # their median
    assert "Replies/s, median of 3 timed pass(es)" in markdown


def test_without_corpus_the_runs_recorded_corpus_is_used(tiny_runs, data_cache, tmp_path,
                                                         monkeypatch):
    """Offline, with no default corpus: the checkpoints name the corpus they were trained on."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CORNELL_CORPUS", str(tmp_path / "no-such-corpus"))
    compare([str(tiny_runs["transformer"]), str(tiny_runs["gru"]), "--out", str(tmp_path / "o"),
             "--device", "cpu", "--attention", "0", "--speed-passes", "1"], data_cache)
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert str(EXCHANGES.resolve()) in report["setup"]["examples"]


def test_the_tensorboard_hint_names_a_folder_with_the_runs_and_the_comparison(tmp_path):
    runs = tmp_path / "runs"
    assert tensorboard_logdir(runs / "compare-1", [str(runs / "a"), str(runs / "b" / "last.pt")]
                              ) == runs
    assert tensorboard_logdir(tmp_path / "elsewhere", [str(runs / "a")]) == tmp_path


def test_reports_exist_and_agree_with_stdout(compared):
    stdout, out = compared
    report = json.loads((out / "report.json").read_text())
    rows = table_rows(stdout)
    labels = ["transformer", "gru"]
    assert rows["metric"] == ["n", *labels]
    for metric in report["metrics"]:
        n, *shown = rows[metric["label"]]
        assert int(n) == metric["n"] > 0
        digits = next(m.digits for m in METRICS if m.key == metric["key"])
        for label, text in zip(labels, shown, strict=True):
            value, _, count = text.partition(" (")
            if "counts" in metric:  # distinct-n: its n-gram count beside it, n/a below 100
                assert count == f"{metric['counts'][label]:,} n-grams)"
            if value == "n/a":
                assert metric["values"][label] is None and metric["counts"][label] < 100
                continue
            assert float(value) == pytest.approx(metric["values"][label], abs=0.6 * 10**-digits)
    assert {m["key"] for m in report["metrics"]} == {m.key for m in METRICS if not m.optional}
    (difference,) = report["perplexity_differences"]
    assert rows["gru - transformer"] == [
        str(difference["n"]), f"{difference['difference']:.2f}",
        f"[{difference['lower']:.2f}, {difference['upper']:.2f}]",
    ]
    markdown = (out / "report.md").read_text()
    assert stdout.strip() in markdown
    assert "case:lc" in markdown and "tok:13a" in markdown  # the BLEU signature


def test_samples_put_the_reference_beside_each_reply(compared):
    _, out = compared
    report = json.loads((out / "report.json").read_text())
    samples = report["samples"]
    assert len(samples) == 4
    assert all(s["reference"] and len(s["replies"]) == 2 for s in samples)
    assert [s["index"] for s in samples] == sorted({s["index"] for s in samples})


def independent_scores(run_dir: Path, cache: Path) -> tuple[float, int, int]:
    """(summed NLL, target tokens with eos, reference words + 1 per reply) of a run on the test
    split, one example at a time (no padding, no shared code beyond the model)."""
    trained = load_trained(run_dir)
    split = prepare_data(trained.config.data, EXCHANGES, cache_dir=cache).splits["test"]
    tok = trained.tokenizer
    nll, tokens = 0.0, 0
    with torch.no_grad():
        for src, tgt in zip(split.src, split.tgt, strict=True):
            src = torch.tensor([src.tolist()])
            tgt_in = torch.tensor([[tok.bos_id, *tgt.tolist()]])
            tgt_out = torch.tensor([[*tgt.tolist(), tok.eos_id]])
            logits = trained.model(src, torch.ones_like(src, dtype=torch.bool), tgt_in)
            nll += F.cross_entropy(logits[0], tgt_out[0], reduction="sum").item()
            tokens += tgt_out.numel()
    words = sum(len(text.split()) + 1 for text in split.tgt_text)
    return nll, tokens, words


@pytest.mark.parametrize("arch", ["transformer", "gru"])
def test_perplexity_is_exp_of_the_mean_token_loss(compared, tiny_runs, data_cache, arch):
    _, out = compared
    run = next(r for r in json.loads((out / "report.json").read_text())["runs"]
               if r["label"] == arch)
    nll, tokens, words = independent_scores(tiny_runs[arch], data_cache)
    assert run["n_tokens"] == tokens and run["n_words"] == words
    assert run["loss"] == pytest.approx(nll / tokens, rel=1e-4)
    assert run["token_ppl"] == pytest.approx(math.exp(nll / tokens), rel=1e-4)
    assert run["word_ppl"] == pytest.approx(math.exp(nll / words), rel=1e-4)
    assert run["word_ppl"] > run["token_ppl"]  # fewer words than subword tokens


def test_bootstrap_interval_contains_the_observed_difference(compared):
    _, out = compared
    report = json.loads((out / "report.json").read_text())
    (difference,) = report["perplexity_differences"]
    gru, transformer = (next(r for r in report["runs"] if r["label"] == label)
                        for label in ("gru", "transformer"))
    assert difference["a"] == "transformer" and difference["b"] == "gru"
    assert difference["difference"] == pytest.approx(gru["token_ppl"] - transformer["token_ppl"])
    assert difference["lower"] <= difference["difference"] <= difference["upper"]
    assert difference["n"] == gru["n_examples"] and difference["resamples"] == 1000


def session_hparams(events: EventAccumulator) -> dict:
    """The hparams a run's events record (TensorBoard's HParams tab)."""
    content = events.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    data = plugin_data_pb2.HParamsPluginData.FromString(content)
    return {key: MessageToDict(value) for key, value in data.session_start_info.hparams.items()}


def test_tensorboard_has_one_folder_per_run_with_text_hparams_and_images(compared):
    """No scalars (one point each would be charts of a single dot before the training curves):
    the numbers are text and hparam values."""
    _, out = compared
    report = json.loads((out / "report.json").read_text())
    for label in ("transformer", "gru"):
        events = EventAccumulator(str(out / label), size_guidance={"images": 0})
        events.Reload()
        tags = events.Tags()
        assert tags["scalars"] == []
        run = next(r for r in json.loads((out / "report.json").read_text())["runs"]
                   if r["label"] == label)
        recorded = session_hparams(events)
        for metric in METRICS:  # distinct-n only where it means something, with its count
            if metric.count_key:
                assert (f"compare.{metric.key}" in recorded) == (run[metric.key] is not None)
                assert recorded[f"compare.{metric.count_key}"] == run[metric.count_key]
        assert "compare/top_replies/text_summary" in tags["tensors"]
        assert "compare/metrics/text_summary" in tags["tensors"]
        hparams = session_hparams(events)
        ppl = next(m for m in report["metrics"] if m["key"] == "token_ppl")["values"][label]
        assert hparams["compare.token_ppl"] == pytest.approx(ppl)
        assert hparams["run"] == label
        assert tags["images"] and all(t.startswith("xattn/example_") for t in tags["images"])
        # TensorBoard sorts tag groups by name: the images come after train/* and valid/*
        assert all(tag.split("/")[0] > "valid" for tag in tags["images"])
        image = events.Images(tags["images"][0])[0]
        assert image.width > 0 and image.height > 0
        assert list((out / "attention").glob(f"{label}-example*.png"))
    samples = EventAccumulator(str(out / "samples"))
    samples.Reload()
    assert "compare/samples/text_summary" in samples.Tags()["tensors"]


def test_attention_images_are_sized_by_generated_and_source_tokens(tiny_runs, tmp_path):
    trained = load_trained(tiny_runs["transformer"])
    tok = trained.tokenizer
    src = [np.array(tok.encode(text)) for text in ("Where are you going?", "Hello there.")]
    images = attention_images(trained.model, tok, src, [0, 1], label="t", out_dir=tmp_path,
                              decoding=Decoding.plain_greedy(6, tok), per_head=True)
    heads = trained.config.model.n_heads
    assert [image.tag for image in images] == [
        f"xattn/example_{i}{suffix}" for i in (0, 1)
        for suffix in ("", *(f"/head_{h}" for h in range(heads)))
    ]
    for image in images:
        index = int(image.tag.split("/")[1].removeprefix("example_"))
        one = torch.tensor([src[index].tolist()])
        reply = greedy(trained.model, one, torch.ones_like(one, dtype=torch.bool),
                       Decoding.plain_greedy(6, tok)).tokens[0]
        # one row per generated token, one column per source token
        width, height = figure_size(len(reply), len(src[index]))
        assert image.image.shape == (round(height * DPI), round(width * DPI), 3)
        assert image.image.dtype == np.uint8 and image.image.std() > 0
        assert image.path.read_bytes()[:4] == b"\x89PNG"


def copy_run(run_dir: Path, target: Path, change) -> Path:
    """A copy of a run whose checkpoint payload went through `change(payload)`."""
    shutil.copytree(run_dir, target)
    payload = load_checkpoint(run_dir / "best.pt")
    change(payload)
    save_checkpoint(target / "best.pt", payload)
    return target


def retokenized_copy(run_dir: Path, target: Path) -> Path:
    """A copy of a run with another tokenizer (120 pieces) and a model built for it."""
    texts = [side for line in EXCHANGES.read_text(encoding="utf-8").splitlines()
             for side in line.split("\t")]
    tokenizer = Tokenizer.train(texts, vocab_size=120)

    def retokenize(payload):
        payload["config"]["data"]["vocab_size"] = 120
        trained = load_trained(run_dir)
        payload["model"] = build_model(trained.config.model, tokenizer).state_dict()
        payload["tokenizer"] = {"model": tokenizer.to_bytes(), "normalize": tokenizer.normalize,
                                "fingerprint": tokenizer.fingerprint()}

    return copy_run(run_dir, target, retokenize)


def test_runs_with_different_tokenizers_are_refused_in_one_line(tiny_runs, tmp_path):
    other = retokenized_copy(tiny_runs["gru"], tmp_path / "gru-120")
    done = subprocess.run(
        [sys.executable, str(ROOT / "compare.py"), str(tiny_runs["transformer"]), str(other),
         "--corpus", str(EXCHANGES), "--out", str(tmp_path / "out"), "--device", "cpu"],
        capture_output=True, text=True, cwd=tmp_path, env={**os.environ, "SEQ2SEQ_CACHE":
                                                           str(tmp_path / "cache")},
    )
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: runs transformer and gru-120 use "
                                                   "different tokenizers")
    assert not (tmp_path / "out").exists()


def test_runs_with_different_data_splits_are_refused(tiny_runs, data_cache, tmp_path, capsys):
    def reseed(payload):
        payload["config"]["data"]["split_seed"] += 1

    other = copy_run(tiny_runs["gru"], tmp_path / "gru-reseeded", reseed)
    with pytest.raises(SystemExit) as stop:
        run_cli(lambda: main([str(tiny_runs["transformer"]), str(other), "--corpus",
                              str(EXCHANGES), "--out", str(tmp_path / "out")]))
    assert stop.value.code == 2
    assert "different data configs (data.split_seed)" in capsys.readouterr().err


def test_split_all_needs_an_external_corpus(tiny_runs, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        run_cli(lambda: main([str(tiny_runs["transformer"]), str(tiny_runs["gru"]), "--split",
                              "all", "--out", str(tmp_path / "out")]))
    assert stop.value.code == 2
    assert capsys.readouterr().err == (
        "error: --split all evaluates an external corpus: pass it with --corpus\n"
    )


def test_prompts_mode_compares_replies_without_references(tiny_runs, data_cache, tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("Where are you going?\n\nWho broke the vase?\nHello.\n", encoding="utf-8")
    out = tmp_path / "out"
    stdout = compare([str(tiny_runs["gru"]), str(tiny_runs["transformer"]), "--prompts",
                      str(prompts), "--out", str(out), "--device", "cpu"], data_cache)
    rows = table_rows(stdout)
    assert "token perplexity" not in rows and "BLEU" not in rows
    assert rows["distinct-1"][0] == "3"  # n: the blank line is no prompt
    report = json.loads((out / "report.json").read_text())
    assert report["perplexity_differences"] == []
    assert [s["prompt"] for s in report["samples"]] == [
        "Where are you going?", "Who broke the vase?", "Hello.",
    ]
    assert all(s["reference"] is None and len(s["replies"]) == 2 for s in report["samples"])
    assert all(run["loss"] is None and run["n_replies"] == 3 for run in report["runs"])


def test_split_all_scores_every_example_of_an_external_corpus(tiny_runs, data_cache, tmp_path):
    out = tmp_path / "out"
    stdout = compare([str(tiny_runs["gru"]), str(tiny_runs["transformer"]), "--split", "all",
                      "--corpus", str(EXCHANGES), "--limit", "20", "--out", str(out),
                      "--attention", "0", "--device", "cpu"], data_cache)
    assert table_rows(stdout)["token perplexity"][0] == "20"
    assert not (out / "attention").exists()


@pytest.mark.parametrize(("encoding", "said"), [
    ("utf-16", "is UTF-16 text, not UTF-8 (it starts with a UTF-16 byte-order mark)"),
    # no mark: every ASCII character carries a NUL, which decodes as "valid" UTF-8
    ("utf-16-le", "holds NUL bytes: it is a binary file or UTF-16/32 text, not UTF-8 text"),
    ("latin-1", ": not UTF-8 text; save it as UTF-8"),
])
def test_a_prompts_file_that_is_not_utf8_is_one_line(
    tiny_runs, tmp_path, capsys, encoding, said
):
    prompts = tmp_path / "prompts.txt"
    prompts.write_bytes("Où vas-tu ?\nHi.\n".encode(encoding))
    with pytest.raises(SystemExit) as stop:
        run_cli(lambda: main([str(tiny_runs["gru"]), str(tiny_runs["transformer"]),
                              "--prompts", str(prompts), "--out", str(tmp_path / "out")]))
    assert stop.value.code == 2
    message = capsys.readouterr().err
    assert message.startswith(f"error: --prompts {prompts}") and said in message
    assert message.count("\n") == 1


def test_a_prompts_path_that_is_a_folder_is_named_so(tiny_runs, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        run_cli(lambda: main([str(tiny_runs["gru"]), str(tiny_runs["transformer"]),
                              "--prompts", str(tmp_path), "--out", str(tmp_path / "out")]))
    assert stop.value.code == 2
    assert capsys.readouterr().err == (
        f"error: --prompts {tmp_path} is a folder (a file of prompts, one per line)\n"
    )


@pytest.mark.parametrize("where", ["file", "under-a-file", "read-only"])
def test_an_unwritable_out_is_refused_before_evaluating(
    tiny_runs, tmp_path, capsys, monkeypatch, where
):
    taken = tmp_path / "report.txt"
    taken.write_text("not a folder")
    out = {"file": taken, "under-a-file": taken / "out", "read-only": tmp_path / "out"}[where]
    reason = f"{taken} is a file, not a folder"
    if where == "read-only":  # as os.access reports a read-only folder (chmod does not stop root)
        monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != tmp_path)
        reason = f"{tmp_path} is not writable"
    monkeypatch.setattr(pipeline, "compare", lambda *a: pytest.fail("evaluated first"))
    with pytest.raises(SystemExit) as stop:
        run_cli(lambda: main([str(tiny_runs["gru"]), str(tiny_runs["transformer"]),
                              "--corpus", str(EXCHANGES), "--out", str(out)]))
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err == f"error: --out {out}: {reason}; choose another --out\n"
    assert taken.read_text() == "not a folder" and not (tmp_path / "out").exists()
