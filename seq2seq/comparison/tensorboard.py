"""The comparison in TensorBoard: one writer (sub-folder) per run, so runs appear side by side.

    <out>/<label>/        hparams (the run's checkpoint, arch, step and every comparison number,
                          as hparam values), its numbers and most frequent replies as text, its
                          attention heat-maps as images
    <out>/samples/        the metric table and the side-by-side samples as Markdown

No scalars: a comparison is one point per run, which TensorBoard would draw as single-point
charts among (and before) the training curves. `tensorboard --logdir runs` then still opens on
the training runs' curves, with the comparison in the Text, Images and HParams tabs. A run's
sub-folder is named by its label (the training run's folder name), so it reads as
`compare-<time>/<training run>` in TensorBoard's run list.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from torch.utils.tensorboard import SummaryWriter

from seq2seq.comparison.attention import AttentionImage
from seq2seq.comparison.report import samples_table, summary, top_replies_table, value_cell
from seq2seq.comparison.results import Comparison, RunResult
from seq2seq.errors import DISK_ERRORS, WriteError
from seq2seq.hparams import write_hparams

SAMPLES_FOLDER = "samples"


def write_tensorboard(
    comparison: Comparison, out_dir: Path, images: dict[str, list[AttentionImage]]
) -> None:
    """Write every run's metrics, texts and images, and the shared samples.

    Args:
        comparison: the results.
        out_dir: the comparison's folder; one sub-folder per run label.
        images: attention heat-maps by run label.
    """
    for run in comparison.runs:
        with events_writer(out_dir / run.label) as writer:
            hparams = {"run": run.label, "checkpoint": run.checkpoint, "arch": run.arch,
                       "step": run.step, "parameters": run.parameters}
            hparams.update({f"compare.{m.key}": float(getattr(run, m.key))
                            for m in comparison.metrics() if getattr(run, m.key) is not None})
            hparams.update({f"compare.{m.count_key}": float(getattr(run, m.count_key))
                            for m in comparison.metrics() if m.count_key})
            write_hparams(writer, hparams, [])
            writer.add_text("compare/metrics", run_metrics_table(comparison, run), run.step)
            writer.add_text("compare/top_replies", top_replies_table(run), run.step)
            for image in images.get(run.label, []):
                writer.add_image(image.tag, image.image, run.step, dataformats="HWC")
    with events_writer(out_dir / SAMPLES_FOLDER) as writer:
        writer.add_text("compare/summary", summary(comparison), 0)
        writer.add_text("compare/samples", samples_table(comparison.labels, comparison.samples), 0)


@contextmanager
def events_writer(folder: Path) -> Iterator[SummaryWriter]:
    """A `SummaryWriter` for `folder` whose failed writes (a full disk) end in one `WriteError`
    naming the folder. The writer writes from a thread of its own and hands its error to the
    next call here; that thread's traceback would only repeat it, so it is not printed."""
    previous = threading.excepthook

    def quiet_disk_errors(hook: threading.ExceptHookArgs) -> None:
        if not (isinstance(hook.exc_value, OSError) and hook.exc_value.errno in DISK_ERRORS):
            previous(hook)

    threading.excepthook = quiet_disk_errors
    try:
        with SummaryWriter(log_dir=str(folder)) as writer:
            yield writer
    except OSError as error:
        if error.errno not in DISK_ERRORS:
            raise
        raise WriteError(
            f"cannot write the TensorBoard events in {folder} ({error.strerror or error})"
        ) from None
    finally:
        threading.excepthook = previous


def run_metrics_table(comparison: Comparison, run: RunResult) -> str:
    """One run's numbers as a Markdown table (metric, n, value)."""
    rows = ["| metric | n | value |", "|---|---|---|"]
    for metric in comparison.metrics():
        n, value = getattr(run, metric.n_key), value_cell(run, metric)
        rows.append(f"| {metric.label} | {n} | {value} |")
    return "\n".join(rows)
