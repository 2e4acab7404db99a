"""Weights-only checkpoints in half precision: half the bytes of float32, loaded back as
float32 (`seq2seq.models.weights.assign_weights` converts each tensor to the model's dtype).

float16 keeps 11 significant bits against bfloat16's 8, and trained weights sit far inside its
range (|x| < 65504), so it is the default; a tensor that would overflow is refused rather than
shipped as inf.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from seq2seq.errors import UserError

PRECISIONS = {"float16": torch.float16, "bfloat16": torch.bfloat16}
# What a shipped checkpoint keeps of a run's checkpoint: what using and describing it needs
# (`seq2seq.checkpoint.weights_payload`), never the optimizer or RNG states.
KEPT = ("format", "config", "model", "tokenizer", "step", "epoch", "metrics", "corpus",
        "train_seconds", "device")


def compact_weights(weights: dict[str, Tensor], precision: str) -> dict[str, Tensor]:
    """The state dict with every float32 tensor stored in `precision` (other tensors as they are).

    Raises:
        UserError: an unknown precision, or a tensor whose values do not fit it.
    """
    if precision not in PRECISIONS:
        raise UserError(f"precision {precision}: choose one of {', '.join(PRECISIONS)}")
    dtype = PRECISIONS[precision]
    compact = {}
    for name, tensor in weights.items():
        if tensor.dtype == torch.float32:
            small = tensor.to(dtype)
            if not torch.isfinite(small).all() and torch.isfinite(tensor).all():
                raise UserError(f"{name} does not fit {precision} (it would hold inf); "
                                "export with --precision bfloat16")
            tensor = small
        compact[name] = tensor.contiguous()
    return compact


def compact_payload(payload: dict[str, Any], precision: str) -> dict[str, Any]:
    """A shipped checkpoint from a run's checkpoint: the `KEPT` entries, weights compacted, and
    the precision they are stored in."""
    kept = {key: payload[key] for key in KEPT if key in payload}
    kept["model"] = compact_weights(payload["model"], precision)
    kept["precision"] = precision
    return kept
