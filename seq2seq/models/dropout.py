"""Dropout (Srivastava et al., 2014) that draws half as many random numbers on a CPU: applied
to a built model's `nn.Dropout` modules by `seq2seq.models.speed.speed_up`.

Inverted dropout, as `nn.Dropout`: in training each element is zeroed with probability p and
the others are scaled by 1 / (1 - p), so that the expected value is unchanged; in eval mode it
is the identity.

Why not `nn.Dropout`: on a CPU torch draws one 32-bit number from its Mersenne Twister per
element (`bernoulli_`), on one thread whatever `torch.set_num_threads` says. For the
Transformer of configs/transformer.yaml that was 14% of a training step on the development VM,
as much as all its matrix products of one encoder layer. Here one 32-bit draw serves two
elements: `random_()` on int32 gives 31 uniform random bits; read as two int16, each half keeps
15 of them (bits 0-14 and 16-30), two independent integers uniform in [0, 2^15). An element is
kept when its integer is at least round(p * 2^15), so the drop probability is p rounded to a
multiple of 2^-15 (0.1 becomes 0.100006), and the kept elements are scaled by the inverse of
that rounded keep probability. The numbers still come from torch's global generator, so
`torch.manual_seed` and the saved random states of a checkpoint reproduce them. On other
devices torch's fused kernel is used.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LEVELS = 2**15  # the uniform integers compared with the threshold lie in [0, LEVELS)


def dropout(x: Tensor, p: float, training: bool = True) -> Tensor:
    """x (any shape) with each element zeroed with probability p, the rest scaled up.

    The identity when not `training` or p == 0; `F.dropout` off the CPU.
    """
    if not training or p == 0.0:
        return x
    if x.device.type != "cpu" or p == 1.0:
        return F.dropout(x, p, training=True)
    threshold = round(p * LEVELS)  # drop when the uniform integer is below it
    n = x.numel()
    bits = x.new_empty((n + 1) // 2, dtype=torch.int32).random_()  # 31 random bits each
    # as int16 pairs: bits 0-15 and 16-31 (bit 31 is 0); keeping 15 bits of each: [0, 2^15)
    uniform = bits.view(torch.int16).bitwise_and_(LEVELS - 1)[:n].view(x.shape)
    scale = LEVELS / (LEVELS - threshold)  # 1 / the rounded keep probability
    return x * torch.where(uniform >= threshold, scale, 0.0).to(x.dtype)


class FastDropout(nn.Dropout):
    """`nn.Dropout(p)` (active in training mode only) through `dropout` above."""

    def forward(self, x: Tensor) -> Tensor:
        return dropout(x, self.p, self.training)
