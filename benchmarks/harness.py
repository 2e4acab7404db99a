"""What every benchmark shares: the machine's description, timing, peak memory and reporting.

Timing follows the usual recipe (timeit, torch.utils.benchmark): warm-up runs that are thrown
away, then several repeats of which the median is reported, because the median ignores the odd
repeat slowed down by another process. A figure and its reference are timed in turns (A B, B A,
A B ...) in the same process, so a change of machine load hits both, and their ratio is the
median of the per-round ratios.

Peak memory is measured per section rather than per process:
- CUDA: `torch.cuda.max_memory_allocated` after `reset_peak_memory_stats` (exact, tensors only).
- CPU on Linux: the process's peak resident set (`VmHWM`) is reset through
  `/proc/self/clear_refs` after returning freed heap pages to the OS (`malloc_trim`), and the
  section reports how far the peak rose above the resident set it started from.
- elsewhere: the growth of `ru_maxrss`, which only sees a section that sets a new process peak.
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from seq2seq.device import synchronize

MIB = 2**20
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "MKL_NUM_THREADS")


# ---------------------------------------------------------------------------------------------
# The machine


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo, else what `platform` knows."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown CPU"


def machine_info(device: torch.device) -> dict[str, Any]:
    """Everything a reader needs to know which machine produced the figures."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    info: dict[str, Any] = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "torch_threads": torch.get_num_threads(),
        "gpu": None,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "os": platform.platform(terse=True),
        "device": device.type,
        # Other processes compete for the CPU; the load at start says how much to trust the
        # absolute figures (the ratios, timed in turns, are the stable part).
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "environment": {key: os.environ[key] for key in THREAD_VARIABLES if key in os.environ},
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def describe_machine(info: dict[str, Any]) -> str:
    """One line naming the machine, for the table header."""
    parts = [
        f"{info['cpu']}, {info['usable_cores']} cores, torch threads: {info['torch_threads']}",
    ]
    if info["gpu"]:
        parts.append(f"GPU {info['gpu']} (CUDA {info['cuda']})")
    parts.append(f"torch {info['torch']}, Python {info['python']}, {info['os']}")
    if info["environment"]:
        parts.append(" ".join(f"{key}={value}" for key, value in info["environment"].items()))
    if info["load_average"]:
        parts.append(f"load average at start {info['load_average'][0]:.1f}")
    return "; ".join(parts)


# ---------------------------------------------------------------------------------------------
# Timing


def time_once(fn: Callable[[], Any], device: torch.device) -> float:
    """Wall seconds of one call of `fn`."""
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


@dataclass
class Timing:
    """Seconds of every timed call per workload and, when measured, each workload's peak memory
    (MiB above its start) during its first timed call."""

    times: dict[str, list[float]]
    peak_mib: dict[str, float] = field(default_factory=dict)
    memory_method: str = ""


def time_in_turns(
    fns: dict[str, Callable[[], Any]],
    device: torch.device,
    repeats: int,
    budget_s: float | None = None,
    measure_memory: bool = False,
) -> Timing:
    """Time several workloads in turns: up to `repeats` rounds, each calling every workload
    once. Warm them up first (the caller knows what a cheap warm-up call is).

    The order alternates between rounds (A B C, C B A, A B C ...) so that no workload always
    runs first, or always right after the same other one. No round starts once `budget_s`
    seconds of timed rounds have passed (there is always at least one): a workload taking
    minutes per call is timed fewer times, and says so through its number of samples.
    With `measure_memory`, each workload's first timed call also records its peak memory.
    """
    timing = Timing({name: [] for name in fns})
    names = list(fns)
    start = time.perf_counter()
    for repeat in range(repeats):
        if repeat > 0 and budget_s is not None and time.perf_counter() - start > budget_s:
            break
        for name in names if repeat % 2 == 0 else reversed(names):
            if measure_memory and repeat == 0:
                with peak_memory(device) as peak:
                    timing.times[name].append(time_once(fns[name], device))
                timing.peak_mib[name], timing.memory_method = peak.mib, peak.method
            else:
                timing.times[name].append(time_once(fns[name], device))
    return timing


@dataclass(frozen=True)
class Process:
    """A finished subprocess: its wall time, peak resident memory and output."""

    seconds: float
    max_rss_mib: float
    returncode: int
    stdout: str
    stderr: str


# Runs a command and writes its wall time and peak RSS as JSON to the file named first. Linux
# starts a child's peak RSS at its parent's (fork copies the memory map, exec keeps the larger
# peak), so a child of this torch-laden process would report our peak; a child of this small
# launcher reports its own.
LAUNCHER = """
import json, os, sys, time
result, command = sys.argv[1], sys.argv[2:]
start = time.perf_counter()
pid = os.posix_spawnp(command[0], command, os.environ)
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - start
with open(result, "w") as file:
    json.dump({"seconds": seconds, "max_rss": usage.ru_maxrss}, file)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_process(command: list[str], stdin: str = "", cwd: Path | None = None) -> Process:
    """Run a command to completion; its wall time and its own peak RSS (see `LAUNCHER`)."""
    with tempfile.TemporaryDirectory() as folder:
        result = Path(folder) / "result.json"
        child = subprocess.run(
            [sys.executable, "-S", "-c", LAUNCHER, str(result), *command],
            input=stdin, capture_output=True, text=True, cwd=cwd,
        )
        measured = json.loads(result.read_text()) if result.is_file() else {}
    return Process(
        measured.get("seconds", float("nan")), rss_mib(measured.get("max_rss", 0)),
        child.returncode, child.stdout, child.stderr,
    )


# ---------------------------------------------------------------------------------------------
# Peak memory


def rss_mib(ru_maxrss: int) -> float:
    """`ru_maxrss` in MiB: Linux reports KiB, macOS bytes."""
    return ru_maxrss / MIB if sys.platform == "darwin" else ru_maxrss / 1024


def _proc_status_kib(key: str) -> int | None:
    status = Path("/proc/self/status")
    if not status.is_file():
        return None
    for line in status.read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return None


def _release_free_memory() -> None:
    """Give freed heap pages back to the OS, so that reusing them later counts as new memory."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak RSS of this process (Linux >= 4.0); False where unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return _proc_status_kib("VmHWM") is not None


@dataclass
class PeakMemory:
    """The peak memory a section added, in MiB, filled in when its `with` block ends."""

    mib: float = 0.0
    method: str = ""


@contextmanager
def peak_memory(device: torch.device) -> Iterator[PeakMemory]:
    """Measure how much memory the block's peak adds to what was in use when it started.

    CUDA: tensor memory (`max_memory_allocated`); CPU: resident set size (see module docstring).
    """
    result = PeakMemory()
    _release_free_memory()
    if device.type == "cuda":
        synchronize(device)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        start = torch.cuda.memory_allocated(device)
        yield result
        synchronize(device)
        result.mib = (torch.cuda.max_memory_allocated(device) - start) / MIB
        result.method = "torch.cuda.max_memory_allocated above the section's start"
    elif _reset_peak_rss():
        start = _proc_status_kib("VmRSS")
        yield result
        result.mib = (_proc_status_kib("VmHWM") - start) / 1024
        result.method = "peak RSS (VmHWM, reset per section) above the section's start"
    else:
        start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        yield result
        result.mib = rss_mib(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - start)
        result.method = "growth of the process's ru_maxrss (a lower bound)"


# ---------------------------------------------------------------------------------------------
# Results


@dataclass
class Figure:
    """One measured figure, optionally against a reference measured in the same process.

    `samples` are the per-repeat values the median `value` was taken from. When the reference
    was timed in the same rounds (as many `reference_samples`, each taken right before or after
    its sample), `ratio` is the median of the per-round ratios, which cancels load changes
    between rounds; otherwise it is value / reference_value. `goal` bounds the ratio, e.g.
    (">=", 1.0).
    """

    name: str
    label: str
    value: float
    unit: str
    reference: str | None = None
    reference_value: float | None = None
    goal: tuple[str, float] | None = None
    note: str = ""
    samples: list[float] = field(default_factory=list)
    reference_samples: list[float] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)  # e.g. parameter counts, FLOPs

    @property
    def ratio(self) -> float | None:
        if self.reference_value is None or self.reference_value == 0:
            return None
        if self.samples and len(self.samples) == len(self.reference_samples):
            return statistics.median(
                s / r for s, r in zip(self.samples, self.reference_samples, strict=True)
            )
        return self.value / self.reference_value

    @property
    def goal_met(self) -> bool | None:
        if self.goal is None or self.ratio is None:
            return None
        op, bound = self.goal
        return self.ratio >= bound if op == ">=" else self.ratio <= bound

    @property
    def spread(self) -> float | None:
        """(max - min) / median of the samples: how noisy the repeats were."""
        if len(self.samples) < 2 or not self.value:
            return None
        return (max(self.samples) - min(self.samples)) / abs(statistics.median(self.samples))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(ratio=self.ratio, goal_met=self.goal_met, spread=self.spread)
        data["goal"] = None if self.goal is None else f"{self.goal[0]} {self.goal[1]:g}"
        return data


def throughput_figure(
    name: str,
    label: str,
    amount: float,
    unit: str,
    times: list[float],
    reference: str | None = None,
    reference_amount: float | None = None,
    reference_times: list[float] | None = None,
    **extra: Any,
) -> Figure:
    """A rate (amount / second) from timed repeats; the median of the per-repeat rates."""
    samples = [amount / t for t in times]
    figure = Figure(name, label, statistics.median(samples), unit, samples=samples, **extra)
    if reference is not None:
        figure.reference = reference
        amount_ref = amount if reference_amount is None else reference_amount
        figure.reference_samples = [amount_ref / t for t in reference_times]
        figure.reference_value = statistics.median(figure.reference_samples)
    return figure


def median_figure(name: str, label: str, samples: list[float], unit: str, reference: str,
                  reference_samples: list[float], **extra: Any) -> Figure:
    """A figure whose value and reference are the medians of measured samples (times, sizes)."""
    return Figure(
        name, label, statistics.median(samples), unit, reference,
        statistics.median(reference_samples), samples=samples,
        reference_samples=reference_samples, **extra,
    )


def format_value(value: float | None, unit: str = "") -> str:
    """Human-sized numbers: 12,345 tok/s, 3.21 s, 0.123."""
    if value is None:
        return ""
    if abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 1:
        text = f"{value:.2f}"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}".strip()


def format_table(figures: list[Figure], machine: dict[str, Any], title: str) -> str:
    """A Markdown table of the figures, headed by the machine they were measured on."""
    lines = [
        f"### {title}",
        "",
        f"Machine: {describe_machine(machine)}",
        "",
        "| figure | value | reference | reference value | ratio | goal | spread (repeats) |",
        "| --- | ---: | --- | ---: | ---: | --- | ---: |",
    ]
    for figure in figures:
        goal = ""
        if figure.goal is not None:
            goal = f"{figure.goal[0]} {figure.goal[1]:g} ({'met' if figure.goal_met else 'MISSED'})"
        ratio = "" if figure.ratio is None else f"{figure.ratio:.2f}x"
        spread = f"(n={len(figure.samples)})" if figure.samples else ""
        if figure.spread is not None:
            spread = f"{100 * figure.spread:.0f}% {spread}"
        lines.append(
            f"| {figure.label} | {format_value(figure.value, figure.unit)} "
            f"| {figure.reference or ''} | {format_value(figure.reference_value, figure.unit)} "
            f"| {ratio} | {goal} | {spread} |"
        )
    notes = [f"- {figure.label}: {figure.note}" for figure in figures if figure.note]
    if notes:
        lines += ["", "Notes:", *notes]
    return "\n".join(lines)


def write_json(path: Path, machine: dict[str, Any], settings: dict[str, Any],
               figures: list[Figure]) -> None:
    """Write the machine, the settings and every figure (with its samples) as JSON."""
    data = {
        "machine": machine,
        "settings": settings,
        "figures": {figure.name: figure.to_dict() for figure in figures},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
