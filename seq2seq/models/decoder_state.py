"""What the Transformer's decoder keeps between the steps of decoding, apart from the model.

    TransformerMemory   encode's output: the encoder states, and every decoder layer's
                        cross-attention keys and values (they depend on the source only)
    KeyValueCache       every layer's self-attention keys and values of the tokens decoded so
                        far, in one preallocated buffer; `CacheSlot`: one layer's place in it
    TransformerState    what `decode_step` takes and returns: the step and the cache

Without a cache, step t would recompute the keys and values of tokens 0..t-1 in every layer;
with it, a step computes one position (Vaswani et al. decode this way; x-transformers' tests
check that cached decoding equals full recomputation, as tests/models/test_transformer.py does).

Shapes: B batch, S source length, H heads, K per-head size.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from seq2seq.models.base import Memory


@dataclass(frozen=True)
class KeysValues:
    """One attention's keys and values, each (B, H, length, K)."""

    keys: Tensor
    values: Tensor

    def index_select(self, index: Tensor) -> KeysValues:
        return KeysValues(self.keys.index_select(0, index), self.values.index_select(0, index))


@dataclass(frozen=True)
class TransformerMemory(Memory):
    """`Memory` with every decoder layer's cross-attention keys and values (B, H, S, K),
    projected once per source by `encode`. Kept with the source's rows rather than in the
    decoder state, beam search (which reorders hypotheses within their source) never copies
    them."""

    cross: tuple[KeysValues, ...] = ()

    def index_select(self, index: Tensor) -> TransformerMemory:
        """Memory for batch rows `index` (B',): used to expand a batch to B * beam."""
        return TransformerMemory(
            self.states.index_select(0, index), self.mask.index_select(0, index),
            tuple(kv.index_select(index) for kv in self.cross),
        )


@dataclass(frozen=True)
class CacheSlot:
    """Where one decoder layer's self-attention keeps keys and values while decoding: buffers
    (B, H, capacity, K) preallocated along the time axis (`KeyValueCache`), and the position
    that the positions computed now start at."""

    keys: Tensor
    values: Tensor
    position: int

    def write(self, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Store the new positions' keys and values (B, H, T, K) in place, without copying the
        earlier ones; return every position's so far, (B, H, position + T, K) views."""
        end = self.position + k.size(2)
        self.keys[:, :, self.position : end] = k
        self.values[:, :, self.position : end] = v
        return self.keys[:, :, :end], self.values[:, :, :end]


class KeyValueCache:
    """The decoder's self-attention keys and values while decoding, in one buffer
    (layers, 2, B, H, capacity, K): per layer its keys, then its values, preallocated along the
    time axis and written in place, so that a step computes and stores one position instead of
    copying all earlier ones (`torch.cat`).

    `length` counts the positions written. A state at step t reads positions < t only, so
    writes for later steps never change what it sees. Two steps from the same state (a branch)
    would both write position t: `slots` then copies the buffer first, as it does when it is
    full (doubling the capacity), so states behave as values. One buffer makes each such copy,
    and beam search's reordering (`index_select`), one operation over the positions written.
    """

    INITIAL_CAPACITY = 16  # positions; doubled when full

    def __init__(self, buffer: Tensor, length: int) -> None:
        self.buffer, self.length = buffer, length

    @classmethod
    def allocate(cls, layers: int, like: Tensor, capacity: int) -> KeyValueCache:
        """An empty cache for `layers` layers and `like`'s (B, H, S, K) rows, heads and head
        size, with `capacity` positions, on its device and dtype."""
        B, H, _, K = like.shape
        return cls(like.new_empty(layers, 2, B, H, capacity, K), 0)

    @property
    def capacity(self) -> int:
        return self.buffer.size(4)

    @property
    def keys(self) -> list[Tensor]:
        """Every layer's keys (B, H, capacity, K), views of the buffer."""
        return [self.buffer[layer, 0] for layer in range(self.buffer.size(0))]

    @property
    def values(self) -> list[Tensor]:
        """Every layer's values (B, H, capacity, K), views of the buffer."""
        return [self.buffer[layer, 1] for layer in range(self.buffer.size(0))]

    def slots(self, step: int) -> tuple[KeyValueCache, list[CacheSlot]]:
        """Every layer's slot for writing position `step`: in this cache when it is the next
        free position, else (a branch, or full) in a copy of positions < step with room."""
        cache = self
        if self.length != step or step == self.capacity:
            layers, _, B, H, capacity, K = self.buffer.shape
            capacity = max(capacity, 2 * step)
            cache = KeyValueCache(self.buffer.new_empty(layers, 2, B, H, capacity, K), 0)
            cache.buffer[..., :step, :] = self.buffer[..., :step, :]
        cache.length = step + 1
        slots = [CacheSlot(k, v, step) for k, v in zip(cache.keys, cache.values, strict=True)]
        return cache, slots

    def index_select(self, index: Tensor) -> KeyValueCache:
        """Rows `index` (B',) of the positions written, copied into a buffer of the same
        capacity (the room after them is not copied)."""
        layers, _, _, H, capacity, K = self.buffer.shape
        buffer = self.buffer.new_empty(layers, 2, index.size(0), H, capacity, K)
        written, into = self.buffer[..., : self.length, :], buffer[..., : self.length, :]
        if written.requires_grad and torch.is_grad_enabled():  # autograd refuses out=
            into.copy_(written.index_select(2, index))
        else:
            torch.index_select(written, 2, index, out=into)
        return KeyValueCache(buffer, self.length)


@dataclass(frozen=True)
class TransformerState:
    """Decoder state between `decode_step` calls.

    Attributes:
        step: position of the next token fed (= number of tokens decoded so far).
        self_kv: every layer's self-attention keys and values of positions < step.
        cross_attention: (B, H, S) last layer's cross-attention weights at the last step when
            `need_attention`, else None.
    """

    step: int
    self_kv: KeyValueCache
    cross_attention: Tensor | None = None

    @classmethod
    def start(cls, memory: TransformerMemory) -> TransformerState:
        """The state before the first token: an empty cache shaped like the memory's keys."""
        like = memory.cross[0].keys
        return cls(0, KeyValueCache.allocate(len(memory.cross), like,
                                             KeyValueCache.INITIAL_CAPACITY))

    def index_select(self, index: Tensor) -> TransformerState:
        """Select batch rows `index` (B',) of the self-attention cache (the memory's rows, with
        the cross-attention keys and values, are the caller's: `TransformerMemory.index_select`)."""
        attention = self.cross_attention
        return TransformerState(
            self.step, self.self_kv.index_select(index),
            None if attention is None else attention.index_select(0, index),
        )
