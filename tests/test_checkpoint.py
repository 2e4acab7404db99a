"""Checkpoints: atomic writes, safe (weights_only) loading with one-line errors, rebuilding a
trained model from a file or a run folder, and finding the newest run."""

from __future__ import annotations

import errno
import math
import os
import pickle
import shutil
import time
from pathlib import Path

import pytest
import torch

from seq2seq.checkpoint import (
    FORMAT,
    TrainingState,
    load_checkpoint,
    load_trained,
    save_checkpoint,
)
from seq2seq.decoding import Decoding, generate
from seq2seq.errors import UserError, WriteError
from seq2seq.models import build_model
from seq2seq.runs import find_latest_run

ARCHS = ("transformer", "gru")


class NotAllowed:
    """A class weights_only loading must refuse to instantiate."""


@pytest.mark.parametrize("arch", ARCHS)
def test_training_checkpoints_load_with_weights_only(tiny_runs, arch: str) -> None:
    payload = torch.load(tiny_runs[arch] / "last.pt", weights_only=True)
    assert payload["format"] == FORMAT
    for key in ("config", "model", "tokenizer", "optimizer", "scheduler", "scaler", "step",
                "epoch", "data_position", "best_valid_loss", "rng", "metrics"):
        assert key in payload, key


def test_save_replaces_atomically_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    path = tmp_path / "ck.pt"
    save_checkpoint(path, {"format": FORMAT, "value": torch.ones(3)})
    save_checkpoint(path, {"format": FORMAT, "value": torch.zeros(3)})
    assert torch.equal(torch.load(path, weights_only=True)["value"], torch.zeros(3))
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pt"]


def test_a_failed_save_keeps_the_previous_file(tmp_path: Path) -> None:
    path = tmp_path / "ck.pt"
    save_checkpoint(path, {"format": FORMAT, "value": 1})
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        save_checkpoint(path, {"format": FORMAT, "value": lambda: None})  # cannot be pickled
    assert torch.load(path, weights_only=True)["value"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pt"]


def fill_the_disk(payload, file) -> None:
    """torch.save on a full disk: some bytes get written, then ENOSPC."""
    file.write(b"PK\x03\x04 half a checkpoint")
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def fail_in_the_zip_writer(payload, file) -> None:
    """torch.save on a full disk as its C++ zip writer reports it: a RuntimeError."""
    file.write(b"PK\x03\x04 half a checkpoint")
    raise RuntimeError(
        "[enforce fail at inline_container.cc:778] . PytorchStreamWriter failed writing file "
        "data/0: file write failed"
    )


@pytest.mark.parametrize(("fail", "reason"), [
    (fill_the_disk, "No space left on device"),
    (fail_in_the_zip_writer, "the write failed: is the disk full?"),  # torch's own report
])
def test_a_full_disk_keeps_the_previous_file_and_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail, reason: str
) -> None:
    path = tmp_path / "ck.pt"
    save_checkpoint(path, {"format": FORMAT, "value": 1})
    monkeypatch.setattr(torch, "save", fail)
    with pytest.raises(WriteError) as error:
        save_checkpoint(path, {"format": FORMAT, "value": 2})
    assert str(error.value) == f"cannot write {path} ({reason}); it was left as it was"
    assert torch.load(path, weights_only=True)["value"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pt"]


@pytest.mark.parametrize("kind", ["folder", "link to /dev/zero"])
def test_a_best_pt_that_is_no_file_is_named_as_such_not_missing(tiny_runs, tmp_path, kind):
    run = tmp_path / "run"
    shutil.copytree(tiny_runs["gru"], run)
    (run / "best.pt").unlink()
    if kind == "folder":
        (run / "best.pt").mkdir()
    else:
        (run / "best.pt").symlink_to("/dev/zero")
    expected = "is a folder" if kind == "folder" else "is a character device"
    with pytest.raises(UserError, match=f"checkpoint {run / 'best.pt'} {expected}"):
        load_trained(run)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"not a zip file at all", "not a seq2seq-chatbots checkpoint"),
        (b"", "not a seq2seq-chatbots checkpoint \\(the file is empty\\)"),
        (bytes(range(256)) * 40, "not a seq2seq-chatbots checkpoint"),  # random bytes
        (None, "not a seq2seq-chatbots checkpoint"),  # a pickled foreign class
    ],
)
@pytest.mark.parametrize("mmap", [False, True])
def test_damaged_or_foreign_files_give_one_line(tmp_path: Path, content, reason, mmap) -> None:
    path = tmp_path / "bad.pt"
    if content is None:
        torch.save({"format": FORMAT, "thing": NotAllowed()}, path)
    else:
        path.write_bytes(content)
    with pytest.raises(UserError, match=reason) as error:
        load_checkpoint(path, mmap=mmap)
    assert "\n" not in str(error.value)
    assert str(path) in str(error.value)
    assert "mmap" not in str(error.value) and "weights_only" not in str(error.value)


@pytest.mark.parametrize("step", ["12", 1.5, None, -3])
def test_a_checkpoint_whose_step_is_not_a_count_is_reported(tiny_runs, tmp_path, step) -> None:
    payload = torch.load(tiny_runs["gru"] / "best.pt", weights_only=True)
    payload["step"] = step
    path = tmp_path / "odd.pt"
    torch.save(payload, path)
    with pytest.raises(UserError, match="its step .* is not a step count"):
        load_trained(path)


def test_a_truncated_checkpoint_is_reported(tiny_runs, tmp_path: Path) -> None:
    data = (tiny_runs["gru"] / "last.pt").read_bytes()
    path = tmp_path / "cut.pt"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="not a seq2seq-chatbots checkpoint"):
        load_checkpoint(path)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ([1, 2, 3], "not a dict"),
        ({"model": {}}, "format"),
        ({"format": FORMAT, "model": {}}, "missing config"),
    ],
)
def test_wrong_contents_are_reported(tmp_path: Path, payload, reason) -> None:
    path = tmp_path / "odd.pt"
    torch.save(payload, path)
    with pytest.raises(UserError, match=reason):
        load_checkpoint(path)


def test_a_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        load_checkpoint(tmp_path / "nothing.pt")


@pytest.mark.parametrize("arch", ARCHS)
def test_load_trained_rebuilds_the_model_from_a_run_folder(tiny_runs, arch: str) -> None:
    trained = load_trained(tiny_runs[arch])
    assert trained.path == tiny_runs[arch] / "best.pt"
    assert trained.run_dir == tiny_runs[arch]
    assert not trained.model.training
    assert trained.config.model.arch == arch
    payload = load_checkpoint(trained.path)
    assert trained.step == payload["step"]
    for name, tensor in trained.model.state_dict().items():
        assert torch.equal(tensor, payload["model"][name])
    ids = trained.tokenizer.encode("Can I borrow your car?")
    src = torch.tensor([ids])
    decoding = Decoding.of(trained.config.decode, trained.tokenizer)
    result = generate(trained.model, src, src != trained.tokenizer.pad_id, decoding)
    assert len(result.tokens) == 1


def test_both_tiny_runs_share_one_tokenizer(tiny_runs) -> None:
    fingerprints = {load_trained(run).tokenizer.fingerprint() for run in tiny_runs.values()}
    assert len(fingerprints) == 1


def test_load_trained_accepts_a_file_and_falls_back_to_last(tiny_runs, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(tiny_runs["gru"], run)
    assert load_trained(run / "last.pt").path == run / "last.pt"
    (run / "best.pt").unlink()
    assert load_trained(run).path == run / "last.pt"
    (run / "last.pt").unlink()
    with pytest.raises(UserError, match="holds no best.pt or last.pt"):
        load_trained(run)


def test_a_tampered_tokenizer_is_detected(tiny_runs, tmp_path: Path) -> None:
    payload = load_checkpoint(tiny_runs["gru"] / "best.pt")
    payload["tokenizer"]["fingerprint"] = "0" * 64
    save_checkpoint(tmp_path / "x.pt", payload)
    with pytest.raises(UserError, match="fingerprint"):
        load_trained(tmp_path / "x.pt")


@pytest.mark.parametrize("arch", ARCHS)
def test_load_trained_computes_what_the_saved_model_computed(tiny_runs, arch: str) -> None:
    trained = load_trained(tiny_runs[arch])
    payload = load_checkpoint(trained.path)
    saved = build_model(trained.config.model, trained.tokenizer)  # initialised, then copied into
    saved.load_state_dict(payload["model"])
    saved.eval()
    assert trained.model.num_parameters() == saved.num_parameters()
    src = torch.tensor([trained.tokenizer.encode("Can I borrow your car?")])
    src_mask = src != trained.tokenizer.pad_id
    tgt_in = torch.tensor([[trained.tokenizer.bos_id, *trained.tokenizer.encode("No way.")]])
    with torch.no_grad():
        assert torch.equal(trained.model(src, src_mask, tgt_in), saved(src, src_mask, tgt_in))
        memories = trained.model.encode(src, src_mask), saved.encode(src, src_mask)
        states = [None, None]
        for token in tgt_in[0]:
            steps = [model.decode_step(token[None], memory, state) for model, memory, state
                     in zip((trained.model, saved), memories, states, strict=True)]
            assert torch.equal(steps[0][0], steps[1][0])
            states = [state for _, state in steps]


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("damage", [
    lambda payload: payload["config"]["model"].update(d_model=48),
    lambda payload: payload["model"].popitem(),
    lambda payload: payload["model"].update(extra=torch.zeros(1)),
    lambda payload: payload["model"].update({next(iter(payload["model"])): "text"}),
    lambda payload: payload.update(model=[1, 2]),
])
def test_weights_that_do_not_fit_the_config_are_reported(tiny_runs, tmp_path, arch, damage):
    payload = load_checkpoint(tiny_runs[arch] / "best.pt")
    damage(payload)
    save_checkpoint(tmp_path / "x.pt", payload)
    with pytest.raises(UserError, match="the weights do not fit the model its config describes"
                       ) as error:
        load_trained(tmp_path / "x.pt")
    assert "\n" not in str(error.value)


def test_find_latest_run_picks_the_newest_best(tmp_path: Path) -> None:
    for name, age in (("old", 100), ("new", 10), ("unfinished", 0)):
        (tmp_path / name).mkdir()
        marker = tmp_path / name / ("last.pt" if name == "unfinished" else "best.pt")
        marker.write_bytes(b"")
        os.utime(marker, (time.time() - age, time.time() - age))
    assert find_latest_run(tmp_path) == tmp_path / "new"


def test_find_latest_run_says_how_to_train_when_there_is_none(tmp_path: Path) -> None:
    with pytest.raises(UserError) as error:
        find_latest_run(tmp_path / "runs")
    message = str(error.value)  # the quick tiny model, not a GPU config (hours on a CPU)
    assert "python train.py --config configs/tiny-transformer.yaml --max-steps 300" in message
    assert "--model transformer" not in message


def test_a_damaged_tokenizer_names_its_checkpoint(tiny_runs, tmp_path) -> None:
    payload = torch.load(tiny_runs["gru"] / "best.pt", weights_only=True)
    payload["tokenizer"]["model"] = b"not a sentencepiece model"
    path = tmp_path / "odd.pt"
    torch.save(payload, path)
    with pytest.raises(UserError, match=f"{path} is damaged: the tokenizer model is damaged"):
        load_trained(path)


def test_the_training_state_goes_through_a_checkpoint_unchanged(tiny_runs, tmp_path) -> None:
    payload = load_checkpoint(tiny_runs["gru"] / "last.pt")
    state = TrainingState.from_payload(payload, tmp_path / "last.pt")
    assert state.selection is not None
    save_checkpoint(tmp_path / "again.pt", {**payload, **state.to_payload()})
    again = TrainingState.from_payload(load_checkpoint(tmp_path / "again.pt"), tmp_path)
    assert again.to_payload().keys() == state.to_payload().keys()
    assert (again.data_position, again.bad_evals, again.selection, again.log_interval_sums) == (
        state.data_position, state.bad_evals, state.selection, state.log_interval_sums
    )
    assert torch.equal(again.rng["torch"], state.rng["torch"])


def test_a_weights_only_checkpoint_has_no_training_state(tiny_runs, tmp_path) -> None:
    payload = load_checkpoint(tiny_runs["gru"] / "last.pt")
    weights_only = {key: value for key, value in payload.items()
                    if key not in TrainingState.REQUIRED}
    with pytest.raises(UserError, match="has no training state"):
        TrainingState.from_payload(weights_only, tmp_path / "step-4.pt")


CRAFTED = [("epoch", "first"), ("epoch", -1), ("train_seconds", [1.0]),
           ("best_valid_loss", "low"), ("data_position", 2.5), ("bad_evals", True),
           ("nonfinite_steps", "none"), ("optimizer", [1]), ("rng", "seeded"),
           ("log_interval_sums", 3), ("selection", "best"), ("metrics", 7)]


@pytest.mark.parametrize(("key", "value"), CRAFTED)
def test_every_crafted_training_state_entry_is_one_line_on_resume(tiny_runs, tmp_path, key,
                                                                  value) -> None:
    payload = load_checkpoint(tiny_runs["gru"] / "last.pt")
    path = tmp_path / "last.pt"
    with pytest.raises(UserError, match=f"{path} is damaged: its {key} .* is not a"):
        TrainingState.from_payload({**payload, key: value}, path)


@pytest.mark.parametrize(("key", "value"), [("epoch", "first"), ("train_seconds", [1.0]),
                                            ("corpus", 3), ("device", ["cpu"])])
def test_every_crafted_description_entry_is_one_line_on_load(tiny_runs, tmp_path, key,
                                                             value) -> None:
    payload = load_checkpoint(tiny_runs["gru"] / "best.pt")
    path = tmp_path / "crafted.pt"
    torch.save({**payload, key: value}, path)
    with pytest.raises(UserError, match=f"{path} is damaged: its {key} .* is not a"):
        load_trained(path)
    torch.save({**payload, "train_seconds": 12}, path)  # an int is a number of seconds too
    assert load_trained(path).train_seconds == 12.0


def test_a_checkpoint_of_non_finite_weights_is_refused_with_a_word(tiny_runs, tmp_path) -> None:
    payload = load_checkpoint(tiny_runs["gru"] / "best.pt")
    name = next(key for key, tensor in payload["model"].items() if tensor.is_floating_point())
    weights = {**payload["model"], name: torch.full_like(payload["model"][name], math.nan)}
    path = tmp_path / "nan.pt"
    torch.save({**payload, "model": weights}, path)
    with pytest.raises(UserError, match=f"{path} is damaged: 1 weight tensor.*NaN.*{name}"):
        load_trained(path)
