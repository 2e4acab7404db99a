from pathlib import Path
from types import SimpleNamespace

import pytest

from seq2seq.comparison.pipeline import pick_samples, run_labels, shared_data_config
from seq2seq.config import DataConfig
from seq2seq.errors import UserError


def test_labels_are_the_run_folders_made_unique():
    runs = [SimpleNamespace(run_dir=Path(p), path=Path(p) / "best.pt")
            for p in ("a/gru", "b/gru", "c/transformer", "d/samples")]
    assert run_labels(runs) == ["gru", "gru-2", "transformer", "samples-2"]


def test_samples_are_seeded_distinct_and_sorted():
    first = pick_samples(5, 40, seed=1)
    assert first == pick_samples(5, 40, seed=1) != pick_samples(5, 40, seed=2)
    assert first == sorted(set(first)) and all(0 <= i < 40 for i in first)
    assert pick_samples(10, 3, seed=0) == [0, 1, 2]


def test_a_checkpoint_the_folder_does_not_offer_is_labelled_with_its_file(tmp_path):
    run_dir = tmp_path / "transformer"
    run_dir.mkdir()
    for name in ("selected.pt", "best.pt", "step-100.pt"):
        (run_dir / name).write_bytes(b"")
    runs = [SimpleNamespace(run_dir=run_dir, path=run_dir / name)
            for name in ("selected.pt", "best.pt", "step-100.pt")]
    assert run_labels(runs) == ["transformer", "transformer@best", "transformer@step-100"]
    elsewhere = tmp_path / "kept"
    elsewhere.mkdir()
    (elsewhere / "step-100.pt").write_bytes(b"")
    assert run_labels([SimpleNamespace(run_dir=elsewhere, path=elsewhere / "step-100.pt")]) == [
        "kept"
    ]


def test_runs_that_differ_only_in_training_only_data_keys_compare():
    def run(**data):
        return SimpleNamespace(config=SimpleNamespace(data=DataConfig(**data)))

    plain, filtered = run(), run(filter="both", filter_threshold=2.0)
    assert shared_data_config([plain, filtered], ["a", "b"]) == DataConfig()
    with pytest.raises(UserError, match="data.vocab_size"):
        shared_data_config([plain, run(vocab_size=500)], ["a", "b"])
