"""The device, precision and thread settings every command shares (seq2seq/device.py and the
OpenMP wait policy that seq2seq/__init__.py sets)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from seq2seq.device import Precision, resolve_device, set_threads
from seq2seq.errors import UserError


def test_devices_resolve_or_fail_with_one_line() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    with pytest.raises(UserError, match="--device gpu"):
        resolve_device("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="no CUDA GPU"):
            resolve_device("cuda:0")


def test_threads_flag_sets_torch_threads_or_fails_with_one_line() -> None:
    before = torch.get_num_threads()
    try:
        set_threads(None)
        assert torch.get_num_threads() == before
        set_threads(1)
        assert torch.get_num_threads() == 1
        with pytest.raises(UserError, match="--threads 0: must be >= 1"):
            set_threads(0)
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("setting", ["auto", "fp32", "bf16", "fp16"])
def test_the_cpu_always_trains_in_float32_without_a_scaler(setting: str) -> None:
    precision = Precision(setting, torch.device("cpu"))
    assert precision.name == "fp32"
    assert not precision.scaler.is_enabled()
    with precision.autocast():
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32


def test_device_auto_is_the_default_and_means_the_cpu_without_a_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")


def test_a_gpu_index_beyond_the_visible_gpus_is_a_user_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("cuda:0") == torch.device("cuda", 0)
    with pytest.raises(UserError, match="only 1 CUDA GPU"):
        resolve_device("cuda:1")


@pytest.mark.parametrize("script", ["train.py", "chat.py", "compare.py"])
def test_the_tools_load_openmp_with_sleeping_waits_unless_told_otherwise(script: str) -> None:
    """OMP_WAIT_POLICY only counts if it is set before torch loads OpenMP: each tool imports
    the package (which sets it) before torch, and an explicit setting is kept."""
    root = Path(__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", script, "--help"], cwd=root, env=env,
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    imported = [line.split("|")[-1].strip() for line in done.stderr.splitlines()
                if line.startswith("import time:")]
    if "torch" in imported:  # chat.py --help does not load it
        assert imported.index("seq2seq") < imported.index("torch")
    probe = "import os, seq2seq; print(os.environ['OMP_WAIT_POLICY'])"
    for given, expected in ((None, "PASSIVE"), ("ACTIVE", "ACTIVE")):
        child_env = env if given is None else {**env, "OMP_WAIT_POLICY": given}
        out = subprocess.run([sys.executable, "-c", probe], cwd=root, env=child_env,
                             capture_output=True, text=True, timeout=60)
        assert out.stdout.strip() == expected
