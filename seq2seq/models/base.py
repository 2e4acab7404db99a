"""The interface every seq2seq architecture implements, so training, decoding, chat and
comparison never look inside a model.

    logits = model(src, src_mask, tgt_in)                 # teacher-forced training
    logits = model(src, src_mask, tgt_in, teacher_forcing=0.75)   # some of its own predictions fed
    memory = model.encode(src, src_mask)                  # once per source
    logits, state = model.decode_step(tokens, memory, state)   # one target step, state=None first
    state = model.reorder_state(state, index)             # beam search reorders hypotheses

State goes in and out explicitly (fairseq's `incremental_state`), never hidden on the module.
Masks are boolean and True on real tokens; padding is on the right.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class Memory:
    """What the encoder hands the decoder.

    Attributes:
        states: (B, S, D) encoder outputs.
        mask: (B, S) bool, True on real source tokens.
        init: optional batch-first tensor (B, ...) the decoder starts from (the GRU's hidden).
        derived: batch-first tensors (B, ...) that the decoder computes from the states once
            per source and reads at every step (the Transformer's cross-attention keys and
            values). Kept here rather than in a decoder state, they follow the source's rows:
            beam search, which reorders hypotheses within their source, never copies them.
    """

    states: Tensor
    mask: Tensor
    init: Tensor | None = None
    derived: tuple[Tensor, ...] = ()

    def index_select(self, index: Tensor) -> Memory:
        """Memory for batch rows `index` (B',): used to expand a batch to B * beam."""
        init = None if self.init is None else self.init.index_select(0, index)
        derived = tuple(tensor.index_select(0, index) for tensor in self.derived)
        return Memory(
            self.states.index_select(0, index), self.mask.index_select(0, index), init, derived
        )


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


class Seq2SeqModel(nn.Module, ABC):
    """An encoder-decoder over one shared vocabulary (source and target use one tokenizer).

    Subclasses take `(config, vocab_size, pad_id)` and register with `@register_model`.
    Their decoder state objects carry a `cross_attention` attribute: (B, H, S) weights of the
    last step's encoder-decoder attention when `decode_step(..., need_attention=True)`, else None.
    """

    def __init__(self, config: Any, vocab_size: int, pad_id: int) -> None:
        """Validate `config` and keep what every user of a model reads: the config, the
        vocabulary size and the pad id."""
        super().__init__()
        config.validate()
        self.config, self.vocab_size, self.pad_id = config, vocab_size, pad_id

    @abstractmethod
    def forward(
        self,
        src: Tensor,
        src_mask: Tensor,
        tgt_in: Tensor,
        teacher_forcing: float = 1.0,
        feed: str = "argmax",
    ) -> Tensor:
        """Training logits, teacher-forced or partly fed the model's own predictions.

        Args:
            src: (B, S) source token ids, right-padded.
            src_mask: (B, S) bool, True on real tokens.
            tgt_in: (B, T) target ids shifted right (bos first), right-padded.
            teacher_forcing: probability of feeding the gold token tgt_in[:, t] at each
                position t >= 1 (`gold_coins`), else the model's own prediction of it
                (`predicted_tokens`); 1.0 is plain teacher forcing and draws no coins.
            feed: "argmax" or "sample": which prediction is fed instead of a gold token.

        Returns:
            (B, T, V) logits for the next token at every target position.
        """

    @abstractmethod
    def encode(self, src: Tensor, src_mask: Tensor) -> Memory:
        """Encode a batch of sources: (B, S), (B, S) -> `Memory`."""

    @abstractmethod
    def decode_step(
        self, tokens: Tensor, memory: Memory, state: Any | None, need_attention: bool = False
    ) -> tuple[Tensor, Any]:
        """Advance the decoder by one token.

        Args:
            tokens: (B,) the previous token of each sequence (bos at the first step).
            memory: the encoder's output for these B sequences.
            state: the state returned by the previous call, or None at the first step.
            need_attention: record the step's cross-attention weights in `state.cross_attention`.

        Returns:
            (B, V) logits for the next token, and the new state.
        """

    @abstractmethod
    def reorder_state(self, state: Any, index: Tensor) -> Any:
        """Select (and repeat) batch rows of a decoder state: index (B',) -> state for B' rows."""

    def num_parameters(self) -> int:
        """Number of distinct trainable parameters (tied weights counted once)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device
