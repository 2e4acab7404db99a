"""Benchmark the models, decoding, the data pipeline and chat start-up; print a table, write JSON.

    python benchmarks/run.py                     # full sizes (configs/transformer.yaml, gru.yaml)
    python benchmarks/run.py --quick             # tiny sizes, seconds (the test suite's smoke run)
    python benchmarks/run.py --corpus ../shared/corpora/cornell/exchanges-25k.tsv
    python benchmarks/run.py --device cuda       # adds bf16 autocast and model FLOPs utilisation
    python benchmarks/run.py --only training decoding --json /tmp/bench.json

Every figure is timed in the same process as its reference (warm-up, then repeats taken in
turns, median reported). See benchmarks/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

# `python benchmarks/run.py` puts benchmarks/ on sys.path, not the repository root that the
# `benchmarks.*` imports below are relative to.
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Before torch: the package sets OMP_WAIT_POLICY=PASSIVE for OpenMP (seq2seq/__init__.py);
# set OMP_WAIT_POLICY=ACTIVE to measure torch's default.
import seq2seq  # noqa: E402, F401, I001

import torch  # noqa: E402

from benchmarks import chat_startup, data_preparation, decoding_speed, training_speed  # noqa: E402
from benchmarks.harness import Figure, format_table, machine_info, write_json  # noqa: E402
from benchmarks.workload import Settings  # noqa: E402
from seq2seq.device import resolve_device, set_threads  # noqa: E402
from seq2seq.errors import UserError, run_cli  # noqa: E402

# section name (--only) -> what measures it
SECTIONS: dict[str, Callable[[Settings], list[Figure]]] = {
    "training": training_speed.run,
    "decoding": decoding_speed.run,
    "data": data_preparation.run,
    "chat": chat_startup.run,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark training, decoding, data preparation and chat start-up.",
    )
    parser.add_argument("--quick", action="store_true",
                        help="tiny models and few repeats: a smoke run of a few seconds")
    parser.add_argument("--device", choices=("cpu", "cuda"), default=None,
                        help="default: cuda when available, else cpu")
    parser.add_argument("--json", type=Path, default=None,
                        help="where to write the results "
                             "(default: benchmarks/results/<device>[-quick].json)")
    parser.add_argument("--corpus", type=Path, default=None,
                        help="a corpus (TSV file or raw Cornell folder) for realistic batches and "
                             "the data benchmark (default: synthetic batches, the test fixture)")
    parser.add_argument("--run", type=Path, default=None, dest="run_dir",
                        help="a trained run folder for the chat start-up benchmark "
                             "(default: train a throwaway run in a temporary folder)")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=None,
                        metavar="NAME", help=f"run only these sections: {', '.join(SECTIONS)}")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed repeats per figure at most (default: 2 with --quick, else 5)")
    parser.add_argument("--budget", type=float, default=None, metavar="SECONDS",
                        help="start no further repeat of a measurement after this many seconds "
                             "(default: 60 on CPU, none with --quick or on CUDA)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's choice, one per core)")
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help="the GPU's dense bf16 peak, for a GPU missing from the built-in table")
    return parser.parse_args(argv)


def make_settings(args: argparse.Namespace, device: torch.device, work_dir: Path) -> Settings:
    for flag, path in (("--corpus", args.corpus), ("--run", args.run_dir)):
        if path is not None and not path.exists():
            raise UserError(f"{flag} {path}: no such file or folder")
    cuda = device.type == "cuda"
    repeats = args.repeats if args.repeats is not None else (2 if args.quick else 5)
    if repeats < 1:
        raise UserError(f"--repeats {repeats}: must be at least 1")
    budget = args.budget if args.budget is not None else (None if args.quick or cuda else 60.0)
    set_threads(args.threads)
    return Settings(
        device=device,
        quick=args.quick,
        corpus=None if args.corpus is None else args.corpus.resolve(),
        run_dir=None if args.run_dir is None else args.run_dir.resolve(),
        work_dir=work_dir,
        repeats=repeats,
        budget_s=budget,
        train_batches=8 if cuda else 2,
        new_tokens=16 if args.quick else 64,
        precisions=("fp32", "bf16") if cuda else ("fp32",),
        peak_tflops=args.peak_tflops,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device = resolve_device(args.device or "auto")
    sections = args.only or list(SECTIONS)
    json_path = args.json or ROOT / "benchmarks" / "results" / (
        f"{device.type}{'-quick' if args.quick else ''}.json"
    )
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="seq2seq-bench-") as work_dir:
        settings = make_settings(args, device, Path(work_dir))
        machine = machine_info(device)  # after --threads took effect
        torch.manual_seed(settings.seed)
        for name in sections:
            print(f"[{name}] running ...", file=sys.stderr, flush=True)
            figures += SECTIONS[name](settings)
    title = f"Benchmarks on {device.type}{' (--quick: tiny sizes)' if args.quick else ''}"
    print(format_table(figures, machine, title))
    write_json(json_path, machine, {
        "command": shlex.join(["python", "benchmarks/run.py", *(argv or sys.argv[1:])]),
        "sections": sections,
        "quick": settings.quick,
        "device": device.type,
        "corpus": str(args.corpus) if args.corpus else None,
        "transformer_config": str(settings.transformer_config_path.relative_to(ROOT)),
        "gru_config": str(settings.gru_config_path.relative_to(ROOT)),
        "repeats": settings.repeats,
        "budget_s": settings.budget_s,
        "train_batches": settings.train_batches,
        "new_tokens": settings.new_tokens,
        "precisions": list(settings.precisions),
    }, figures)
    print(f"\nwrote {json_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    run_cli(main)
