"""compare.py --sweep on the two tiny runs: every snapshot scored on the same examples, the
figure, the tables and the TensorBoard scalars; and a snapshot chats."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from matplotlib.image import imread
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from seq2seq.checkpoint import load_trained
from seq2seq.comparison.cli import main
from seq2seq.comparison.scoring import eval_batches, teacher_forced
from seq2seq.data import prepare_data
from seq2seq.errors import UserError
from seq2seq.metrics import perplexity
from seq2seq.runs import snapshot_steps

ROOT = Path(__file__).resolve().parents[2]
EXCHANGES = ROOT / "tests" / "fixtures" / "exchanges.tsv"


@pytest.fixture(scope="module")
def swept(tiny_runs, data_cache, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sweep") / "out"
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(io.StringIO()):
        patch.setenv("SEQ2SEQ_CACHE", str(data_cache))
        assert main([str(tiny_runs["transformer"]), str(tiny_runs["gru"]), "--sweep",
                     "--corpus", str(EXCHANGES), "--device", "cpu", "--out", str(out),
                     "--candidates", "5"]) == 0
    return out


def test_sweep_scores_every_snapshot_of_every_run(swept, tiny_runs, data_cache) -> None:
    report = json.loads((swept / "sweep.json").read_text(encoding="utf-8"))
    runs = {run["arch"]: run for run in report["runs"]}
    assert set(runs) == {"transformer", "gru"}
    for arch, run in runs.items():
        steps = [point["step"] for point in run["points"]]
        assert steps == snapshot_steps(tiny_runs[arch])
        assert run["best_step"] == load_trained(tiny_runs[arch]).step  # select: loss
    # One point recomputed independently: the GRU's first snapshot's test perplexity.
    path = tiny_runs["gru"] / f"step-{runs['gru']['points'][0]['step']}.pt"
    trained = load_trained(path)
    test = prepare_data(trained.config.data, EXCHANGES, cache_dir=data_cache).splits["test"]
    scores = teacher_forced(trained.model, trained.tokenizer, list(test.src), list(test.tgt),
                            eval_batches(list(test.src), list(test.tgt), 64))
    assert runs["gru"]["points"][0]["token_ppl"] == pytest.approx(perplexity(scores.loss))


def test_sweep_draws_the_curve_and_writes_tables_and_scalars(swept) -> None:
    image = imread(swept / "sweep.png")
    assert image.shape[0] >= 600 and image.shape[1] >= 900
    markdown = (swept / "sweep.md").read_text(encoding="utf-8")
    assert markdown.count("## ") == 2 and "(best loss)" in markdown
    for label in ("transformer", "gru"):
        events = EventAccumulator(str(swept / label))
        events.Reload()
        assert {"sweep/token_ppl", "sweep/distinct_2", "sweep/top1_share",
                "sweep/mean_length", "sweep/hits1_random", "sweep/hits1_generic",
                "sweep/context_gap"} <= set(events.Tags()["scalars"])
        assert len(events.Scalars("sweep/distinct_2")) == 3
        assert len(events.Scalars("sweep/hits1_generic")) == 3


def test_sweep_ranks_every_snapshot_against_the_same_candidates(swept, tiny_runs) -> None:
    report = json.loads((swept / "sweep.json").read_text(encoding="utf-8"))
    for run in report["runs"]:
        assert run["candidates"] == 5
        for point in run["points"]:
            assert 0 <= point["hits1_random"] <= 1 and 0 <= point["hits1_generic"] <= 1
            assert point["context_gap"] is not None
    # The last snapshot is the run's last.pt: its hits@1 is what compare.py reports for it.
    gru = next(run for run in report["runs"] if run["arch"] == "gru")
    out = swept.parent / "last"
    with pytest.MonkeyPatch.context(), contextlib.redirect_stdout(io.StringIO()):
        main([str(tiny_runs["gru"] / "last.pt"), str(tiny_runs["transformer"]), "--corpus",
              str(EXCHANGES), "--device", "cpu", "--out", str(out), "--candidates", "5",
              "--attention", "0", "--speed-passes", "1"])
    compared = json.loads((out / "report.json").read_text(encoding="utf-8"))["runs"][0]
    assert gru["points"][-1]["hits1_random"] == compared["relevance"]["random"]["hits1"][
        "difference"]
    assert "hits@1 random" in (swept / "sweep.md").read_text(encoding="utf-8")


def test_sweep_refuses_a_run_without_snapshots(tmp_path, tiny_runs) -> None:
    with pytest.raises(UserError, match="no step-<N>.pt snapshots"):
        main([str(tmp_path), "--sweep", "--out", str(tmp_path / "out")])
    with pytest.raises(UserError, match="not a run folder"):
        main([str(tiny_runs["gru"] / "best.pt"), "--sweep", "--out", str(tmp_path / "out")])


def test_a_snapshot_chats(tiny_runs) -> None:
    snapshot = tiny_runs["gru"] / f"step-{snapshot_steps(tiny_runs['gru'])[0]}.pt"
    result = subprocess.run(
        [sys.executable, str(ROOT / "chat.py"), "--run", str(snapshot), "--set",
         "decode.min_len=2"],
        input=b"hello\nhow are you?\n", capture_output=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr.decode()
    replies = result.stdout.decode().splitlines()
    assert len(replies) == 2 and all(replies)
