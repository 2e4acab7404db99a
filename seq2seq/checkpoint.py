"""Checkpoints: one self-describing file per snapshot, written atomically, loaded safely.

A checkpoint is a plain dict that `torch.load(weights_only=True)` can read back (tensors, numbers,
strings, bytes, lists, tuples and dicts only, so loading a file never runs code from it):

    format           "seq2seq-chatbots/1"
    config           the resolved `Config` as a plain dict (`Config.to_dict()`)
    model            the model's state_dict
    tokenizer        {"model": sentencepiece bytes, "normalize": str, "fingerprint": str}
    optimizer, scheduler, scaler     their state_dicts (resuming only: absent from the
                                     weights-only selected.pt and step-<N>.pt snapshots)
    step, epoch, data_position       optimizer updates so far; batches consumed in this epoch
    best_valid_loss, bad_evals       early stopping
    rng              {"torch", "cuda", "python", "numpy"} generator states
    metrics          the latest validation metrics
    corpus, train_seconds            where the data came from; training time so far
    device                           where it was trained (e.g. "cpu", "cuda:0")
    nonfinite_steps                  updates skipped for a non-finite loss or gradient
    selection                        the state of the train.select rule

`weights_payload` writes the entries every checkpoint has; `TrainingState` is the rest, what
last.pt and best.pt add to continue a run exactly (`to_payload`, `from_payload`). `chat.py` and
`compare.py` rebuild a model from the file alone with `load_trained` (nanoGPT's `sample.py` does
the same from its `ckpt.pt`).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from seq2seq.config import Config, config_from_dict
from seq2seq.errors import ConfigError, UserError, WriteError
from seq2seq.leftovers import remove_leftovers
from seq2seq.models import Seq2SeqModel, build_model
from seq2seq.models.speed import speed_up
from seq2seq.paths import what_it_is
from seq2seq.runs import checkpoint_path
from seq2seq.tokenizer import Tokenizer

FORMAT = "seq2seq-chatbots/1"
REQUIRED_KEYS = ("format", "config", "model", "tokenizer", "step")
TOKENIZER_KEYS = ("model", "normalize", "fingerprint")


def weights_payload(
    config: Config, model: nn.Module, tokenizer: Tokenizer, *, step: int, epoch: int,
    metrics: dict[str, float], corpus: str, train_seconds: float, device: str,
) -> dict[str, Any]:
    """What every checkpoint holds: enough to use the model (snapshots and selected.pt hold only
    this), and to say what it is (its step, epoch, latest metrics, data and machine)."""
    return {
        "format": FORMAT,
        "config": config.to_dict(),
        "model": model.state_dict(),
        "tokenizer": dict(zip(TOKENIZER_KEYS, (
            tokenizer.to_bytes(), tokenizer.normalize, tokenizer.fingerprint()
        ), strict=True)),
        "step": step,
        "epoch": epoch,
        "metrics": metrics,
        "corpus": corpus,
        "train_seconds": train_seconds,
        "device": device,
    }


@dataclass
class TrainingState:
    """Where a run stands beyond its weights: what last.pt and best.pt add so that a resumed run
    repeats the uninterrupted one.

    Attributes:
        optimizer, scheduler, scaler: their state_dicts.
        data_position: batches consumed in the current epoch.
        bad_evals: validations in a row that did not change the selected checkpoint.
        rng: every random state (`seq2seq.training.rng.rng_state`).
        selection: the train.select rule's state (`Selection.to_dict()`); None in checkpoints
            from before selection rules, where `best_valid_loss` is all there is.
        best_valid_loss: the lowest validation loss so far.
        nonfinite_steps: updates skipped for a non-finite loss or gradient norm.
        log_interval_sums: the sums since the last train log line, so that the resumed run's
            line averages the same steps (empty in older checkpoints: it averages fewer).
        token_frequencies: FACE's counts from the training split (None without FACE).
    """

    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    scaler: dict[str, Any]
    data_position: int
    bad_evals: int
    rng: dict[str, Any]
    selection: dict[str, Any] | None
    best_valid_loss: float = math.inf
    nonfinite_steps: int = 0
    log_interval_sums: dict[str, Any] = field(default_factory=dict)
    token_frequencies: Tensor | None = None

    REQUIRED = ("optimizer", "scheduler", "scaler", "data_position", "best_valid_loss",
                "bad_evals", "rng")

    def to_payload(self) -> dict[str, Any]:
        """The checkpoint entries (token_frequencies only when there are some)."""
        payload = {f.name: getattr(self, f.name) for f in fields(self)}
        if self.token_frequencies is None:
            del payload["token_frequencies"]
        return payload

    @classmethod
    def from_payload(cls, payload: dict[str, Any], path: Path) -> TrainingState:
        """Read the training state of a checkpoint written by any version of train.py.

        Raises:
            UserError: a weights-only checkpoint (a snapshot, selected.pt) has none.
        """
        missing = [key for key in (*cls.REQUIRED, "epoch") if payload.get(key) is None]
        if missing:
            raise UserError(f"--resume: {path} has no training state ({', '.join(missing)})")
        # what the loop reads besides the state proper, checked here with the rest
        entry(payload, "epoch", int, path)
        entry(payload, "train_seconds", float, path)
        entry(payload, "metrics", dict, path)
        return cls(
            optimizer=entry(payload, "optimizer", dict, path),
            scheduler=entry(payload, "scheduler", dict, path),
            scaler=entry(payload, "scaler", dict, path),
            data_position=entry(payload, "data_position", int, path),
            bad_evals=entry(payload, "bad_evals", int, path),
            rng=entry(payload, "rng", dict, path),
            selection=entry(payload, "selection", dict, path),
            best_valid_loss=entry(payload, "best_valid_loss", float, path),
            nonfinite_steps=entry(payload, "nonfinite_steps", int, path, 0),
            log_interval_sums=entry(payload, "log_interval_sums", dict, path, {}),
            token_frequencies=payload.get("token_frequencies"),
        )


KINDS = {int: "a whole number >= 0", float: "a number", str: "a string", dict: "a mapping"}


def entry(
    payload: dict[str, Any], key: str, kind: type, path: Path, default: Any = None
) -> Any:
    """`payload[key]` (`default` when absent or None) checked to be a `kind`: a crafted or
    damaged value is one line naming the entry, not a traceback where the loop uses it.

    Args:
        kind: int (>= 0, not a bool), float (an int too, as a float), str or dict.
    """
    value = payload.get(key)
    if value is None:
        return default
    fits = isinstance(value, kind) and not isinstance(value, bool)
    if kind is int:
        fits = fits and value >= 0
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value, fits = float(value), True
    if not fits:
        shown = repr(value) if isinstance(value, int | float | str) else type(value).__name__
        raise UserError(f"{path} is damaged: its {key} {shown[:40]} is not {KINDS[kind]}")
    return value


# The temporary name `save_checkpoint` writes to, with the writer's process id.
TEMPORARY = re.compile(r"\..+\.pt\.(?P<pid>\d+)\.tmp")


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """Write `payload` to `path` atomically: a crash leaves either the old file or the new one.

    The bytes go to a temporary file in the same folder, are flushed to disk, and the file is
    then renamed over `path` (a rename within one file system is atomic).

    Raises:
        WriteError: the file could not be written (a full disk, a read-only folder); `path` is
            as it was and no temporary file is left.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as file:
            torch.save(payload, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except OSError as error:
        raise WriteError(
            f"cannot write {path} ({error.strerror or error}); it was left as it was"
        ) from None
    except RuntimeError as error:
        # torch's zip writer reports a failed write (a full disk) as a RuntimeError of its own
        if "write" not in str(error).lower():
            raise
        raise WriteError(
            f"cannot write {path} (the write failed: is the disk full?); it was left as it was"
        ) from None
    finally:
        tmp.unlink(missing_ok=True)
    sync_directory(path.parent)


def remove_killed_saves(folder: Path) -> list[Path]:
    """Remove the temporary files of saves that a kill cut short (see `TEMPORARY`)."""
    return remove_leftovers(folder, TEMPORARY)


def sync_directory(folder: Path) -> None:
    """Flush a folder's entries so the rename itself survives a power cut (POSIX only)."""
    if os.name != "posix":
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def load_checkpoint(path: str | Path, mmap: bool = False) -> dict[str, Any]:
    """Read a checkpoint onto the CPU with `weights_only=True`.

    Args:
        path: the .pt file.
        mmap: map the file instead of reading it: tensors are paged in when used, so loading
            only the weights (chat, compare) never reads the optimizer state, which is twice
            their size with Adam.

    Raises:
        UserError: one line when the file is missing, damaged, or not one of ours.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint {path} {what_it_is(path)}")
    if path.stat().st_size == 0:
        raise UserError(f"{path} is not a seq2seq-chatbots checkpoint (the file is empty)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception:  # zip, unpickling, mmap and EOF errors all mean "not a checkpoint"
        # torch's own messages advise on torch.save and weights_only, which is no help here
        raise UserError(
            f"{path} is not a seq2seq-chatbots checkpoint (not a PyTorch file written by "
            "train.py, or damaged)"
        ) from None
    if not isinstance(payload, dict):
        raise UserError(f"{path} is not a seq2seq-chatbots checkpoint (not a dict)")
    if payload.get("format") != FORMAT:
        found = payload.get("format", "no format field")
        raise UserError(f"{path} is not a seq2seq-chatbots checkpoint (format: {found})")
    missing = [key for key in REQUIRED_KEYS if key not in payload]
    if missing:
        raise UserError(
            f"{path} is not a seq2seq-chatbots checkpoint (missing {', '.join(missing)})"
        )
    if type(payload["step"]) is not int or payload["step"] < 0:
        raise UserError(f"{path} is damaged: its step {payload['step']!r} is not a step count")
    return payload


@dataclass
class Trained:
    """A trained model ready for inference, with everything needed to use it."""

    model: Seq2SeqModel  # in eval mode, on the requested device
    tokenizer: Tokenizer
    config: Config
    step: int  # optimizer updates it was trained for
    path: Path  # the checkpoint file
    run_dir: Path  # the folder holding it
    epoch: int | None = None  # epochs completed (None: not recorded)
    train_seconds: float | None = None  # of training steps, validation excluded
    corpus: str | None = None  # the corpus it was trained on, as training resolved it
    device: str | None = None  # where it was trained


def config_of(payload: dict[str, Any], path: Path) -> Config:
    """The checkpoint's config, validated like a config file."""
    try:
        return config_from_dict(payload["config"])
    except ConfigError as error:
        raise UserError(f"{path} holds a config this version cannot read ({error})") from None


def tokenizer_of(payload: dict[str, Any], path: Path) -> Tokenizer:
    """The checkpoint's tokenizer, checked against its fingerprint."""
    saved = payload["tokenizer"]
    if not isinstance(saved, dict) or not set(TOKENIZER_KEYS) <= saved.keys():
        raise UserError(f"{path} is not a seq2seq-chatbots checkpoint (bad tokenizer entry)")
    try:
        tokenizer = Tokenizer.from_bytes(saved["model"], saved["normalize"])
    except UserError as error:
        raise UserError(f"{path} is damaged: {error}") from None
    if tokenizer.fingerprint() != saved["fingerprint"]:
        raise UserError(f"{path} is damaged (its tokenizer does not match its fingerprint)")
    return tokenizer


def load_trained(path_or_run_dir: str | Path, device: str | torch.device = "cpu") -> Trained:
    """Rebuild a trained model from a checkpoint file or a run folder.

    Args:
        path_or_run_dir: a `.pt` file, or a run folder (its `checkpoint_path`).
        device: where to put the model.

    Returns:
        `Trained` with the model in eval mode. On the CPU its weights are the checkpoint's own
        memory-mapped tensors (`build_model(..., weights=...)`: nothing initialised or copied),
        private to the process; checkpoints are replaced, never rewritten in place
        (`save_checkpoint`), so the file it maps stays as it was loaded. On a CPU it has its
        fast paths (`seq2seq.models.speed.speed_up`).
    """
    path = checkpoint_path(path_or_run_dir)
    payload = load_checkpoint(path, mmap=True)
    config = config_of(payload, path)
    tokenizer = tokenizer_of(payload, path)
    try:
        model = build_model(config.model, tokenizer, weights=payload["model"])
    except (RuntimeError, TypeError, AttributeError) as error:
        first = str(error).strip().splitlines()[0]
        raise UserError(
            f"{path}: the weights do not fit the model its config describes ({first})"
        ) from None
    broken = [name for name, tensor in payload["model"].items()
              if tensor.is_floating_point() and not torch.isfinite(tensor).all()]
    if broken:  # it would answer every line with nothing, and say nothing of why
        raise UserError(
            f"{path} is damaged: {len(broken)} weight tensor(s) hold NaN or infinite values "
            f"(first: {broken[0]}); load an earlier checkpoint of the run"
        )
    model = speed_up(model.to(device), device).eval()
    return Trained(
        model, tokenizer, config, int(payload["step"]), path, path.parent,
        epoch=entry(payload, "epoch", int, path),  # None where an older checkpoint lacks it
        train_seconds=entry(payload, "train_seconds", float, path),
        corpus=entry(payload, "corpus", str, path),
        device=entry(payload, "device", str, path),
    )
