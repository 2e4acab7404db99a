from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from seq2seq.checkpoint import load_checkpoint, load_trained
from seq2seq.comparison.cli import main as compare_main
from seq2seq.errors import UserError
from seq2seq.pretrained.export import export
from seq2seq.pretrained.golden import greedy_reply
from tests.conftest import EXCHANGES, REPO

PROMPTS = [row.split("\t")[0] for row in EXCHANGES.read_text(encoding="utf-8").splitlines()]


def test_the_folder_holds_a_half_precision_model_its_config_and_a_card(shipped_root, tiny_runs):
    folder = shipped_root / "pretrained" / "transformer"
    assert sorted(p.name for p in folder.iterdir()) == ["MODEL_CARD.md", "config.yaml", "model.pt"]
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no leftovers
    payload = load_checkpoint(folder / "model.pt")
    floats = [t for t in payload["model"].values() if t.is_floating_point()]
    assert floats and all(t.dtype == torch.float16 for t in floats)
    assert "optimizer" not in payload and payload["precision"] == "float16"
    original = load_trained(tiny_runs["transformer"])
    assert (folder / "model.pt").stat().st_size < 0.6 * original.path.stat().st_size
    card = (folder / "MODEL_CARD.md").read_text(encoding="utf-8")
    for fact in (f"steps: {original.step}", "commit 0123abcd", "exchanges.tsv", "token perplexity",
                 "Danescu-Niculescu-Mizil", "python train.py --config pretrained/transformer"):
        assert fact in card


@pytest.mark.parametrize("arch", ["transformer", "gru"])
def test_a_shipped_model_loads_as_float32_and_replies_as_its_float32_original(
    shipped_root, tiny_runs, arch
):
    shipped = load_trained(shipped_root / "pretrained" / arch)
    original = load_trained(tiny_runs[arch])
    assert {p.dtype for p in shipped.model.parameters()} == {torch.float32}
    with torch.inference_mode():
        replies = [greedy_reply(shipped, prompt) for prompt in PROMPTS[:60]]
        expected = [greedy_reply(original, prompt) for prompt in PROMPTS[:60]]
    assert replies == expected
    card = (shipped_root / "pretrained" / arch / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "same greedy reply on" in card


def test_export_refuses_to_overwrite_unless_asked(tmp_path, tiny_runs):
    out = tmp_path / "pretrained" / "gru"
    export(tiny_runs["gru"], out, limit=5)
    with pytest.raises(UserError, match="already exists; add --replace"):
        export(tiny_runs["gru"], out, limit=5)
    (out / "stale.txt").write_text("old", encoding="utf-8")
    export(tiny_runs["gru"], out, limit=5, replace=True, precision="bfloat16")
    assert not (out / "stale.txt").exists()
    assert sorted(p.name for p in tmp_path.joinpath("pretrained").iterdir()) == ["gru"]
    weights = load_checkpoint(out / "model.pt")["model"]
    assert next(iter(weights.values())).dtype == torch.bfloat16


def test_compare_takes_shipped_folders_like_runs(shipped_root, tmp_path):
    pair = [str(shipped_root / "pretrained" / name) for name in ("transformer", "gru")]
    assert compare_main([*pair, "--corpus", str(EXCHANGES), "--limit", "20", "--attention",
                         "0", "--speed-passes", "1", "--out", str(tmp_path / "c")]) == 0
    report = (tmp_path / "c" / "report.md").read_text(encoding="utf-8")
    assert "| transformer |" in report and "| gru |" in report


def test_the_export_command_writes_the_folder_and_errors_in_one_line(tiny_runs, tmp_path):
    command = [sys.executable, "-m", "seq2seq.pretrained", "export"]
    out = tmp_path / "gru"
    done = subprocess.run([*command, str(tiny_runs["gru"]), str(out), "--limit", "5"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (out / "model.pt").is_file() and "wrote" in done.stderr
    again = subprocess.run([*command, str(tiny_runs["gru"]), str(out)], cwd=REPO,
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 2
    assert again.stderr.strip().splitlines() == [f"error: {out} already exists; add --replace "
                                                 "to overwrite it"]


def test_shipped_weights_stay_within_half_precision_of_the_original(shipped_root, tiny_runs):
    shipped = load_trained(shipped_root / "pretrained" / "gru").model.state_dict()
    original = load_trained(tiny_runs["gru"]).model.state_dict()
    for name, tensor in original.items():
        if tensor.is_floating_point():
            np.testing.assert_allclose(shipped[name].numpy(), tensor.numpy(), rtol=1e-3,
                                       atol=1e-4)
