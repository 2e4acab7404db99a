"""The benchmark suite: a --quick smoke run reports every figure, and the harness measures what
it says. Nothing here asserts a speed: timings depend on the machine and its load."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # benchmarks/ is a folder of the repository, not an installed package
    sys.path.insert(0, str(REPO))

from benchmarks.harness import (  # noqa: E402
    Figure,
    format_table,
    machine_info,
    peak_memory,
    run_process,
    time_in_turns,
)

# Every figure a CPU run reports (a CUDA run adds the same with .bf16, but not the CPU-only
# decode.linear.rows5).
FIGURES = (
    "train.transformer.fp32",
    "train.gru.fp32",
    "train.gru.fp32.param_tokens",
    "train.transformer.fp32.tflops",
    "memory.train.transformer.fp32",
    "memory.train.gru.fp32",
    "decode.greedy.b1.fp32",
    "decode.beam5.b1.fp32",
    "decode.greedy.b64.fp32",
    "memory.decode.b64.fp32",
    "decode.linear.rows5",
    "decode.antilm.b1.fp32",
    "decode.antilm.b64.fp32",
    "decode.bidi10.b1.fp32",
    "decode.rank10.b1.fp32",
    "data.prepare",
    "memory.data.prepare",
    "data.pad_share",
    "chat.cold_start",
    "memory.chat",
)


def run_benchmarks(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "benchmarks/run.py", *args], cwd=REPO, capture_output=True, text=True,
    )


def test_quick_run_reports_every_figure_with_its_machine(tmp_path):
    out = tmp_path / "bench.json"
    result = run_benchmarks("--quick", "--device", "cpu", "--json", str(out))
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    figures = report["figures"]
    assert sorted(figures) == sorted(FIGURES)
    for name, figure in figures.items():
        values = [figure["value"]]
        if figure["reference"] is not None:
            values.append(figure["reference_value"])
        if name.startswith("memory."):  # what a section adds may be nothing (pages reused)
            assert all(value >= 0 for value in values), name
        else:  # rates, times, shares and sizes
            assert all(value > 0 for value in values), name
    machine = report["machine"]
    assert machine["cpu"] and machine["cores"] >= 1 and machine["torch_threads"] >= 1
    assert machine["torch"] == torch.__version__ and machine["device"] == "cpu"
    assert figures["decode.greedy.b1.fp32"]["details"]["identical_tokens"]
    # The table names the machine and shows every figure.
    assert f"torch {torch.__version__}" in result.stdout
    for figure in figures.values():
        assert f"| {figure['label']} |" in result.stdout


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_a_gpu_is_one_clear_error_line():
    result = run_benchmarks("--quick", "--device", "cuda")
    assert result.returncode == 2
    assert result.stderr.startswith("error: --device cuda: CUDA is not available")
    assert len(result.stderr.strip().splitlines()) == 1


def test_figure_ratio_and_goal():
    faster = Figure("x", "x", 300.0, "tok/s", "ref", 100.0, goal=(">=", 3.0),
                    samples=[290, 300, 330])
    assert faster.ratio == pytest.approx(3.0) and faster.goal_met
    assert faster.spread == pytest.approx(40 / 300)
    smaller = Figure("y", "y", 2.0, "s", "ref", 1.0, goal=("<=", 1.5))
    assert smaller.goal_met is False
    assert Figure("z", "z", 1.0, "s").ratio is None
    # timed in the same rounds: the median of the per-round ratios (1, 4, 1), not 20 / 10
    paired = Figure("p", "p", 20.0, "tok/s", "ref", 10.0, samples=[10, 20, 30],
                    reference_samples=[10, 5, 30])
    assert paired.ratio == pytest.approx(1.0)
    table = format_table([faster, smaller], machine_info(torch.device("cpu")), "t")
    assert "3.00x" in table and "MISSED" in table


def test_time_in_turns_alternates_the_order_and_respects_the_budget():
    calls = []
    timing = time_in_turns(
        {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
        torch.device("cpu"), repeats=3,
    )
    assert calls == ["a", "b", "b", "a", "a", "b"]
    assert [len(t) for t in timing.times.values()] == [3, 3]
    # a budget already spent after the first round stops there
    timing = time_in_turns({"a": lambda: None}, torch.device("cpu"), repeats=5, budget_s=0.0)
    assert len(timing.times["a"]) == 1


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
def test_peak_memory_sees_a_temporary_allocation():
    with peak_memory(torch.device("cpu")) as peak:
        block = torch.ones(64 * 2**20 // 4)  # 64 MiB, touched
        del block
    assert 60 <= peak.mib <= 100


def test_run_process_reports_the_child_and_not_the_parent():
    ballast = torch.ones(256 * 2**20 // 4)  # the parent holds 256 MiB more than any child needs
    result = run_process([sys.executable, "-c", "import sys; print(sys.stdin.read().upper())"],
                         stdin="hi")
    assert result.returncode == 0 and result.stdout == "HI\n"
    assert 0 < result.max_rss_mib < 128 and result.seconds > 0
    del ballast


def test_validation_cost_times_both_parts_of_a_validation(tiny_runs, data_cache, monkeypatch,
                                                           capsys) -> None:
    from benchmarks.validation_cost import main as validation_cost

    monkeypatch.setenv("SEQ2SEQ_CACHE", str(data_cache))
    corpus = Path(__file__).resolve().parent / "fixtures" / "exchanges.tsv"
    assert validation_cost([str(tiny_runs["gru"]), "--corpus", str(corpus), "--repeats", "1"]) == 0
    line = capsys.readouterr().out.strip()
    assert "validation loss" in line and "diversity decoding" in line and "ratio" in line
    assert "relevance ranking 0.00 s" in line  # the fixture's 18 validation replies: not ranked


def test_hotspots_prints_a_table_per_hot_path():
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.hotspots", "--quick", "--rows", "3", "--threads", "1"],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    titles = [line for line in result.stdout.splitlines() if line.startswith("== ")]
    assert titles == [
        "== training step: transformer, 2 batches",
        "== training step: nn.Transformer, 2 batches",
        "== greedy decoding, batch 1, 16 tokens: cached",
        "== greedy decoding, batch 1, 16 tokens: recomputed",
    ]
    assert result.stdout.count("Self CPU time total") == 4
    assert "aten::" in result.stdout  # operators, by name


def test_equality_compares_shared_metrics_and_names_the_added_ones(tmp_path, capsys):
    from benchmarks.equality import compare

    valid = {"kind": "valid", "step": 30, "loss": 4.5}
    before = {"run": {"metrics": [valid], "weights": {"w": "ab"}, "decodes": {}}}
    added = {"run": {**before["run"], "metrics": [{**valid, "context_gap": 0.1}]}}
    changed = {"run": {**before["run"], "metrics": [{**valid, "loss": 4.6}]}}
    paths = {}
    for name, record in (("before", before), ("added", added), ("changed", changed)):
        paths[name] = tmp_path / f"{name}.json"
        paths[name].write_text(json.dumps(record))
    assert compare(paths["before"], paths["added"]) == 0
    out = capsys.readouterr().out
    assert "run.metrics: identical on the shared keys; only after: valid/context_gap" in out
    assert compare(paths["before"], paths["changed"]) == 1
    assert "run.metrics: DIFFERENT\n" in capsys.readouterr().out
