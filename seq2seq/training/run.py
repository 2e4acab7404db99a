"""A run's folder, and the checks that make resuming safe.

    runs/<model>-<YYYYmmdd-HHMMSS>/      (or --run-dir)
        config.yaml          the resolved config (loads back with load_config)
        tokenizer.model      the sentencepiece model (also inside every checkpoint)
        model.txt            the model's structure (train.py --verbose prints it)
        train.log            the lines train.py printed, and a plain line per train log step
        events.out.tfevents.*    TensorBoard
        metrics.jsonl        one JSON object per train log line and per validation
        .lock                the pid of the training writing the folder (one at a time)
        last.pt              saved at every validation and when the run stops
        best.pt              the checkpoint with the best validation loss so far
        selected.pt          weights only: the checkpoint train.select chose (not with "loss")
        step-<N>.pt          weights only: snapshots spread over the run (train.keep_checkpoints)

Resuming continues the very same experiment: the checkpoint's model, data, tokenizer and every
training setting that shapes the trajectory must match. Only when and how long to train
(`RESUME_MAY_CHANGE`) and how validation samples are decoded may differ.
"""

from __future__ import annotations

import os
import shlex
import time
from pathlib import Path
from typing import Any

import torch

from seq2seq.checkpoint import LAST, TEMPORARY
from seq2seq.config import Config, config_from_dict, load_config, save_config
from seq2seq.errors import ConfigError, UserError
from seq2seq.leftovers import pid_alive, remove_leftovers
from seq2seq.models import ARCHITECTURES, build_model, get_architecture
from seq2seq.tokenizer import Tokenizer

RESUME_MAY_CHANGE = {
    "train.max_steps", "train.epochs", "train.patience", "train.eval_interval",
    "train.log_interval", "train.num_sample_prompts", "train.diversity_prompts",
    "train.keep_checkpoints",
}
MODEL_TEXT = "model.txt"
RESUME_KEYS = (
    "optimizer", "scheduler", "scaler", "epoch", "data_position", "best_valid_loss",
    "bad_evals", "rng",
)


def new_run_dir(arch: str, root: str | Path = "runs") -> Path:
    """runs/<arch>-<YYYYmmdd-HHMMSS>, with a suffix if two runs start in the same second."""
    base = Path(root) / f"{arch}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, count = base, 1
    while path.exists():
        count += 1
        path = base.with_name(f"{base.name}-{count}")
    return path


def check_run_dir(run_dir: Path, resume: bool) -> None:
    """Refuse to resume from nothing, and to overwrite a run without --resume."""
    has_checkpoint = (run_dir / LAST).is_file()
    if resume and not has_checkpoint:
        raise UserError(
            f"--resume: {run_dir} holds no {LAST} to resume from "
            "(drop --resume to start a new run there)"
        )
    if not resume and has_checkpoint:
        raise UserError(
            f"{run_dir} already holds a run ({LAST}); add --resume to continue it "
            "or choose another --run-dir"
        )


def flatten(config: dict[str, Any]) -> dict[str, Any]:
    """{"train": {"lr": 1}} -> {"train.lr": 1}"""
    return {f"{section}.{key}": value for section, values in config.items()
            for key, value in values.items()}


def check_resumable(config: Config, payload: dict[str, Any], path: Path) -> None:
    """Raise `UserError` naming the first setting that differs from the checkpoint's."""
    arch = (payload.get("config") or {}).get("model", {}).get("arch")
    if arch != config.model.arch:  # before any setting: the others follow from it
        raise UserError(
            f"--resume: {path} is a {arch} run but model.arch is {config.model.arch!r} here; "
            f"resume with --model {arch} or start a new --run-dir"
        )
    missing = [key for key in RESUME_KEYS if key not in payload]
    if missing:
        raise UserError(f"--resume: {path} has no training state ({', '.join(missing)})")
    # Read back through config_from_dict: a key added since the checkpoint was written takes
    # its default there, which is what the run trained with.
    ours, theirs = flatten(config.to_dict()), flatten(config_from_dict(payload["config"]).to_dict())
    for key in sorted(ours.keys() | theirs.keys()):
        if key in RESUME_MAY_CHANGE or key.startswith("decode."):
            continue
        if ours.get(key) != theirs.get(key):
            raise UserError(
                f"--resume: {key} is {ours.get(key)!r} here but {theirs.get(key)!r} in {path}; "
                "resume with the run's own settings (drop the --config/--set/--seed that change "
                "it) or start a new --run-dir"
            )


def check_same_tokenizer(tokenizer: Tokenizer, payload: dict[str, Any], path: Path) -> None:
    if tokenizer.fingerprint() != payload["tokenizer"]["fingerprint"]:
        raise UserError(
            f"--resume: the corpus gives a different tokenizer than the one in {path}; "
            "pass the run's corpus with --corpus"
        )


def write_run_files(
    run_dir: Path, config: Config, tokenizer: Tokenizer, model: torch.nn.Module
) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(config, run_dir / "config.yaml")
    tokenizer.save(run_dir / "tokenizer.model")
    (run_dir / MODEL_TEXT).write_text(f"{model}\n", encoding="utf-8")


def resume_command(run_dir: Path, time_budget: float | None) -> str:
    """The command that continues this run, ready to paste (its config is in the folder)."""
    command = f"python train.py --run-dir {shlex.quote(str(run_dir))} --resume"
    if time_budget is not None:
        command += f" --time-budget {time_budget:g}"
    return command


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
    with torch.device("meta"):
        return build_model(model_config, tokenizer).num_parameters()


def parameter_report(
    config: Config, tokenizer: Tokenizer, config_path: Path | None, configs_dir: Path | None
) -> list[str]:
    """Lines comparing this model's size with every other registered architecture's."""
    arch = config.model.arch
    lines = [f"{arch}: {count_parameters(config.model, tokenizer):,} parameters"]
    for other in sorted(ARCHITECTURES):
        if other == arch:
            continue
        path = counterpart_config_path(arch, other, config_path, configs_dir)
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


LOCK = ".lock"  # holds the pid of the training that writes the folder


def lock_run_dir(run_dir: Path) -> str | None:
    """Claim `run_dir` for this process: a `.lock` file holding our pid.

    Returns a notice when a stale lock (its process is gone) was taken over, else None.

    Raises:
        UserError: another live process trains in this folder.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK
    notice = None
    for _ in range(2):
        try:
            descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            text = path.read_text(encoding="utf-8", errors="replace").strip()
            owner = int(text) if text.isdigit() else 0
            if owner == os.getpid():  # left by an earlier training in this very process
                path.unlink(missing_ok=True)
                continue
            if pid_alive(owner):
                raise UserError(
                    f"{run_dir} is in use by another training (process {owner}); wait for it "
                    f"to end or choose another --run-dir (if no such training runs, delete "
                    f"{path})"
                ) from None
            path.unlink(missing_ok=True)
            notice = f"took over {path}: the training that held it (process {owner}) is gone"
            continue
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(f"{os.getpid()}\n")
        return notice
    raise UserError(f"{run_dir}: another training claimed it at the same moment; try again")


def unlock_run_dir(run_dir: Path) -> None:
    """Release the lock `lock_run_dir` took (if it is still ours)."""
    path = run_dir / LOCK
    try:
        if path.read_text(encoding="utf-8").strip() == str(os.getpid()):
            path.unlink()
    except OSError:
        pass


def remove_killed_saves(run_dir: Path) -> list[Path]:
    """Remove the temporary checkpoint files of saves that a kill cut short."""
    return remove_leftovers(run_dir, TEMPORARY)
