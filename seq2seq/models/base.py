"""The interface every seq2seq architecture implements, so training, decoding, chat and
comparison never look inside a model.

    logits = model(src, src_mask, tgt_in)                 # the paper's model: teacher-forced
    memory = model.encode(src, src_mask)                  # once per source
    logits, state = model.decode_step(tokens, memory, state)   # one target step, state=None first
    state = model.reorder_state(state, index)             # beam search reorders hypotheses

State goes in and out explicitly (fairseq's `incremental_state`), never hidden on the module.
Masks are boolean and True on real tokens; padding is on the right. Feeding a model its own
predictions while training (scheduled sampling) is training's: seq2seq/training/feeding.py.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class Memory:
    """What the encoder hands the decoder; an architecture may add batch-first fields that its
    decoder reads at every step (and then its own `index_select`).

    Attributes:
        states: (B, S, D) encoder outputs.
        mask: (B, S) bool, True on real source tokens.
    """

    states: Tensor
    mask: Tensor

    def index_select(self, index: Tensor) -> Memory:
        """Memory for batch rows `index` (B',): used to expand a batch to B * beam."""
        return Memory(self.states.index_select(0, index), self.mask.index_select(0, index))


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
    def forward(self, src: Tensor, src_mask: Tensor, tgt_in: Tensor) -> Tensor:
        """Teacher-forced logits: every position reads the gold tokens before it.

        Args:
            src: (B, S) source token ids, right-padded.
            src_mask: (B, S) bool, True on real tokens.
            tgt_in: (B, T) target ids shifted right (bos first), right-padded.

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
