"""`python -m seq2seq.pretrained export RUN pretrained/NAME`: a run's checkpoint as a shipped
folder, written atomically.

The folder is built beside its destination under a temporary name (model.pt, config.yaml, then
the model card, whose figures are measured on the written model.pt itself) and renamed into
place, so a crash leaves the old folder or the new one, never a half-written one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from seq2seq.checkpoint import Trained, load_checkpoint, load_trained, save_checkpoint
from seq2seq.comparison.pipeline import Options, comparison_decoding, evaluate_run, load_examples
from seq2seq.config import save_config
from seq2seq.errors import UserError, WriteError
from seq2seq.pretrained import CARD, CONFIG
from seq2seq.pretrained.card import Measured, model_card
from seq2seq.pretrained.compact import compact_payload
from seq2seq.runs import SHIPPED, checkpoint_path


def git_commit(folder: Path) -> str | None:
    """The commit checked out at `folder`, with "+changes" when files differ; None outside git."""
    try:
        head = subprocess.run(["git", "-C", str(folder), "rev-parse", "--short=12", "HEAD"],
                              capture_output=True, text=True, check=True, timeout=30)
        status = subprocess.run(["git", "-C", str(folder), "status", "--porcelain",
                                 "--untracked-files=no"],
                                capture_output=True, text=True, check=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + (" +changes" if status.stdout.strip() else "")


def measure(shipped: Trained, original: Trained, options: Options) -> Measured:
    """Both models on the test split (`options`), as `compare.py` scores a run."""
    examples = load_examples(options, [shipped], ["shipped"])
    decoding = comparison_decoding(options, shipped)
    results = [evaluate_run(run, label, examples, options, decoding)
               for run, label in ((shipped, "shipped"), (original, "original"))]
    (result, replies, _), (original_result, original_replies, _) = results
    same = sum(a == b for a, b in zip(replies, original_replies, strict=True))
    return Measured(result, original_result, same, examples.description)


def export(
    source: str | Path, out: str | Path, precision: str = "float16", corpus: str | None = None,
    limit: int = 0, replace: bool = False, commit: str | None = None,
) -> Path:
    """Write `source` (a run folder, its selected checkpoint, or a .pt file) as the shipped
    folder `out`.

    Args:
        corpus: the corpus whose test split the card's figures are measured on (default: the
            one the checkpoint names, as compare.py finds it).
        limit: measure on the first N test examples only (0: all).
        replace: replace an existing `out`.
        commit: the code commit to name in the card (default: the working folder's).

    Returns:
        The path of the shipped model.pt.
    """
    out = Path(out)
    if out.exists() and not replace:
        raise UserError(f"{out} already exists; add --replace to overwrite it")
    path = checkpoint_path(source)
    original = load_trained(path)
    payload = compact_payload(load_checkpoint(path), precision)
    building = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    shutil.rmtree(building, ignore_errors=True)
    try:
        building.mkdir(parents=True)
        save_checkpoint(building / SHIPPED, payload)
        save_config(original.config, building / CONFIG)
        shipped = load_trained(building)
        options = Options(runs=[str(building)], corpus=corpus, split="test", limit=limit,
                          speed_passes=1)
        measured = measure(shipped, original, options)
        card = model_card(out.name, shipped, precision, path, commit or git_commit(Path.cwd()),
                          measured)
        (building / CARD).write_text(card, encoding="utf-8")
        move_into_place(building, out)
    except OSError as error:
        raise WriteError(f"cannot write {out} ({error.strerror or error}); it was left as it "
                         "was") from None
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return out / SHIPPED


def move_into_place(building: Path, out: Path) -> None:
    """Rename the finished folder to `out`, an existing `out` being moved aside first and
    removed after (a folder cannot be renamed over a non-empty one)."""
    old = out.with_name(f".{out.name}.{os.getpid()}.old")
    if out.exists():
        os.replace(out, old)
    os.replace(building, out)
    shutil.rmtree(old, ignore_errors=True)
