"""The training loop on tiny models: what a run leaves behind, exact resumption, the non-finite
guard, the stop conditions, and the schedules and parameter groups it relies on."""

from __future__ import annotations

import dataclasses
import errno
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from seq2seq.checkpoint import load_checkpoint, load_trained, save_checkpoint
from seq2seq.config import load_config
from seq2seq.data import prepare_data
from seq2seq.errors import UserError, run_cli
from seq2seq.models import build_model
from seq2seq.training import TrainingDiverged, TrainOptions, saving, train
from seq2seq.training import loop as training_loop
from seq2seq.training.face import token_frequencies
from seq2seq.training.feeding import Feeding
from tests.conftest import EXCHANGES

TAGS = {
    "train/loss", "train/ppl", "train/lr", "train/grad_norm", "train/tokens_per_s",
    "train/pad_share", "train/nonfinite_steps", "valid/loss", "valid/ppl", "valid/token_acc",
}
ARCHS = ("transformer", "gru")


def records(run_dir: Path, kind: str) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == kind]


def state_dicts_equal(first: dict, second: dict) -> bool:
    return first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


# What a run leaves behind ------------------------------------------------------------------

@pytest.mark.parametrize("arch", ARCHS)
def test_a_tiny_run_writes_everything(tiny_runs, arch: str) -> None:
    run_dir = tiny_runs[arch]
    for name in ("config.yaml", "tokenizer.model", "metrics.jsonl", "last.pt", "best.pt"):
        assert (run_dir / name).is_file(), name
    assert list(run_dir.glob("events.out.tfevents.*"))
    last = load_checkpoint(run_dir / "last.pt")
    assert last["step"] == 30
    assert load_config(run_dir / "config.yaml").to_dict() == last["config"]
    assert [r["step"] for r in records(run_dir, "train")] == [5, 10, 15, 20, 25, 30]
    valid = records(run_dir, "valid")
    assert [r["step"] for r in valid][-1] == 30
    assert min(r["loss"] for r in valid) == pytest.approx(last["best_valid_loss"])
    assert len(valid[-1]["samples"]) == 2
    first, final = records(run_dir, "train")[0], records(run_dir, "train")[-1]
    assert final["loss"] < first["loss"]  # it learns something


def test_both_models_log_the_same_tensorboard_tags(tiny_runs) -> None:
    tags = {}
    for arch in ARCHS:
        events = EventAccumulator(str(tiny_runs[arch]))
        events.Reload()
        tags[arch] = set(events.Tags()["scalars"])
        assert TAGS <= tags[arch]
        assert any(tag.startswith("samples/valid") for tag in events.Tags()["tensors"])
    # and the GRU's decoder group (tiny-gru.yaml: decoder_lr_multiplier 5) its own rate
    assert tags["transformer"] | {"train/lr_decoder"} == tags["gru"]


def test_the_decoder_group_s_learning_rate_is_logged_with_the_base_one(tiny_runs) -> None:
    for record in records(tiny_runs["gru"], "train"):
        assert record["lr_decoder"] == pytest.approx(5 * record["lr"])
    line = next(line for line in (tiny_runs["gru"] / "train.log").read_text().splitlines()
                if line.startswith("step 5 "))
    lr = records(tiny_runs["gru"], "train")[0]["lr"]
    assert f"| lr {lr:.2e} (decoder {5 * lr:.2e}) |" in line
    assert all("lr_decoder" not in r for r in records(tiny_runs["transformer"], "train"))


def test_hparams_name_the_valid_curves_and_add_no_scalars(tiny_runs) -> None:
    """TensorBoard's HParams tab reads the run's own valid/* curves; no hparam/* one-point
    charts appear beside them."""
    for arch in ARCHS:
        events = EventAccumulator(str(tiny_runs[arch]))
        events.Reload()
        assert not [tag for tag in events.Tags()["scalars"] if not tag.startswith(
            ("train/", "valid/"))]
        content = events.PluginTagToContent("hparams")["_hparams_/experiment"]
        experiment = plugin_data_pb2.HParamsPluginData.FromString(content).experiment
        metrics = {info.name.tag for info in experiment.metric_infos}
        assert {"valid/loss", "valid/ppl", "valid/token_acc"} <= metrics
        assert metrics <= set(events.Tags()["scalars"])


# Resuming -----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("arch", "extra"),
    [
        ("transformer", {}), ("gru", {"teacher_forcing": 0.5}),
        ("transformer", {"grad_accum": 2}),
        ("transformer", {"teacher_forcing": 0.5, "teacher_forcing_feed": "sample"}),
        ("gru", {"loss": "face", "face_weighting": "post"}),
    ],
    ids=["transformer", "gru-teacher-forcing", "transformer-grad-accum",
         "transformer-scheduled-sampling", "gru-face"],
)
def test_resumed_run_repeats_the_uninterrupted_one(
    tmp_path, tiny_config, train_tiny, arch, extra
) -> None:
    # Dropout and teacher-forcing coins use the random state; step 3 is in the
    # middle of the first epoch (about 10 batches), and the run crosses into the next one.
    train = {"max_steps": 12, "eval_interval": 4, "log_interval": 1, **extra}
    model = {"dropout": 0.3}
    full = tiny_config(arch, train=train, model=model)
    train_tiny(full, tmp_path / "straight")
    train_tiny(tiny_config(arch, train=train | {"max_steps": 3}, model=model), tmp_path / "resumed")
    result = train_tiny(full, tmp_path / "resumed", resume=True)

    assert result.step == 12
    straight = [(r["step"], r["loss"]) for r in records(tmp_path / "straight", "train")]
    resumed = [(r["step"], r["loss"]) for r in records(tmp_path / "resumed", "train")]
    assert straight == resumed
    assert [s for s, _ in resumed] == list(range(1, 13))
    weights = [load_checkpoint(tmp_path / run / "last.pt")["model"]
               for run in ("straight", "resumed")]
    assert state_dicts_equal(*weights)


def test_a_resume_between_two_log_lines_logs_the_uninterrupted_averages(
    tmp_path, tiny_config, train_tiny
) -> None:
    # log lines every 2 steps, stopped at step 3: the line of step 4 averages steps 3 and 4
    train = {"max_steps": 6, "eval_interval": 4, "log_interval": 2}
    full = tiny_config("gru", train=train, model={"dropout": 0.0})
    train_tiny(full, tmp_path / "straight")
    stopped = tiny_config("gru", train=train | {"max_steps": 3}, model={"dropout": 0.0})
    train_tiny(stopped, tmp_path / "resumed")
    train_tiny(full, tmp_path / "resumed", resume=True)
    straight = [(r["step"], r["loss"], r["grad_norm"])
                for r in records(tmp_path / "straight", "train")]
    resumed = [(r["step"], r["loss"], r["grad_norm"])
               for r in records(tmp_path / "resumed", "train")]
    assert [step for step, *_ in resumed] == [2, 4, 6]
    assert resumed == straight


def test_a_half_written_metrics_line_is_dropped_on_resume(
    tmp_path, tiny_config, train_tiny, capsys
) -> None:
    run_dir = tmp_path / "run"
    train_tiny(tiny_config("gru", train={"max_steps": 2, "log_interval": 1}), run_dir)
    with open(run_dir / "metrics.jsonl", "a", encoding="utf-8") as file:
        file.write('{"kind": "train", "step": 3, "lo')  # what a full disk leaves
    capsys.readouterr()
    result = train_tiny(tiny_config("gru", train={"max_steps": 4, "log_interval": 1}), run_dir,
                        resume=True)
    assert result.step == 4
    assert "dropped 1 damaged line" in capsys.readouterr().err
    assert [r["step"] for r in records(run_dir, "train")] == [1, 2, 3, 4]


def test_a_kill_while_saving_never_leaves_best_pt_behind_last_pt(
    monkeypatch, tmp_path, tiny_config, train_tiny
) -> None:
    """Killed between writing best.pt and last.pt of one validation: best.pt already holds the
    best model, so last.pt (of the previous validation) never records a better loss than it."""
    saved = saving.save_checkpoint
    written = []

    def killed_at_the_second_last_pt(path: Path, payload: dict) -> None:
        if path.name == "last.pt" and payload["step"] == 4:
            raise KeyboardInterrupt  # the kill
        written.append((path.name, payload["step"]))
        saved(path, payload)

    monkeypatch.setattr(saving, "save_checkpoint", killed_at_the_second_last_pt)
    run_dir = tmp_path / "run"
    config = tiny_config("gru", train={"max_steps": 6, "eval_interval": 2, "lr": 3e-3})
    with pytest.raises(KeyboardInterrupt):
        train_tiny(config, run_dir)
    assert ("best.pt", 4) in written  # step 4 improved on step 2
    best, last = (load_checkpoint(run_dir / name) for name in ("best.pt", "last.pt"))
    assert best["step"] == 4 and last["step"] == 2
    assert best["best_valid_loss"] <= last["best_valid_loss"]
    valid = [r["loss"] for r in records(run_dir, "valid")]
    assert best["best_valid_loss"] == min(valid)


def test_a_full_disk_while_saving_stops_with_one_line_and_keeps_last_pt(
    monkeypatch, tmp_path, tiny_config, train_tiny, capsys
) -> None:
    run_dir = tmp_path / "run"
    train_tiny(tiny_config("gru", train={"max_steps": 2, "eval_interval": 2}), run_dir)
    before = {name: (run_dir / name).read_bytes() for name in ("last.pt", "best.pt")}

    def full_disk(payload, file) -> None:
        file.write(b"PK\x03\x04 the first bytes")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(torch, "save", full_disk)
    capsys.readouterr()
    config = tiny_config("gru", train={"max_steps": 4, "eval_interval": 2})
    with pytest.raises(SystemExit) as stop:
        run_cli(lambda: train_tiny(config, run_dir, resume=True))
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    message = err.splitlines()[-1]
    assert message.startswith(f"error: cannot write {run_dir}/") and message.count("error") == 1
    assert "(No space left on device); it was left as it was; free some space" in message
    # the corpus and device the run was given are kept (train_tiny passes both)
    assert message.endswith(f"continue from the last.pt there with: python train.py --run-dir "
                            f"{run_dir} --resume --corpus {EXCHANGES} --device cpu")
    assert {name: (run_dir / name).read_bytes() for name in before} == before
    assert not list(run_dir.glob(".*"))  # no temporary file, the lock released


def older_version_run(run_dir: Path, tiny_config, train_tiny) -> tuple[dict, dict]:
    """A run as a version that wrote last.pt before best.pt leaves it when stopped between the
    two at step 4: last.pt (without the selection state, which that version did not have)
    records step 4's better loss, best.pt still holds step 2. Returns (best.pt, last.pt)."""
    config = tiny_config("gru", train={"max_steps": 2, "eval_interval": 2, "lr": 3e-3})
    train_tiny(config, run_dir)
    older_best = (run_dir / "best.pt").read_bytes()
    train_tiny(dataclasses.replace(config, train=dataclasses.replace(config.train, max_steps=4)),
               run_dir, resume=True)
    (run_dir / "best.pt").write_bytes(older_best)
    last = load_checkpoint(run_dir / "last.pt")
    del last["selection"]
    save_checkpoint(run_dir / "last.pt", last)
    best = load_checkpoint(run_dir / "best.pt")
    assert best["step"] == 2 and best["best_valid_loss"] > last["best_valid_loss"]
    return best, last


def test_resuming_a_run_whose_best_pt_lags_behind_last_pt_repairs_it(
    tmp_path, tiny_config, train_tiny, capsys
) -> None:
    run_dir = tmp_path / "run"
    _, last = older_version_run(run_dir, tiny_config, train_tiny)
    capsys.readouterr()
    config = tiny_config("gru", train={"max_steps": 4, "eval_interval": 2, "lr": 3e-3})
    train_tiny(config, run_dir, resume=True)  # nothing to train: validates step 4 again
    assert f"repaired {run_dir / 'best.pt'}" in capsys.readouterr().err
    best = load_checkpoint(run_dir / "best.pt")
    assert best["step"] == 4 and best["best_valid_loss"] == last["best_valid_loss"]
    assert state_dicts_equal(best["model"], last["model"])


def test_a_best_loss_whose_weights_were_never_saved_is_told_once(
    tmp_path, tiny_config, train_tiny, capsys
) -> None:
    run_dir = tmp_path / "run"
    best, last = older_version_run(run_dir, tiny_config, train_tiny)
    # last.pt is not the checkpoint of the best validation: as after a later save by Ctrl-C
    last["best_valid_loss"] -= 0.5
    save_checkpoint(run_dir / "last.pt", last)
    capsys.readouterr()
    config = tiny_config("gru", train={"max_steps": 4, "eval_interval": 2, "lr": 3e-3})
    train_tiny(config, run_dir, resume=True)
    warnings = [line for line in capsys.readouterr().err.splitlines() if "best.pt" in line]
    assert len(warnings) == 1 and "whose weights were never saved" in warnings[0]
    assert load_checkpoint(run_dir / "best.pt")["step"] == best["step"]  # the best it has


def test_a_second_training_of_one_folder_is_refused_and_a_stale_lock_taken_over(
    tmp_path, tiny_config, train_tiny, capsys
) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (run_dir / ".lock").write_text(f"{other.pid}\n")
        with pytest.raises(UserError, match=f"in use by another training \\(process {other.pid}"):
            train_tiny(tiny_config("gru", train={"max_steps": 1}), run_dir)
        assert sorted(p.name for p in run_dir.iterdir()) == [".lock"]  # nothing touched
    finally:
        other.kill()
        other.wait()
    # the owner is gone (killed): its lock is stale
    (run_dir / f".last.pt.{other.pid}.tmp").write_bytes(b"half a checkpoint")
    capsys.readouterr()
    train_tiny(tiny_config("gru", train={"max_steps": 1}), run_dir)
    err = capsys.readouterr().err
    assert f"took over {run_dir / '.lock'}" in err and f"process {other.pid}" in err
    assert f".last.pt.{other.pid}.tmp" in err  # named as removed
    assert not list(run_dir.glob(".*"))  # lock released, leftover removed
    assert (run_dir / "last.pt").is_file()


@pytest.mark.parametrize("resume", [False, True])
def test_a_training_that_saved_while_another_prepared_its_data_is_not_overwritten(
    tmp_path, tiny_config, train_tiny, monkeypatch, resume
) -> None:
    """Two trainings of one folder started together: the first runs to its end (lock taken and
    released) while the second prepares its data; the second must then refuse, not overwrite."""
    run_dir = tmp_path / "run"
    config = tiny_config("gru", train={"max_steps": 2, "eval_interval": 2})
    if resume:
        train_tiny(config, run_dir)
    prepare = training_loop.prepare_on_main_first
    first_done = []

    def prepare_while_the_other_trains(*args, **kwargs):
        if not first_done:
            first_done.append(True)
            more = dataclasses.replace(config.train, max_steps=4)
            train_tiny(config.replace(train=more), run_dir, resume=resume)
        return prepare(*args, **kwargs)

    monkeypatch.setattr(training_loop, "prepare_on_main_first", prepare_while_the_other_trains)
    with pytest.raises(UserError, match="another training .* while this one prepared its data"):
        train_tiny(config, run_dir, resume=resume)
    monkeypatch.undo()
    assert load_checkpoint(run_dir / "last.pt")["step"] == 4  # the first one's, untouched
    assert [r["step"] for r in records(run_dir, "valid")][-1] == 4
    assert not (run_dir / ".lock").exists()  # released on the way out


def test_rows_skipped_while_reading_get_one_line_only_when_there_are_some(
    tmp_path, tiny_runs, tiny_config, data_cache, exchanges_corpus, capsys
) -> None:
    assert "skipped while reading" not in (tiny_runs["gru"] / "train.log").read_text()
    corpus = tmp_path / "pairs.tsv"
    bad_rows = b"no tab here\ntoo\tmany\ttabs\nbad \xff\tX.\n"
    corpus.write_bytes(exchanges_corpus.read_bytes() + bad_rows)
    options = TrainOptions(run_dir=tmp_path / "run", device="cpu", cache_dir=data_cache)
    train(tiny_config("gru", train={"max_steps": 1}), corpus, options)
    lines = [line for line in capsys.readouterr().err.splitlines() if "skipped while" in line]
    assert lines == [
        "skipped while reading the corpus: 2 malformed row (expected prompt<TAB>reply), 1 row "
        "is not valid UTF-8 (python -m seq2seq.data shows what was read and dropped)"
    ]


def test_resume_refuses_a_changed_config(tmp_path, tiny_config, train_tiny) -> None:
    train_tiny(tiny_config("gru", train={"max_steps": 2}), tmp_path / "run")
    changed = tiny_config("gru", train={"max_steps": 4, "lr": 0.5})
    with pytest.raises(UserError, match="train.lr"):
        train_tiny(changed, tmp_path / "run", resume=True)


def test_a_checkpoint_from_before_a_new_config_key_resumes_with_its_default(
    tmp_path, tiny_config, train_tiny
) -> None:
    train_tiny(tiny_config("gru", train={"max_steps": 2}), tmp_path / "run")
    payload = load_checkpoint(tmp_path / "run" / "last.pt")
    del payload["config"]["data"]["filter"], payload["config"]["train"]["loss"]
    save_checkpoint(tmp_path / "run" / "last.pt", payload)
    result = train_tiny(tiny_config("gru", train={"max_steps": 3}), tmp_path / "run", resume=True)
    assert result.step == 3


def test_resume_with_the_other_architecture_names_model_arch(
    tmp_path, tiny_config, train_tiny
) -> None:
    train_tiny(tiny_config("gru", train={"max_steps": 1}), tmp_path / "run")
    with pytest.raises(UserError, match="is a gru run but model.arch is 'transformer'"):
        train_tiny(tiny_config("transformer", train={"max_steps": 2}), tmp_path / "run",
                   resume=True)


def test_resume_needs_a_checkpoint_and_a_new_run_needs_an_empty_folder(
    tmp_path, tiny_config, train_tiny
) -> None:
    config = tiny_config("gru", train={"max_steps": 2})
    with pytest.raises(UserError, match="no last.pt"):
        train_tiny(config, tmp_path / "run", resume=True)
    train_tiny(config, tmp_path / "run")
    with pytest.raises(UserError, match="--resume"):
        train_tiny(config, tmp_path / "run")


# Non-finite steps ---------------------------------------------------------------------------

def poison_training_forward(monkeypatch, bad_calls) -> None:
    """Make training-mode forward passes number `bad_calls(n)` (1-based) return NaN logits."""
    calls = {"n": 0}

    def build(config, tokenizer):
        model = build_model(config, tokenizer)

        def hook(module, args, output):
            if module.training:
                calls["n"] += 1
                if bad_calls(calls["n"]):
                    return output * math.nan
            return output

        model.register_forward_hook(hook)
        return model

    monkeypatch.setattr(training_loop, "build_model", build)


def test_non_finite_steps_are_skipped_and_counted(monkeypatch, tmp_path, tiny_config, train_tiny):
    poison_training_forward(monkeypatch, lambda n: n in (3, 4))
    config = tiny_config("transformer", train={"max_steps": 6, "log_interval": 1})
    result = train_tiny(config, tmp_path / "run")
    assert result.step == 6  # skipped updates do not count as steps
    logged = records(tmp_path / "run", "train")
    assert [r["step"] for r in logged] == [1, 2, 3, 4, 5, 6]
    assert [r["nonfinite_steps"] for r in logged] == [0, 0, 2, 2, 2, 2]
    assert all(math.isfinite(r["loss"]) for r in logged)


def test_a_diverging_run_stops_and_keeps_the_last_good_checkpoint(
    monkeypatch, tmp_path, tiny_config, train_tiny
) -> None:
    poison_training_forward(monkeypatch, lambda n: n > 4)
    config = tiny_config(
        "gru", train={"max_steps": 20, "eval_interval": 4, "max_nonfinite_steps": 3}
    )
    with pytest.raises(TrainingDiverged, match="3 non-finite steps in a row"):
        train_tiny(config, tmp_path / "run")
    last = load_checkpoint(tmp_path / "run" / "last.pt")
    assert last["step"] == 4
    assert all(torch.isfinite(tensor).all() for tensor in last["model"].values())


# Stop conditions and schedules --------------------------------------------------------------

def test_time_budget_stops_cleanly(tmp_path, tiny_config, train_tiny) -> None:
    config = tiny_config("transformer", train={"max_steps": 1000})
    result = train_tiny(config, tmp_path / "run", time_budget=1e-9)
    assert (result.stop_reason, result.step) == ("time_budget", 1)
    assert [r["step"] for r in records(tmp_path / "run", "valid")] == [1]
    assert load_checkpoint(tmp_path / "run" / "last.pt")["step"] == 1


def test_early_stopping_after_patience_bad_validations(
    monkeypatch, tmp_path, tiny_config, train_tiny
) -> None:
    flat = {"loss": 5.0, "ppl": math.exp(5.0), "token_acc": 0.0}
    monkeypatch.setattr(training_loop, "validate", lambda *args: dict(flat))
    config = tiny_config("gru", train={"max_steps": 100, "eval_interval": 2, "patience": 2})
    result = train_tiny(config, tmp_path / "run")
    assert (result.stop_reason, result.step) == ("patience", 6)  # best at 2, worse at 4 and 6


@pytest.mark.parametrize("arch", ARCHS)
def test_both_models_get_the_decayed_teacher_forcing_ratio_and_feed(
    monkeypatch, tmp_path, tiny_config, train_tiny, arch
) -> None:
    seen = []

    class RecordingFeeding(Feeding):
        def forward(self, src, src_mask, tgt_in, teacher_forcing=1.0):
            if self.training:
                seen.append((teacher_forcing, self.feed))
            return super().forward(src, src_mask, tgt_in, teacher_forcing)

    monkeypatch.setattr(training_loop, "Feeding", RecordingFeeding)
    train = {"max_steps": 6, "teacher_forcing": 1.0, "teacher_forcing_final": 0.0,
             "teacher_forcing_decay_steps": 4, "teacher_forcing_feed": "sample"}
    train_tiny(tiny_config(arch, train=train), tmp_path / "run")
    assert seen == [(r, "sample") for r in (1.0, 0.75, 0.5, 0.25, 0.0, 0.0)]


def train_losses(run_dir: Path) -> list[float]:
    return [r["loss"] for r in records(run_dir, "train")]


def test_levers_at_their_neutral_settings_repeat_the_plain_run_exactly(
    tmp_path, tiny_config, train_tiny
) -> None:
    train = {"max_steps": 8, "log_interval": 1}
    neutral = {"loss": "face", "face_strength": 0.0, "teacher_forcing": 1.0,
               "teacher_forcing_feed": "sample"}
    train_tiny(tiny_config("transformer", train=train), tmp_path / "plain")
    train_tiny(tiny_config("transformer", train=train | neutral), tmp_path / "neutral")
    assert train_losses(tmp_path / "plain") == train_losses(tmp_path / "neutral")


def test_the_frequency_aware_loss_trains_differently_but_logs_plain_nll(
    tmp_path, tiny_config, train_tiny, exchanges_corpus, data_cache
) -> None:
    train = {"max_steps": 8, "log_interval": 1}
    train_tiny(tiny_config("gru", train=train), tmp_path / "plain")
    config = tiny_config("gru", train=train | {"loss": "face"})
    train_tiny(config, tmp_path / "face")
    plain, face = train_losses(tmp_path / "plain"), train_losses(tmp_path / "face")
    assert plain[0] == face[0]  # the same model before its first update: the same plain NLL
    assert plain[1:] != face[1:]
    # the weights come from the training split only, and the checkpoint keeps them
    prepared = prepare_data(config.data, exchanges_corpus, cache_dir=data_cache, progress=False)
    counts = token_frequencies(prepared.splits["train"].tgt, prepared.tokenizer.vocab_size)
    saved = load_checkpoint(tmp_path / "face" / "last.pt")["token_frequencies"]
    assert torch.equal(saved, counts)
    assert "token_frequencies" not in load_checkpoint(tmp_path / "plain" / "last.pt")


def test_a_resumed_run_takes_the_frequency_weights_from_its_checkpoint(
    monkeypatch, tmp_path, tiny_config, train_tiny
) -> None:
    train = {"loss": "face", "max_steps": 2}
    train_tiny(tiny_config("gru", train=train), tmp_path / "run")
    saved = load_checkpoint(tmp_path / "run" / "last.pt")["token_frequencies"]
    given = []
    build = training_loop.build_frequency_weights

    def spy(*args, saved=None):
        given.append(saved)
        return build(*args, saved=saved)

    monkeypatch.setattr(training_loop, "build_frequency_weights", spy)
    train_tiny(tiny_config("gru", train=train | {"max_steps": 3}), tmp_path / "run", resume=True)
    assert len(given) == 1 and torch.equal(given[0], saved)


# A compiled run (train.compile) ---------------------------------------------------------------

def test_a_compiled_run_saves_plain_weights_resumes_exactly_and_loads_for_chat(
    tmp_path, tiny_config, train_tiny, monkeypatch
) -> None:
    """torch.compile wraps the model (its state-dict keys gain `_orig_mod.`); checkpoints must
    hold the model's own keys so that chat, compare and a resume read them as any run's. The
    compiler backend is torch's "eager" one here: the wrapper and the training loop around it
    are what is tested, without a C++ toolchain or minutes of compilation."""
    compiled = []
    real_compile = torch.compile

    def compile_eagerly(model, **kwargs):
        compiled.append(model)
        return real_compile(model, backend="eager", **kwargs)

    monkeypatch.setattr(torch, "compile", compile_eagerly)
    train = {"max_steps": 6, "eval_interval": 3, "log_interval": 1, "compile": True}
    full = tiny_config("transformer", train=train, model={"dropout": 0.3})
    train_tiny(full, tmp_path / "straight")
    train_tiny(tiny_config("transformer", train=train | {"max_steps": 2}, model={"dropout": 0.3}),
               tmp_path / "resumed")
    train_tiny(full, tmp_path / "resumed", resume=True)
    assert len(compiled) == 3

    last = load_checkpoint(tmp_path / "straight" / "last.pt")
    assert not [key for key in last["model"] if "_orig_mod" in key]
    losses = {run: [(r["step"], r["loss"]) for r in records(tmp_path / run, "train")]
              for run in ("straight", "resumed")}
    assert losses["straight"] == losses["resumed"] and len(losses["straight"]) == 6
    assert state_dicts_equal(
        last["model"], load_checkpoint(tmp_path / "resumed" / "last.pt")["model"]
    )
    trained = load_trained(tmp_path / "straight")  # what chat.py and compare.py call
    assert trained.step == 6 and not isinstance(trained.model, torch._dynamo.OptimizedModule)
