"""Where the time goes: torch.profiler tables for the hot paths that benchmarks/run.py times.

    python -m benchmarks.hotspots                         # full-size configs, synthetic batches
    python -m benchmarks.hotspots --corpus ../shared/corpora/cornell/exchanges-25k.tsv
    python -m benchmarks.hotspots --only decoding --rows 15 --threads 1

For each path, after one warm-up call, the profiler records one more and prints the operators
that took the most time of their own (self time: CPU on a CPU, CUDA kernels on a GPU):

- training: one pass of the training loop's `train_step` over the benchmark's training batches,
  for the handwritten Transformer and for `nn.Transformer` in the same shell (the reference of
  the training figure), so the two tables can be read side by side;
- decoding: cached greedy decoding of one source (batch 1, `new_tokens` new tokens) and its
  full-recomputation reference.

The workload, models and steps are those of benchmarks/run.py (same settings, same batches);
the tables say where to look, the figures to report still come from benchmarks/run.py.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from benchmarks import decoding_speed, training_speed
from benchmarks.run import make_settings
from benchmarks.workload import Settings, decoding_sources, examples, training_batches
from seq2seq.device import resolve_device
from seq2seq.errors import run_cli

PATHS = ("training", "decoding")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Profile training steps and decoding.")
    parser.add_argument("--quick", action="store_true", help="tiny models: seconds")
    parser.add_argument("--device", choices=("cpu", "cuda"), default=None,
                        help="default: cuda when available, else cpu")
    parser.add_argument("--corpus", type=Path, default=None,
                        help="a corpus for realistic batches (default: synthetic ones)")
    parser.add_argument("--only", nargs="+", choices=PATHS, default=None, metavar="NAME",
                        help=f"profile only these paths: {', '.join(PATHS)}")
    parser.add_argument("--rows", type=int, default=12, help="operators per table (default 12)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's choice, one per core)")
    args = parser.parse_args(argv)
    # the settings benchmarks/run.py would use, for the fields this tool shares with it
    args.run_dir, args.repeats, args.budget, args.peak_tflops = None, 1, None, None
    return args


def table(name: str, call: Callable[[], object], settings: Settings, rows: int) -> str:
    """Warm `call` up, profile one more call, and format its top `rows` operators."""
    call()
    activities = [ProfilerActivity.CPU]
    if settings.device.type == "cuda":
        activities.append(ProfilerActivity.CUDA)
    with profile(activities=activities) as prof:
        call()
        if settings.device.type == "cuda":
            torch.cuda.synchronize(settings.device)
    key = "self_cuda_time_total" if settings.device.type == "cuda" else "self_cpu_time_total"
    return f"== {name}\n" + prof.key_averages().table(sort_by=key, row_limit=rows)


def training_calls(settings: Settings) -> dict[str, Callable[[], object]]:
    """One pass over the training benchmark's batches, for each Transformer."""
    config = settings.transformer_config()
    vocab = examples(settings).vocab
    batches = [b.to(settings.device) for b in training_batches(settings, settings.train_batches)]
    ours = training_speed.build(config, settings)
    torch.manual_seed(settings.seed)
    reference = training_speed.ReferenceTransformer(config.model, vocab.vocab_size, vocab.pad_id)
    calls = {}
    for name, model in (("transformer", ours), ("nn.Transformer", reference.to(settings.device))):
        step = training_speed.make_step(model.train(), config.train, vocab.pad_id, settings,
                                        "fp32")
        calls[f"training step: {name}, {len(batches)} batches"] = training_speed.one_pass(
            step, batches
        )
    return calls


def decoding_calls(settings: Settings) -> dict[str, Callable[[], object]]:
    """Cached and recomputed greedy decoding of one source."""
    config = settings.transformer_config()
    vocab = examples(settings).vocab
    model = training_speed.build(config, settings).eval()
    batch = decoding_sources(settings, 1).to(settings.device)
    n = settings.new_tokens
    return {
        f"greedy decoding, batch 1, {n} tokens: {name}": (
            lambda strategy=strategy: strategy(model, batch.src, batch.src_mask, vocab, n)
        )
        for name, strategy in (("cached", decoding_speed.greedy_cached),
                               ("recomputed", decoding_speed.greedy_recomputed))
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device = resolve_device(args.device or "auto")
    with tempfile.TemporaryDirectory(prefix="seq2seq-profile-") as work_dir:
        settings = make_settings(args, device, Path(work_dir))
        for path in args.only or PATHS:
            calls = training_calls(settings) if path == "training" else decoding_calls(settings)
            for name, call in calls.items():
                print(table(name, call, settings, args.rows), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
