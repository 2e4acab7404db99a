"""`nn.Linear` with its product arranged for the few rows of decoding on a CPU: applied to a
built model by `seq2seq.models.speed.speed_up`, never written in a model file.

`nn.Linear` computes y = x W^T + b. While decoding, x has one row per hypothesis: 5 rows in
beam search at batch 1, up to 64 in a batch of greedy replies. Such a product does a few
multiply-adds per weight it reads, so reading W from memory bounds it. There, torch's CPU BLAS
(MKL) computed x W^T for 2 to 5 rows about twice as slowly as for one row, and the same numbers
arranged as y^T = W x^T + b no slower than one row: on the development VM (2-core AMD EPYC,
torch 2.13.0+cpu), the 25 products of a beam step of configs/transformer.yaml (45 MB of
weights, more than the 32 MB L3 cache) took 1.5-2x less time arranged (`decode.linear.rows5`
in benchmarks/run.py, benchmarks/README.md "Few-row products"). With weights that stay in a
core's cache it is the other way round: the tiny configs' 64-wide layers were 2-3x slower
arranged, and on a Xeon whose 480 MiB L3 holds all 45 MB the arranged products of a beam step
were 0.64-0.74x as fast (docs/performance.md).

So `FewRowLinear` takes the arranged product on a CPU for 2 to `FEW_ROWS` rows of a weight of at
least `LARGE_WEIGHT` elements, and is `nn.Linear` otherwise (one row, training's thousands of
rows, small layers, any GPU). Parameters, their names and initialisation are nn.Linear's, so
checkpoints do not change; results equal `F.linear`'s up to float rounding (another summation
order).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

FEW_ROWS = 64  # beyond this, products are bound by arithmetic and both arrangements tie
LARGE_WEIGHT = 2**16  # elements (256 KiB in fp32): smaller weights stay in a core's cache


class FewRowLinear(nn.Linear):
    """`nn.Linear(in_features, out_features, bias)` with the few-row arrangement above."""

    def forward(self, x: Tensor) -> Tensor:
        """(..., in_features) -> (..., out_features)."""
        rows = x.numel() // self.in_features
        if (x.device.type != "cpu" or not 1 < rows <= FEW_ROWS
                or self.weight.numel() < LARGE_WEIGHT):
            return F.linear(x, self.weight, self.bias)
        columns = x.reshape(rows, self.in_features).T  # (in, rows): x^T, a view
        if self.bias is None:
            y = self.weight @ columns  # (out, rows)
        else:
            y = torch.addmm(self.bias[:, None], self.weight, columns)
        return y.T.contiguous().view(*x.shape[:-1], self.out_features)
