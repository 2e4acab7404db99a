"""A run's folder: what its files are called, making one, finding one, one writer at a time.

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

    pretrained/<model>/      a shipped model (docs/pretrained.md), usable wherever a run is
        model.pt             weights only, in half precision (python -m seq2seq.pretrained export)

What goes inside a checkpoint is seq2seq/checkpoint.py's business; this module only names them.
"""

from __future__ import annotations

import os
import shlex
import time
from pathlib import Path

import torch

from seq2seq.config import Config, save_config
from seq2seq.errors import UserError
from seq2seq.leftovers import pid_alive
from seq2seq.tokenizer import Tokenizer

CONFIG = "config.yaml"
TOKENIZER = "tokenizer.model"
MODEL_TEXT = "model.txt"
TRAIN_LOG = "train.log"
METRICS = "metrics.jsonl"
LOCK = ".lock"  # holds the pid of the training that writes the folder
BEST = "best.pt"
LAST = "last.pt"
SELECTED = "selected.pt"  # written by a run with train.select other than "loss"
SNAPSHOT_PREFIX = "step-"  # weights-only snapshots: step-<N>.pt (train.keep_checkpoints)
SHIPPED = "model.pt"  # the checkpoint of a pretrained/ folder (seq2seq.pretrained)
PRETRAINED = Path("pretrained")  # the shipped models, relative to the working folder as runs/ is
PAIR = ("transformer", "gru")  # the shipped pair, in the order chat.py shows them


def snapshot_name(step: int) -> str:
    return f"{SNAPSHOT_PREFIX}{step}.pt"


def snapshot_steps(run_dir: str | Path) -> list[int]:
    """The steps of the snapshots in a run folder, in ascending order."""
    steps = []
    for path in Path(run_dir).glob(f"{SNAPSHOT_PREFIX}*.pt"):
        number = path.stem[len(SNAPSHOT_PREFIX) :]
        if number.isdigit():
            steps.append(int(number))
    return sorted(steps)


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


def last_stamp(run_dir: Path) -> tuple[int, int, int] | None:
    """What tells one version of the folder's last.pt from another: (inode, size, mtime in ns);
    a save replaces the file, so its inode changes. None when there is no last.pt."""
    try:
        stat = (run_dir / LAST).stat()
    except (FileNotFoundError, NotADirectoryError):  # a run dir that is a file is refused later
        return None
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


def check_run_dir_unchanged(
    run_dir: Path, resume: bool, stamp: tuple[int, int, int] | None
) -> None:
    """Under the lock, refuse when last.pt changed since `check_run_dir` looked (its `stamp`):
    another training of this folder saved there while this one prepared its data."""
    if last_stamp(run_dir) == stamp:
        return
    if resume:
        raise UserError(
            f"{run_dir}: another training saved {LAST} there while this one prepared its data; "
            "run the same command again to resume from where that one stopped"
        )
    raise UserError(
        f"{run_dir}: another training wrote a run there ({LAST}) while this one prepared its "
        "data; add --resume to continue it or choose another --run-dir"
    )


def write_run_files(
    run_dir: Path, config: Config, tokenizer: Tokenizer, model: torch.nn.Module
) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(config, run_dir / CONFIG)
    tokenizer.save(run_dir / TOKENIZER)
    (run_dir / MODEL_TEXT).write_text(f"{model}\n", encoding="utf-8")


def resume_command(
    run_dir: Path,
    time_budget: float | None,
    corpus: str | Path | None = None,
    threads: int | None = None,
    device: str = "auto",
) -> str:
    """The command that continues this run, ready to paste (its config is in the folder); it
    keeps the user's --corpus, --threads and --device, which the folder does not record as given."""
    command = f"python train.py --run-dir {shlex.quote(str(run_dir))} --resume"
    if corpus is not None:
        command += f" --corpus {shlex.quote(str(corpus))}"
    if threads is not None:
        command += f" --threads {threads}"
    if device != "auto":
        command += f" --device {shlex.quote(device)}"
    if time_budget is not None:
        command += f" --time-budget {time_budget:g}"
    return command


# The quickest way to a model that talks: minutes on a CPU (the GPU configs take hours there).
TRAIN_TINY = (
    "python train.py --config configs/tiny-transformer.yaml --max-steps 300 --run-dir {path}"
)


def checkpoint_path(path_or_run_dir: str | Path) -> Path:
    """A checkpoint file, or the one a run folder offers: selected.pt (written when
    train.select is not "loss"), else best.pt, else last.pt; a pretrained/ folder's model.pt."""
    path = Path(path_or_run_dir)
    if not path.is_dir():
        if not path.exists():
            raise UserError(f"{path} does not exist (pass a run folder or a .pt checkpoint)")
        return path
    for name in (SELECTED, BEST, LAST, SHIPPED):
        # anything there under the name (a folder, a link to /dev/zero) is offered, so that
        # loading says what it is instead of calling the checkpoint missing
        if (path / name).exists() or (path / name).is_symlink():
            return path / name
    raise UserError(
        f"{path} holds no {BEST} or {LAST} "
        f"(train one in minutes on a CPU: {TRAIN_TINY.format(path=shlex.quote(str(path)))})"
    )


def find_latest_run(runs_dir: str | Path = "runs") -> Path:
    """The most recently updated run folder under `runs_dir` that holds a best.pt.

    Raises:
        UserError: when there is none, saying how to train one.
    """
    runs_dir = Path(runs_dir)
    candidates = sorted(runs_dir.glob(f"*/{BEST}"), key=lambda p: p.stat().st_mtime)
    if not candidates:
        raise UserError(
            f"no trained model in {runs_dir}/ (train one in minutes on a CPU: "
            f"{TRAIN_TINY.format(path=shlex.quote(str(runs_dir / 'tiny-transformer')))}; or "
            "pass a run folder / checkpoint explicitly)"
        )
    return candidates[-1].parent


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


def shipped_pair(root: Path = PRETRAINED) -> list[Path]:
    """The folders of the shipped pair present under `root`, in `PAIR` order."""
    return [root / name for name in PAIR if (root / name / SHIPPED).is_file()]
