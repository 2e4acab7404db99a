"""One optimizer update, the heart of the loop, as a function: the Trainer calls it once per
step and benchmarks/ times the very same function.

    for each of the step's batches (train.grad_accum of them):
        logits = model(src, src_mask, tgt_in, teacher_forcing=ratio)   # feeding.Feeding
        loss = masked cross-entropy (label-smoothed, FACE-weighted with train.loss: face)
               / real target tokens of the step (of all processes' batches: DDP averages
               gradients, so the per-token mean over processes needs the global count)
        backward                                   (scaled when training in float16)
    global gradient norm, clipped to train.clip_norm
    finite loss and norm? AdamW step, learning-rate schedule step; else no update
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from seq2seq.batching import Batch
from seq2seq.config import TrainConfig
from seq2seq.device import Precision
from seq2seq.metrics import masked_cross_entropy
from seq2seq.training.distributed import Distributed, sum_over_processes


@dataclass(frozen=True)
class Objective:
    """What a step's loss is: the `train` settings that shape it, and this step's ratio.

    Attributes:
        train: label smoothing and gradient clipping.
        pad_id: the tokenizer's pad id (never counted).
        teacher_forcing: this step's probability of feeding the gold token.
        weights: FACE's per-token weights (`seq2seq.training.face`), or None.
    """

    train: TrainConfig
    pad_id: int
    teacher_forcing: float = 1.0
    weights: Callable[[Tensor, Tensor], Tensor] | None = None


@dataclass(frozen=True)
class StepResult:
    """What one update did: its loss, the tokens it rests on and the gradient norm."""

    loss: float  # plain NLL per real target token, over all processes
    targets: int  # real target tokens of the step, over all processes
    grad_norm: float  # before clipping

    @property
    def finite(self) -> bool:
        """False when the update was skipped for a non-finite loss or gradient norm."""
        return math.isfinite(self.loss) and math.isfinite(self.grad_norm)


def train_step(
    model: nn.Module,
    batches: list[Batch],
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    precision: Precision,
    objective: Objective,
    world: Distributed | None = None,
) -> StepResult:
    """One optimizer update over `batches` (already on the model's device), or none when the
    loss or the gradient norm is not finite (then the float16 loss scale is lowered).

    Args:
        model: what runs forward: the model inside `seq2seq.training.feeding.Feeding`, or its
            `torch.compile` / DDP wrapper.
        batches: the step's micro-batches (`train.grad_accum` of them).
        optimizer, scheduler: stepped together after a finite update.
        precision: autocast for the forward pass, the gradient scaler for float16.
        objective: the loss settings and this step's teacher-forcing ratio.
        world: this process among the training processes (None: the only one).
    """
    world = world or Distributed()
    train, device = objective.train, precision.device
    targets = sum(batch.num_targets for batch in batches)
    # DDP averages the processes' gradients: dividing each process's summed loss by the
    # mean count per process makes the average the per-token mean over all processes.
    targets = int(sum_over_processes(targets, world, device))
    per_process = targets / world.world_size
    model.train()
    nll = torch.zeros((), device=device)
    for i, batch in enumerate(batches):
        # DDP averages gradients across processes on every backward; during accumulation
        # only the last micro-batch needs it.
        last = i == len(batches) - 1
        sync = model.no_sync() if world.enabled and not last else nullcontext()
        with sync:
            with precision.autocast():
                logits = model(
                    batch.src, batch.src_mask, batch.tgt_in,
                    teacher_forcing=objective.teacher_forcing,
                )
            weights = objective.weights
            loss, batch_nll = masked_cross_entropy(
                logits, batch.tgt_out, objective.pad_id, train.label_smoothing,
                None if weights is None else weights(logits, batch.tgt_out),
            )
            precision.scaler.scale(loss / per_process).backward()
        nll += batch_nll
    scaler = precision.scaler
    scaler.unscale_(optimizer)  # clip (and measure) the true gradients
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), train.clip_norm or math.inf)
    nll_sum = sum_over_processes(float(nll), world, device)
    result = StepResult(nll_sum / targets, targets, float(grad_norm))
    if result.finite:
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
    elif scaler.is_enabled():
        scaler.update()  # lowers the loss scale after a float16 overflow
    optimizer.zero_grad(set_to_none=True)
    return result
