"""Train a chatbot: `python train.py --model transformer|gru [options]`.

    python train.py --model transformer                         # configs/transformer.yaml
    python train.py --config configs/cpu-transformer.yaml       # the config names the model
    python train.py --model gru --config configs/tiny-gru.yaml --max-steps 200
    python train.py --model gru --set train.lr=3e-4 --set model.n_layers=3
    python train.py --model gru --run-dir runs/gru-x --resume --max-steps 5000
    torchrun --nproc_per_node 4 train.py --model transformer    # several GPUs

Everything lands in runs/<model>-<YYYYmmdd-HHMMSS>/ (or --run-dir): config.yaml,
tokenizer.model, model.txt, train.log, TensorBoard events, metrics.jsonl, last.pt and best.pt.
After its first steps a run prints how long it will take on this machine.

--max-steps and --epochs are totals, counted from the start of the run also when resuming.
--time-budget counts minutes of training only (validation and saving excluded), also summed
over resumed sessions, so that two models can be compared at equal training time.

Exit status: 0 when training stopped by itself (steps, epochs, early stopping, time budget);
128 + the signal number after Ctrl-C (130) or SIGTERM (143), once last.pt is saved, so a
script can tell an interrupted run from a finished one; 2 on a user error (one line, no
traceback), including a run that diverged (too many non-finite steps in a row).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import seq2seq  # noqa: F401  (first: it sets OpenMP's wait policy before torch loads)
from seq2seq.errors import UserError, run_cli

if TYPE_CHECKING:  # torch and what imports it load after parsing, so --help answers at once
    from seq2seq.config import Config
    from seq2seq.tokenizer import Tokenizer

CONFIGS = Path(__file__).resolve().parent / "configs"
CPU_CONFIG_PREFIXES = ("cpu-", "protocol-cpu-", "tiny-")
# The architectures with a default config (configs/<model>.yaml), for --help without torch;
# main() checks the name against the model registry.
DEFAULT_CONFIGS = sorted(path.stem for path in CONFIGS.glob("*.yaml") if "-" not in path.stem)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Train a Transformer or GRU chatbot on the Cornell Movie-Dialogs corpus.",
    )
    parser.add_argument("--model", metavar="{" + ",".join(DEFAULT_CONFIGS) + "}",
                        help="the architecture (optional when --config or --resume says it)")
    parser.add_argument("--config", type=Path, help="YAML config (default: configs/<model>.yaml)")
    parser.add_argument("--corpus", help="TSV file or Cornell folder (default: $CORNELL_CORPUS "
                        "or ./corpora/cornell, downloaded when missing)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override a config value, e.g. train.lr=3e-4")
    parser.add_argument("--run-dir", type=Path, help="run folder (default: runs/<model>-<time>)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --run-dir from its last.pt")
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--max-steps", type=int, help="stop after this many optimizer steps")
    length.add_argument("--epochs", type=int, help="stop after this many epochs")
    parser.add_argument("--time-budget", type=float, metavar="MINUTES",
                        help="stop (validate, save) after this many minutes of training")
    parser.add_argument("--device", default="auto",
                        help="auto (default: CUDA when present), cpu, cuda, cuda:N or mps")
    parser.add_argument("--seed", type=int, help="random seed (default: train.seed)")
    parser.add_argument("--threads", type=int,
                        help="CPU threads for torch (default: one per core); on a machine "
                        "busy with other work, or for tiny models, 1 is often much faster")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--verbose", action="store_true",
                        help="also print the model's structure (always in <run>/model.txt)")
    output.add_argument("-q", "--quiet", action="store_true",
                        help="no progress bar or validation lines, only the time estimate, "
                        "warnings and the last line (<run>/train.log keeps everything)")
    return parser.parse_args()


def counterpart_config_path(
    arch: str, other: str, config_path: Path | None, configs_dir: Path | None
) -> Path | None:
    """The config the other architecture would be compared with: this file's sibling with the
    name swapped (tiny-transformer.yaml -> tiny-gru.yaml), else configs/<other>.yaml."""
    if config_path is not None and arch in config_path.name:
        sibling = config_path.with_name(config_path.name.replace(arch, other))
        if sibling.is_file():
            return sibling
    if configs_dir is not None and (configs_dir / f"{other}.yaml").is_file():
        return configs_dir / f"{other}.yaml"
    return None


def count_parameters(model_config: Any, tokenizer: Tokenizer) -> int:
    """Parameters of a model, built on the meta device (no memory, no initialisation)."""
    import torch

    from seq2seq.models import build_model

    with torch.device("meta"):
        return build_model(model_config, tokenizer).num_parameters()


def other_sizes(config: Config, tokenizer: Tokenizer, config_path: Path | None) -> list[str]:
    """Lines giving every other registered architecture's size, from its counterpart config."""
    from seq2seq.config import load_config
    from seq2seq.errors import ConfigError
    from seq2seq.models import ARCHITECTURES, get_architecture

    arch = config.model.arch
    lines = []
    for other in sorted(ARCHITECTURES):
        if other == arch:
            continue
        path = counterpart_config_path(arch, other, config_path, CONFIGS)
        try:
            model_config = get_architecture(other).config_class() if path is None else (
                load_config(path).model
            )
        except ConfigError as error:
            lines.append(f"{other}: cannot read {path} for comparison ({error})")
            continue
        source = "its defaults" if path is None else str(path)
        lines.append(
            f"{other} ({source}, same vocabulary): "
            f"{count_parameters(model_config, tokenizer):,} parameters"
        )
    return lines


def cpu_config_hint(
    arch: str, config_path: Path | None, corpus: str | None = None, threads: int | None = None
) -> str | None:
    """A command with the config made for a CPU, unless this run already uses one; it keeps
    the user's --corpus and --threads, so that it trains on the same data the same way."""
    if config_path is not None and config_path.name.startswith(CPU_CONFIG_PREFIXES):
        return None
    suggested = CONFIGS / f"cpu-{arch}.yaml"
    if not suggested.is_file():
        return None
    shown = suggested
    try:
        shown = suggested.relative_to(Path.cwd())
    except ValueError:
        pass
    kept = "" if corpus is None else f" --corpus {shlex.quote(corpus)}"
    kept += "" if threads is None else f" --threads {threads}"
    return (
        f"this config is sized for a GPU; on a CPU try: python train.py --config "
        f"{shlex.quote(str(shown))}{kept} --time-budget 20 (or configs/protocol-cpu-{arch}.yaml: "
        "the README's protocol, about 1.5 hours)"
    )


def main() -> int:
    args = parse_args()
    from seq2seq import runs
    from seq2seq.checkpoint import load_checkpoint
    from seq2seq.config import apply_overrides, config_from_dict, load_config
    from seq2seq.device import set_threads
    from seq2seq.models import ARCHITECTURES
    from seq2seq.training import TrainOptions, train

    if args.model is not None and args.model not in ARCHITECTURES:
        raise UserError(f"--model {args.model}: not one of {', '.join(sorted(ARCHITECTURES))}")
    if args.resume and args.run_dir is None:
        raise UserError("--resume needs --run-dir: the run folder to continue")
    overrides = list(args.overrides)
    if args.max_steps is not None:
        overrides.append(f"train.max_steps={args.max_steps}")
    if args.epochs is not None:
        overrides += [f"train.epochs={args.epochs}", "train.max_steps=0"]
    if args.seed is not None:
        overrides.append(f"train.seed={args.seed}")
    config_path = args.config
    config = None
    if config_path is None and args.resume:
        own = args.run_dir / runs.CONFIG
        if own.is_file():
            config_path = own
        elif (args.run_dir / runs.LAST).is_file():  # config.yaml lost: last.pt holds it too
            last = args.run_dir / runs.LAST
            print(f"note: {own} is missing; resuming with the config saved in {last}",
                  file=sys.stderr)
            raw = load_checkpoint(last)["config"]
            config = config_from_dict(apply_overrides(raw, overrides), arch=args.model)
    if config is None and config_path is None:
        if args.model is None:
            raise UserError(
                "which model? pass --model (" + " or ".join(sorted(ARCHITECTURES)) + "), or a "
                "--config whose model.arch says it, e.g. --config configs/cpu-transformer.yaml"
            )
        config_path = CONFIGS / f"{args.model}.yaml"
    if config is None:  # before any data is touched
        config = load_config(config_path, overrides, arch=args.model)
    if args.time_budget is not None and args.time_budget <= 0:
        raise UserError(f"--time-budget {args.time_budget}: must be a positive number of minutes")
    set_threads(args.threads)
    result = train(config, args.corpus, TrainOptions(
        run_dir=args.run_dir, resume=args.resume, device=args.device, threads=args.threads,
        time_budget=args.time_budget, verbose=args.verbose, quiet=args.quiet,
        size_comparison=lambda config, tokenizer: other_sizes(config, tokenizer, config_path),
        cpu_hint=cpu_config_hint(config.model.arch, config_path, args.corpus, args.threads),
    ))
    return 128 + result.signal if result.signal is not None else 0


if __name__ == "__main__":
    run_cli(main)
