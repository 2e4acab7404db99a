"""What the decoder reads while training: the gold tokens (teacher forcing), or with
`train.teacher_forcing` below 1 some of its own predictions (scheduled sampling; Bengio et al.,
2015, https://arxiv.org/abs/1506.03099). The models' `forward` is the paper's, teacher-forced;
the feeding is wrapped around it here, as the training step's forward:

    fed = Feeding(model, train.teacher_forcing_feed)      # then torch.compile / DDP around it
    logits = fed(src, src_mask, tgt_in, teacher_forcing=ratio)

At ratio 1 it is `model(src, src_mask, tgt_in)` and draws no random numbers. Below 1, each
position t >= 1 after bos reads the gold token tgt_in[:, t] with probability `ratio` (a coin per
position and sequence, `gold_coins`), else the model's own prediction of it (`predicted_tokens`:
the argmax, or with feed "sample" a draw from the softmax; no gradient flows through the
choice). What "own prediction" means differs per architecture:

- step by step (the GRU, and any architecture not named in `TWO_PASSES`): the decoder runs one
  token at a time through `decode_step`, and a prediction is made from the tokens actually fed
  before it, its own earlier predictions included (free running, as the PyTorch Chatbot
  Tutorial, but decided per step and sequence rather than once per batch);
- two passes (the Transformer; Mihaylova & Martins, ACL 2019 student workshop,
  https://arxiv.org/abs/1906.07651): a first decoder pass over the gold prefix, without
  gradient and in the model's current mode (dropout included), predicts every position from
  the gold tokens before it; the mixed inputs are then decoded in the trained second pass.

The coins and samples come from torch's global random generator, so a seeded run repeats.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from seq2seq.models import Seq2SeqModel

TWO_PASSES = frozenset({"transformer"})  # architectures fed by two parallel decoder passes


def gold_coins(tgt_in: Tensor, teacher_forcing: float) -> Tensor:
    """(B, T - 1) bool, True where position t = 1..T-1 of tgt_in (B, T) is fed the gold token:
    one coin per position and sequence from torch's global RNG (bos is always fed)."""
    batch, length = tgt_in.shape
    return torch.rand(batch, length - 1, device=tgt_in.device) < teacher_forcing


def predicted_tokens(logits: Tensor, feed: str) -> Tensor:
    """The model's own next tokens (...) from logits (..., V), without gradient: the argmax, or
    with feed="sample" a draw from the softmax (torch's global RNG)."""
    logits = logits.detach()
    if feed == "argmax":
        return logits.argmax(dim=-1)
    probs = logits.float().softmax(dim=-1).reshape(-1, logits.size(-1))
    return torch.multinomial(probs, 1).reshape(logits.shape[:-1])


def step_by_step(
    model: Seq2SeqModel, src: Tensor, src_mask: Tensor, tgt_in: Tensor, teacher_forcing: float,
    feed: str,
) -> Tensor:
    """Logits (B, T, V) of a decoder run one token at a time, fed at step t >= 1 the gold
    tgt_in[:, t] (B, T) where a coin says so, else its own prediction from step t - 1."""
    memory = model.encode(src, src_mask)
    feed_gold = gold_coins(tgt_in, teacher_forcing)  # (B, T - 1)
    tokens, state, steps = tgt_in[:, 0], None, []  # bos is always fed
    for t in range(tgt_in.size(1)):
        logits, state = model.decode_step(tokens, memory, state)  # (B, V)
        steps.append(logits)
        if t + 1 < tgt_in.size(1):
            tokens = torch.where(feed_gold[:, t], tgt_in[:, t + 1], predicted_tokens(logits, feed))
    return torch.stack(steps, dim=1)


def two_passes(
    model: Seq2SeqModel, src: Tensor, src_mask: Tensor, tgt_in: Tensor, teacher_forcing: float,
    feed: str,
) -> Tensor:
    """Logits (B, T, V) of the second of two decoder passes (`model.decode(tgt_in, memory)`):
    the first, over the gold tgt_in (B, T) without gradient, predicts the tokens that replace
    gold ones where a coin says so. Positions after a sequence's end get predictions too; the
    loss ignores them and causal attention keeps them from earlier positions."""
    memory = model.encode(src, src_mask)
    with torch.no_grad():
        predicted = predicted_tokens(model.decode(tgt_in, memory), feed)  # (B, T): token t + 1
    gold = gold_coins(tgt_in, teacher_forcing)  # (B, T - 1)
    mixed = torch.where(gold, tgt_in[:, 1:], predicted[:, :-1])  # (B, T - 1)
    return model.decode(torch.cat([tgt_in[:, :1], mixed], dim=1), memory)


class Feeding(nn.Module):
    """The training step's forward: `model` teacher-forced, or fed some of its own predictions.

    A module (not a function) so that torch.compile and DistributedDataParallel wrap the whole
    forward; the model is its only child, so `parameters()` are the model's, in its order.
    """

    def __init__(self, model: Seq2SeqModel, feed: str = "argmax") -> None:
        super().__init__()
        self.model, self.feed = model, feed

    def forward(
        self, src: Tensor, src_mask: Tensor, tgt_in: Tensor, teacher_forcing: float = 1.0
    ) -> Tensor:
        """src (B, S), src_mask (B, S), tgt_in (B, T) -> (B, T, V) logits; `teacher_forcing`:
        the probability of feeding each gold token after bos (1.0: all, in one pass)."""
        if teacher_forcing >= 1.0:
            return self.model(src, src_mask, tgt_in)
        scheduled = two_passes if self.model.config.arch in TWO_PASSES else step_by_step
        return scheduled(self.model, src, src_mask, tgt_in, teacher_forcing, self.feed)
