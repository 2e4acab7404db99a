"""TensorBoard's HParams tab, written the same way by training runs and by comparisons."""

from __future__ import annotations

from typing import Any

from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams as hparams_summary


def write_hparams(writer: SummaryWriter, values: dict[str, Any], metric_tags: list[str]) -> None:
    """The HParams summaries for the writer's own run, naming existing scalar tags as its
    metrics and writing no scalar of their own.

    Args:
        writer: the run's writer.
        values: flat name -> value; what TensorBoard cannot show (not a number, string or
            boolean) is shown as its text.
        metric_tags: scalar tags the run already logs (e.g. "valid/loss").
    """
    shown = {
        name: value if isinstance(value, (int, float, str, bool)) else str(value)
        for name, value in values.items()
    }
    for summary in hparams_summary(shown, dict.fromkeys(metric_tags, 0.0)):
        writer.file_writer.add_summary(summary)
    writer.flush()
