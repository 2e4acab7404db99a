"""The selection rule on a fixture of validation metrics, snapshot thinning, and a run that
keeps snapshots and selects its checkpoint by reply diversity."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from seq2seq.checkpoint import load_checkpoint, load_trained
from seq2seq.runs import checkpoint_path, snapshot_steps
from seq2seq.training.selection import Selection, select_step, thin, within_margin

# step, validation loss, distinct bigrams: the loss keeps improving while the count moves on
# its own.
RECORDS = [
    {"step": s, "loss": loss, "distinct_bigrams": d2 * 10_000}
    for s, loss, d2 in [
        (100, 5.00, 0.01), (200, 4.50, 0.02), (300, 4.40, 0.03), (400, 4.45, 0.08),
        (500, 4.90, 0.20), (600, 4.20, 0.05), (700, 4.25, 0.09), (800, 4.21, 0.07),
    ]
]


def test_within_margin_compares_perplexities() -> None:
    assert within_margin(math.log(110), math.log(100), 0.1)
    assert not within_margin(math.log(111), math.log(100), 0.1)
    assert within_margin(4.0, 4.0, 0.0)


def test_loss_rule_selects_the_lowest_validation_loss() -> None:
    assert select_step(RECORDS, "loss", 0.1) == 600


def test_diverse_rule_selects_the_most_diverse_within_the_margin() -> None:
    # ln(1.1) = 0.0953: 400 (4.45, 0.08) is within 4.40's margin and beats 300's 0.03; 500 is
    # far out of it whatever its count; 600's new best pushes 400 out (4.45 > 4.295),
    # so 600 takes over; 700 (4.25, 0.09) is within and beats 0.05; 800's 0.07 does not.
    selection = Selection("diverse", 0.1)
    chosen = [selection.update(r["step"], r) for r in RECORDS]
    assert chosen == [
        (True, True), (True, True), (True, True), (False, True),
        (False, False), (True, True), (False, True), (False, False),
    ]
    assert selection.step == 700 == select_step(RECORDS, "diverse", 0.1)
    assert select_step(RECORDS, "diverse", 0.0) == 600  # no margin: the loss rule
    assert select_step(RECORDS, "diverse", 10.0) == 500  # any loss: the most diverse
    assert select_step([], "diverse", 0.1) == -1


def test_selection_state_round_trips_through_a_checkpoint() -> None:
    straight = Selection("diverse", 0.1)
    for record in RECORDS:
        straight.update(record["step"], record)
    resumed = Selection("diverse", 0.1)
    for record in RECORDS[:4]:
        resumed.update(record["step"], record)
    resumed = Selection.from_dict(json.loads(json.dumps(resumed.to_dict())))
    for record in RECORDS[4:]:
        resumed.update(record["step"], record)
    assert resumed == straight


def test_thinning_keeps_the_first_the_latest_and_an_even_spread() -> None:
    kept: list[int] = []
    for step in range(100, 5001, 100):  # snapshots arrive one validation at a time
        kept.append(step)
        for removed in thin(kept, 6):
            kept.remove(removed)
    assert len(kept) == 6 and kept[0] == 100 and kept[-1] == 5000
    ideal = (5000 - 100) / 5
    gaps = [b - a for a, b in zip(kept, kept[1:], strict=False)]
    assert max(gaps) <= 2 * ideal and min(gaps) >= ideal / 2
    assert thin([300, 100, 200], 3) == []
    assert thin([100, 200, 300, 1000], 3) == [200]  # the most crowded interior one goes


def valid_records(run_dir: Path) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == "valid"]


def test_a_run_logs_reply_diversity_at_every_validation(tiny_runs) -> None:
    for run_dir in tiny_runs.values():
        for record in valid_records(run_dir):
            for key in ("distinct_1", "distinct_2", "distinct_2_ngrams", "distinct_bigrams",
                        "distinct_replies",
                        "top_reply_share", "reply_length"):
                assert key in record, key
            assert 0.0 <= record["distinct_2"] <= 1.0
            assert record["top_replies"] and record["top_replies"][0][1] >= 1


def test_snapshots_are_weights_only_thinned_and_span_the_run(tiny_runs) -> None:
    run_dir = tiny_runs["transformer"]
    steps = snapshot_steps(run_dir)
    validated = [r["step"] for r in valid_records(run_dir)]
    assert len(steps) == 3 and steps[0] == validated[0] and steps[-1] == validated[-1] == 30
    snapshot = load_checkpoint(run_dir / f"step-{steps[1]}.pt")
    assert "optimizer" not in snapshot and snapshot["step"] == steps[1]
    assert load_trained(run_dir / f"step-{steps[1]}.pt").step == steps[1]


@pytest.mark.parametrize("select", ["loss", "diverse"])
def test_the_selected_checkpoint_is_what_chat_and_compare_load(
    tmp_path, tiny_config, train_tiny, select
) -> None:
    train = {"max_steps": 20, "eval_interval": 4, "select": select, "select_margin": 0.5}
    run_dir = train_tiny(tiny_config("gru", train=train), tmp_path / "run").run_dir
    expected = select_step(valid_records(run_dir), select, 0.5)
    if select == "loss":
        assert not (run_dir / "selected.pt").exists()
        assert checkpoint_path(run_dir) == run_dir / "best.pt"
    else:
        assert checkpoint_path(run_dir) == run_dir / "selected.pt"
    assert load_trained(run_dir).step == expected


def test_early_stopping_watches_the_selection_rule(tmp_path, tiny_config, train_tiny) -> None:
    # With an infinite margin every validation is within it, so only more distinct bigrams keep
    # the run going; a tiny model's replies soon stop getting more diverse.
    train = {"max_steps": 200, "eval_interval": 2, "patience": 2, "select": "diverse",
             "select_margin": 1e9}
    result = train_tiny(tiny_config("gru", train=train), tmp_path / "run")
    records = valid_records(result.run_dir)
    assert result.stop_reason == "patience"
    best_d2 = [max(r["distinct_bigrams"] for r in records[: i + 1])
               for i in range(len(records))]
    assert best_d2[-1] == best_d2[-3]  # the last two validations did not beat the selected one

