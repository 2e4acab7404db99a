"""Which checkpoint files a save writes, in which order, and what a failed write says."""

from __future__ import annotations

from pathlib import Path

import pytest

from seq2seq import runs
from seq2seq.config import TrainConfig
from seq2seq.errors import WriteError
from seq2seq.training import saving


@pytest.fixture
def written(monkeypatch) -> list[tuple[str, str]]:
    """(file name, payload kind) of every save, in order; nothing reaches the disk."""
    log: list[tuple[str, str]] = []
    monkeypatch.setattr(saving, "save_checkpoint",
                        lambda path, payload: log.append((path.name, payload["kind"])))
    return log


def save(run_dir: Path, train: TrainConfig, **earned: bool) -> None:
    saving.save_checkpoints(run_dir, 40, train, lambda: {"kind": "weights"},
                            lambda: {"kind": "full"}, runs.resume_command(run_dir, None), **earned)


def test_a_validation_writes_what_it_earned_before_last_pt(tmp_path, written) -> None:
    train = TrainConfig(keep_checkpoints=3, select="diverse")
    save(tmp_path, train, best=True, selected=True, validated=True)
    assert written == [("step-40.pt", "weights"), ("selected.pt", "weights"),
                       ("best.pt", "full"), ("last.pt", "full")]


def test_between_validations_only_last_pt_is_written(tmp_path, written) -> None:
    save(tmp_path, TrainConfig(keep_checkpoints=3, select="diverse"), selected=True)
    assert written == [("selected.pt", "weights"), ("last.pt", "full")]
    written.clear()
    save(tmp_path, TrainConfig(keep_checkpoints=3))
    assert written == [("last.pt", "full")]


def test_the_loss_rule_keeps_no_selected_pt(tmp_path, written) -> None:
    save(tmp_path, TrainConfig(select="loss"), best=True, selected=True, validated=True)
    assert written == [("best.pt", "full"), ("last.pt", "full")]


def test_a_failed_write_says_how_to_continue(monkeypatch, tmp_path) -> None:
    def full_disk(path: Path, payload: dict) -> None:
        raise WriteError(f"cannot write {path}: no space left")

    monkeypatch.setattr(saving, "save_checkpoint", full_disk)
    with pytest.raises(WriteError, match="free some space .* then start the run again$"):
        save(tmp_path, TrainConfig())
    (tmp_path / "last.pt").write_bytes(b"")
    with pytest.raises(WriteError, match="then continue from the last.pt there with: python "
                                         "train.py --run-dir .* --resume$"):
        save(tmp_path, TrainConfig())
