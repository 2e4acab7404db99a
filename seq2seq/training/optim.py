"""The optimiser and everything scheduled by step: learning rate and teacher forcing.

AdamW (Loshchilov & Hutter, 2019) with parameter groups:

- weight decay only on weight matrices: biases, LayerNorm gains and embeddings are left alone
  (decaying a gain towards 0 or rare-word embeddings towards the origin only hurts; this is
  the split of minGPT's `configure_optimizers`, which decays only Linear weights, and of the
  BERT recipe). A tied output projection is the embedding matrix, so it is not decayed either;
- parameters whose name contains "decoder" get `lr * train.decoder_lr_multiplier`, the PyTorch
  Chatbot Tutorial's `decoder_learning_ratio` (5.0 in configs/gru.yaml, 1.0 elsewhere). For the
  GRU these are its decoder GRU, attention and output layer, as in the tutorial's decoder
  optimizer; the embedding shared with the encoder stays at the base rate. The logs show
  both rates (train/lr and train/lr_decoder, seq2seq/training/log.py).

Learning-rate schedules, as a factor of the peak `train.lr` for optimizer update n = 1, 2, ...:

    inverse_sqrt: min(n / warmup, sqrt(warmup / n))    linear warm-up to the peak at n = warmup,
                  then decay as 1/sqrt(n) (Vaswani et al., 2017, section 5.3, with the peak
                  given directly instead of through d_model ** -0.5)
    constant:     min(1, n / warmup)                    optional linear warm-up, then flat

`warmup_steps: 0` means no warm-up (the inverse_sqrt decay then starts at n = 1).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

from seq2seq.config import TrainConfig

DECODER_MARK = "decoder"


def parameter_groups(model: nn.Module, train: TrainConfig) -> list[dict]:
    """Split the trainable parameters into AdamW groups by (weight decay, learning rate).

    Returns:
        Groups in a fixed order (the optimizer's state_dict depends on it), each with
        "params", "names", "weight_decay" and "lr"; empty groups are left out.
    """
    embeddings = {
        id(module.weight) for module in model.modules() if isinstance(module, nn.Embedding)
    }
    groups: dict[tuple[bool, bool], dict] = {}
    seen: set[int] = set()
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad or id(parameter) in seen:
            continue  # a tied weight appears under two names but is one parameter
        seen.add(id(parameter))
        decay = parameter.ndim >= 2 and id(parameter) not in embeddings
        decoder = DECODER_MARK in name and train.decoder_lr_multiplier != 1.0
        group = groups.setdefault(
            (decay, decoder),
            {
                "params": [],
                "names": [],
                "weight_decay": train.weight_decay if decay else 0.0,
                "lr": train.lr * (train.decoder_lr_multiplier if decoder else 1.0),
            },
        )
        group["params"].append(parameter)
        group["names"].append(name)
    return [groups[key] for key in sorted(groups)]


FUSED_DEVICES = ("cpu", "cuda")  # where torch's AdamW has a fused (one-kernel) implementation


def build_optimizer(model: nn.Module, train: TrainConfig) -> torch.optim.AdamW:
    """AdamW over `parameter_groups` (each group's lr is its peak; the scheduler scales it).

    Fused where torch has the kernel: one pass over each parameter instead of a dozen
    element-wise ops over all of them (on the development VM's CPU, 15 ms instead of 72 ms per
    update of the 19.6M-parameter Transformer).
    """
    groups = parameter_groups(model, train)
    fused = all(p.device.type in FUSED_DEVICES for group in groups for p in group["params"])
    return torch.optim.AdamW(
        groups, lr=train.lr, betas=(train.adam_beta1, train.adam_beta2), fused=fused or None
    )


def lr_factor(update: int, schedule: str, warmup_steps: int) -> float:
    """The learning rate of optimizer update `update` (1-based) as a fraction of the peak."""
    if schedule == "constant":
        return 1.0 if warmup_steps == 0 else min(1.0, update / warmup_steps)
    warmup = max(warmup_steps, 1)
    return min(update / warmup, math.sqrt(warmup / update))


def build_scheduler(optimizer: torch.optim.Optimizer, train: TrainConfig) -> LambdaLR:
    """Scale every group's lr by `lr_factor`; call `step()` after each optimizer update.

    LambdaLR counts from 0 at construction, so the factor for count i is that of update i + 1:
    the first update already uses the first warm-up rate instead of a wasted lr of 0.
    """
    return LambdaLR(
        optimizer, lambda count: lr_factor(count + 1, train.schedule, train.warmup_steps)
    )


def teacher_forcing_ratio(step: int, train: TrainConfig) -> float:
    """Probability of feeding the gold token, decayed linearly from `teacher_forcing` to
    `teacher_forcing_final` over `teacher_forcing_decay_steps` updates (0: constant)."""
    if train.teacher_forcing_decay_steps == 0:
        return train.teacher_forcing
    progress = min(1.0, step / train.teacher_forcing_decay_steps)
    return train.teacher_forcing + progress * (train.teacher_forcing_final - train.teacher_forcing)
