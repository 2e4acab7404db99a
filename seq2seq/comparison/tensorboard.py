"""The comparison in TensorBoard: one writer (sub-folder) per run, so runs appear side by side.

    <out>/<label>/        hparams (the run's checkpoint, arch, step) with every metric as a
                          scalar at the run's training step, its attention heat-maps as images,
                          its most frequent replies as text
    <out>/samples/        the side-by-side samples as a Markdown table

`tensorboard --logdir runs` shows it next to the training runs when <out> is under runs/.
"""

from __future__ import annotations

from pathlib import Path

from torch.utils.tensorboard import SummaryWriter

from seq2seq.comparison.attention import AttentionImage
from seq2seq.comparison.report import samples_table, summary, top_replies_table
from seq2seq.comparison.results import Comparison

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
        with SummaryWriter(log_dir=str(out_dir / run.label)) as writer:
            hparams = {"run": run.label, "checkpoint": run.checkpoint, "arch": run.arch,
                       "step": run.step, "parameters": run.parameters}
            metrics = {f"compare/{m.key}": float(getattr(run, m.key))
                       for m in comparison.metrics() if getattr(run, m.key) is not None}
            metrics.update({f"compare/{m.count_key}": float(getattr(run, m.count_key))
                            for m in comparison.metrics() if m.count_key})
            # run_name "." keeps the hparams in this run's folder instead of a timestamped one.
            writer.add_hparams(hparams, metrics, run_name=".", global_step=run.step)
            writer.add_text("compare/top_replies", top_replies_table(run), run.step)
            for image in images.get(run.label, []):
                writer.add_image(image.tag, image.image, run.step, dataformats="HWC")
    with SummaryWriter(log_dir=str(out_dir / SAMPLES_FOLDER)) as writer:
        writer.add_text("compare/summary", summary(comparison), 0)
        writer.add_text("compare/samples", samples_table(comparison.labels, comparison.samples), 0)
