"""train.py as a user runs it: one-line errors without tracebacks, a clean stop on SIGTERM
that leaves a loadable checkpoint, and --resume continuing from it."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from seq2seq.checkpoint import load_checkpoint
from seq2seq.errors import run_cli
from seq2seq.training import TrainOptions, train

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow  # each test starts train.py (and torch) anew; most of them train

TINY = [
    "--config", str(REPO / "configs" / "tiny-transformer.yaml"),
    "--set", "model.d_model=32", "--set", "model.n_heads=2", "--set", "model.n_layers=1",
    "--set", "model.d_ff=64", "--set", "data.vocab_size=150", "--set", "train.batch_size=32",
    "--set", "train.max_tokens=1024", "--set", "decode.max_len=8",
    "--device", "cpu", "--threads", "1",
]


def command(*args: str) -> list[str]:
    return [sys.executable, str(REPO / "train.py"), "--model", "transformer", *args]


@pytest.fixture
def env(data_cache: Path) -> dict[str, str]:
    return {**os.environ, "SEQ2SEQ_CACHE": str(data_cache)}


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(command(*args), capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=300)


def assert_one_line_error(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for word in words:
        assert word in lines[0]


def test_an_unknown_config_key_is_one_line(tmp_path, env) -> None:
    result = run(["--set", "model.bogus=1"], env, tmp_path)
    assert_one_line_error(result, "model.bogus")


def test_a_missing_corpus_is_one_line_and_creates_nothing(tmp_path, env) -> None:
    result = run([*TINY, "--corpus", "/nonexistent", "--run-dir", str(tmp_path / "run")],
                 env, tmp_path)
    assert_one_line_error(result, "/nonexistent")
    assert not (tmp_path / "run").exists()


def test_resume_without_a_checkpoint_is_one_line(tmp_path, env, exchanges_corpus) -> None:
    (tmp_path / "run").mkdir()
    result = run([*TINY, "--corpus", str(exchanges_corpus), "--run-dir", str(tmp_path / "run"),
                  "--resume"], env, tmp_path)
    assert_one_line_error(result, "last.pt")
    result = run([*TINY, "--resume"], env, tmp_path)
    assert_one_line_error(result, "--run-dir")


def test_sigterm_saves_a_checkpoint_and_resume_continues(tmp_path, env, exchanges_corpus) -> None:
    run_dir = tmp_path / "run"
    args = [*TINY, "--corpus", str(exchanges_corpus), "--run-dir", str(run_dir),
            "--set", "train.log_interval=1", "--set", "train.eval_interval=100000",
            "--max-steps", "100000"]
    process = subprocess.Popen(command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env, cwd=tmp_path)
    metrics = run_dir / "metrics.jsonl"
    deadline = time.monotonic() + 240
    while not (metrics.is_file() and metrics.read_text(encoding="utf-8").strip()):
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, "training never logged a step"
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)

    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    step = load_checkpoint(run_dir / "last.pt")["step"]
    assert step >= 1

    result = run([*args[:-2], "--max-steps", str(step + 2), "--resume"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"resuming at step {step}" in result.stderr
    assert load_checkpoint(run_dir / "last.pt")["step"] == step + 2
    records = [json.loads(line) for line in metrics.read_text().splitlines()]
    logged = [r["step"] for r in records if r["kind"] == "train"]
    assert logged == list(range(1, step + 3))  # one history: every step once


def test_resume_without_config_yaml_takes_the_config_from_last_pt(
    tmp_path, env, exchanges_corpus
) -> None:
    run_dir = tmp_path / "run"
    args = [*TINY, "--corpus", str(exchanges_corpus), "--run-dir", str(run_dir),
            "--set", "train.eval_interval=100000"]
    assert run([*args, "--max-steps", "2"], env, tmp_path).returncode == 0
    (run_dir / "config.yaml").unlink()  # lost; last.pt holds the same config
    resumed = subprocess.run(
        [sys.executable, str(REPO / "train.py"), "--corpus", str(exchanges_corpus), "--run-dir",
         str(run_dir), "--resume", "--max-steps", "3", "--device", "cpu", "--threads", "1"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "config.yaml is missing; resuming with the config saved in" in resumed.stderr
    payload = load_checkpoint(run_dir / "last.pt")
    assert payload["step"] == 3 and payload["config"]["model"]["d_model"] == 32  # not the default
    assert (run_dir / "config.yaml").is_file()  # written back


@pytest.mark.parametrize("arch", ["transformer", "gru"])
def test_the_protocol_configs_train_their_first_steps(tmp_path, env, arch) -> None:
    # The README's protocol commands as printed, on the fixture corpus (hence a smaller
    # vocabulary) and for a few steps: the shipped model, training and selection settings.
    run_dir = tmp_path / "run"
    args = [
        "--model", arch, "--config", str(REPO / "configs" / f"protocol-cpu-{arch}.yaml"),
        "--corpus", str(REPO / "tests" / "fixtures" / "exchanges.tsv"),
        "--set", "data.vocab_size=150", "--set", "train.eval_interval=2",
        "--set", "train.diversity_prompts=8", "--max-steps", "4", "--threads", "1",
        "--device", "cpu", "--run-dir", str(run_dir),
    ]
    result = subprocess.run([sys.executable, str(REPO / "train.py"), *args], capture_output=True,
                            text=True, env=env, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "distinct-2" in result.stderr
    for name in ("step-2.pt", "step-4.pt", "selected.pt", "best.pt", "last.pt"):
        assert (run_dir / name).is_file(), name
    assert load_checkpoint(run_dir / "last.pt")["config"]["train"]["patience"] == 0


@pytest.mark.parametrize("name", ["backward", "reply-lm"])
def test_the_mmi_scorer_configs_train_their_first_steps(tmp_path, env, name) -> None:
    # docs/mmi.md's commands for the backward model and the reply LM, on the fixture corpus.
    run_dir = tmp_path / "run"
    args = [
        "--config", str(REPO / "configs" / f"protocol-cpu-{name}.yaml"),
        "--corpus", str(REPO / "tests" / "fixtures" / "exchanges.tsv"),
        "--set", "data.vocab_size=150", "--set", "train.eval_interval=2", "--max-steps", "2",
        "--threads", "1", "--device", "cpu", "--run-dir", str(run_dir),
    ]
    result = subprocess.run([sys.executable, str(REPO / "train.py"), *args], capture_output=True,
                            text=True, env=env, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    payload = load_checkpoint(run_dir / "best.pt")
    assert payload["config"]["data"]["direction"] == name.replace("-", "_")


def test_two_processes_update_as_one_process_on_both_batches(tmp_path, env, exchanges_corpus):
    """Two CPU processes (gloo, started as torchrun would: RANK, WORLD_SIZE, MASTER_ADDR): rank
    r takes batch r of each pair, and their averaged gradient must be the per-token mean over
    both batches, as one process accumulating the same two batches computes it (the batches
    hold different numbers of target tokens, which tells the two normalisations apart)."""
    common = [*TINY, "--corpus", str(exchanges_corpus), "--max-steps", "2",
              "--set", "model.dropout=0", "--set", "train.eval_interval=100000"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ranks = [
        subprocess.Popen(
            command(*common, "--run-dir", str(tmp_path / "two")), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, cwd=tmp_path,
            env={**env, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
                 "WORLD_SIZE": "2", "RANK": str(rank), "LOCAL_RANK": str(rank)},
        )
        for rank in (0, 1)
    ]
    one = run([*common, "--run-dir", str(tmp_path / "one"), "--set", "train.grad_accum=2"],
              env, tmp_path)
    outputs = [process.communicate(timeout=300)[0] for process in ranks]
    assert one.returncode == 0, one.stderr
    assert [process.returncode for process in ranks] == [0, 0], outputs
    assert "2 process(es)" in outputs[0]
    single = load_checkpoint(tmp_path / "one" / "last.pt")["model"]
    pair = load_checkpoint(tmp_path / "two" / "last.pt")["model"]
    for name, weight in single.items():
        torch.testing.assert_close(pair[name], weight, rtol=1e-4, atol=1e-6, msg=name)


# --- a newcomer's first commands ---------------------------------------------------------------

TINY_WITHOUT_CONFIG = TINY[2:]  # the --set overrides, --device and --threads


def test_the_config_names_the_model_and_quiet_keeps_the_terminal_short(
    tmp_path, env, exchanges_corpus
) -> None:
    run_dir = tmp_path / "run"
    args = [sys.executable, str(REPO / "train.py"), *TINY, "--corpus", str(exchanges_corpus),
            "--run-dir", str(run_dir), "--max-steps", "8", "--set", "train.eval_interval=4",
            "--set", "train.log_interval=2", "-q"]  # no --model: the config says transformer
    result = subprocess.run(args, capture_output=True, text=True, env=env, cwd=tmp_path,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert "estimate on cpu:" in result.stderr and "per epoch" in result.stderr
    assert "stopped (max_steps) at step 8" in result.stderr
    assert "valid step" not in result.stderr and "step 2 |" not in result.stderr  # -q
    assert "EncoderLayer" not in result.stderr  # the structure is in model.txt, not printed
    assert "EncoderLayer" in (run_dir / "model.txt").read_text(encoding="utf-8")
    log = (run_dir / "train.log").read_text(encoding="utf-8")
    for line in ("estimate on cpu:", "valid step 4 |", "step 8 |", "stopped (max_steps)",
                 "transformer: "):
        assert line in log
    # tiny-*.yaml is a CPU config already: no hint to use another
    assert "on a CPU try" not in log


def test_verbose_prints_the_model(tmp_path, env, exchanges_corpus) -> None:
    result = run([*TINY, "--corpus", str(exchanges_corpus), "--run-dir", str(tmp_path / "r"),
                  "--max-steps", "1", "--verbose"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "EncoderLayer" in result.stderr


def test_without_model_or_config_the_error_says_what_to_pass(tmp_path, env) -> None:
    result = subprocess.run([sys.executable, str(REPO / "train.py")], capture_output=True,
                            text=True, env=env, cwd=tmp_path, timeout=60)
    assert_one_line_error(result, "--model", "--config")


def test_a_long_cpu_run_says_so_and_its_resume_hint_works_when_pasted(
    tmp_path, env, exchanges_corpus
) -> None:
    """A config not made for a CPU, a run of days: the estimate and the CPU config come
    after the first steps; after SIGTERM the printed command continues the run as it is."""
    config = tmp_path / "my-transformer.yaml"  # not a cpu-/tiny- config
    shutil.copy(REPO / "configs" / "tiny-transformer.yaml", config)
    run_dir = tmp_path / "run dir"  # a space: the hint must quote it
    args = [sys.executable, str(REPO / "train.py"), "--config", str(config),
            *TINY_WITHOUT_CONFIG, "--corpus", str(exchanges_corpus), "--run-dir", str(run_dir),
            "--max-steps", "100000000", "--set", "train.eval_interval=100000000"]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=env, cwd=tmp_path)
    log = run_dir / "train.log"
    deadline = time.monotonic() + 240
    while not (log.is_file() and "on a CPU try" in log.read_text(encoding="utf-8")):
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, "no estimate after the first steps"
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert "estimate on cpu:" in stderr and "days for the run's remaining" in stderr
    assert "python train.py --config configs/cpu-transformer.yaml" in stderr or (
        f"python train.py --config {REPO / 'configs' / 'cpu-transformer.yaml'}" in stderr
    )
    cpu_hint = shlex.split(stderr.split("on a CPU try: ")[1].split(" (or ")[0])
    assert cpu_hint[cpu_hint.index("--corpus") + 1] == str(exchanges_corpus)  # the user's own
    assert cpu_hint[cpu_hint.index("--threads") + 1] == "1"
    hint = stderr.split("continue with: ")[1].splitlines()[0]
    command = shlex.split(hint)
    assert command[:2] == ["python", "train.py"]
    # the user's flags that the run folder does not hold are kept
    assert command[command.index("--corpus") + 1] == str(exchanges_corpus)
    assert command[command.index("--threads") + 1] == "1"
    assert command[command.index("--device") + 1] == "cpu"
    step = load_checkpoint(run_dir / "last.pt")["step"]
    pasted = [sys.executable, str(REPO / "train.py"), *command[2:], "--max-steps", str(step + 1)]
    result = subprocess.run(pasted, capture_output=True, text=True, env=env, cwd=tmp_path,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert f"resuming at step {step}" in result.stderr
    assert load_checkpoint(run_dir / "last.pt")["step"] == step + 1


@pytest.mark.parametrize("where", ["file", "under-a-file"])
def test_a_run_dir_that_is_or_lies_under_a_file_is_refused_before_the_data(
    tmp_path, env, exchanges_corpus, where
) -> None:
    taken = tmp_path / "notes.txt"
    taken.write_text("mine")
    run_dir = taken if where == "file" else taken / "run"
    empty_cache = {**env, "SEQ2SEQ_CACHE": str(tmp_path / "cache")}
    result = run([*TINY, "--corpus", str(exchanges_corpus), "--run-dir", str(run_dir)],
                 empty_cache, tmp_path)
    assert_one_line_error(result)
    assert result.stderr == (
        f"error: --run-dir {run_dir}: {taken} is a file, not a folder; choose another --run-dir\n"
    )
    assert taken.read_text() == "mine"
    assert not (tmp_path / "cache").exists()  # refused before the data was prepared


def test_a_read_only_current_folder_is_refused_before_the_data(
    tmp_path, monkeypatch, capsys, tiny_config, exchanges_corpus
) -> None:
    # Simulates a read-only current folder as os.access reports one (chmod does not stop root,
    # a read-only file system needs a mount); the default run folder runs/<model>-<time>/ and
    # data cache .cache/seq2seq/ would both be created in it.
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SEQ2SEQ_CACHE", raising=False)
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path).resolve() != tmp_path)
    with pytest.raises(SystemExit) as stop:
        run_cli(lambda: train(tiny_config("gru"), exchanges_corpus, TrainOptions(device="cpu")))
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: run folder runs/gru-") and err.count("\n") == 1
    assert err.endswith(": . is not writable; choose another --run-dir\n")
    assert list(tmp_path.iterdir()) == []
