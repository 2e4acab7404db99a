"""The encoder-decoder Transformer, written out from tensors and a few `nn` building blocks.

References:
    Vaswani et al., 2017, "Attention Is All You Need" (https://arxiv.org/abs/1706.03762): the
        architecture, post-LN residual blocks, sinusoidal positions, shared embeddings.
    Xiong et al., 2020, "On Layer Normalization in the Transformer Architecture"
        (https://arxiv.org/abs/2002.04745): pre-LN blocks, which train without warm-up.
    Rush et al., "The Annotated Transformer" (https://nlp.seas.harvard.edu/annotated-transformer/):
        the module split followed here, in the file's order, top to bottom:

    TransformerConfig -> attention -> CacheSlot -> MultiHeadAttention (SelfAttention,
      CrossAttention)
      -> FeedForward -> ResidualLayer (its SublayerConnection: pre-LN or post-LN, written once)
      -> EncoderLayer, DecoderLayer -> Encoder, Decoder -> sinusoidal_positions, Embeddings
      -> KeyValueCache, TransformerState, memory_keys_values, Transformer

Shapes: B batch, S source length, T target length, D d_model, H heads, K = D / H per head,
V vocabulary. Masks are boolean and True where attending is allowed (real tokens).
No `nn.Transformer*` or `nn.MultiheadAttention` is used; tests check the result against them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seq2seq.errors import UserError, check, check_choice, check_probability
from seq2seq.models.base import Memory, Seq2SeqModel, gold_coins, predicted_tokens
from seq2seq.models.dropout import Dropout, dropout
from seq2seq.models.linear import Linear
from seq2seq.models.registry import register_model

KeysValues = tuple[Tensor, Tensor]  # attention keys and values, each (B, H, length, K)


@dataclass(frozen=True)
class TransformerConfig:
    """Hyper-parameters of the encoder-decoder Transformer (Vaswani et al., 2017)."""

    arch: str = "transformer"
    d_model: int = 256
    n_heads: int = 4
    n_layers: int = 3  # in the encoder and in the decoder
    d_ff: int = 1024
    dropout: float = 0.1
    activation: str = "relu"  # relu (the paper) or gelu
    norm: str = "post"  # post-LN (the paper) or pre-LN
    positional: str = "sinusoidal"  # sinusoidal (the paper) or learned
    max_len: int = 256  # longest sequence the positional encoding covers
    tie_embeddings: bool = True  # output projection shares the source/target embedding
    attention: str = "fused"  # fused (torch's scaled_dot_product_attention) or manual

    def validate(self) -> None:
        for key in ("d_model", "n_heads", "n_layers", "d_ff", "max_len"):
            check(getattr(self, key) >= 1, f"model.{key}", "must be >= 1")
        check(
            self.d_model % self.n_heads == 0,
            "model.d_model",
            f"{self.d_model} is not divisible by model.n_heads={self.n_heads}",
        )
        check_probability(self.dropout, "model.dropout")
        check_choice(self.activation, ("relu", "gelu"), "model.activation")
        check_choice(self.norm, ("post", "pre"), "model.norm")
        check_choice(self.positional, ("sinusoidal", "learned"), "model.positional")
        check_choice(self.attention, ("fused", "manual"), "model.attention")


def attention(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None, dropout_p: float = 0.0
) -> tuple[Tensor, Tensor]:
    """Scaled dot-product attention, softmax(Q K^T / sqrt(K)) V, written out.

    Args:
        q: (B, H, T, K) queries.
        k, v: (B, H, S, K) keys and values.
        mask: bool, broadcastable to (B, H, T, S), True where query t may attend to key s.
            Every query needs at least one allowed key (else its row is NaN, as in torch).
        dropout_p: dropout on the attention weights (pass 0.0 in eval mode).

    Returns:
        (B, H, T, K) outputs and the (B, H, T, S) weights (before dropout).
    """
    scores = (q @ k.transpose(-2, -1)).mul_(1 / math.sqrt(q.size(-1)))  # (B, H, T, S)
    if mask is not None:  # in place, as the scaling: no second (B, H, T, S) tensor
        scores = scores.masked_fill_(~mask, float("-inf"))
    weights = scores.softmax(dim=-1)
    return dropout(weights, dropout_p) @ v, weights


@dataclass(frozen=True)
class CacheSlot:
    """Where one decoder layer's self-attention keeps keys and values while decoding: buffers
    (B, H, capacity, K) preallocated along the time axis (`KeyValueCache`), and the position
    that the positions computed now start at."""

    keys: Tensor
    values: Tensor
    position: int

    def write(self, k: Tensor, v: Tensor) -> KeysValues:
        """Store the new positions' keys and values (B, H, T, K) in place, without copying the
        earlier ones; return every position's so far, (B, H, position + T, K) views."""
        end = self.position + k.size(2)
        self.keys[:, :, self.position : end] = k
        self.values[:, :, self.position : end] = v
        return self.keys[:, :, :end], self.values[:, :, :end]


class MultiHeadAttention(nn.Module):
    """Attention over H heads of size K = D / H, then the output projection."""

    def __init__(self, d_model: int, n_heads: int, dropout: float, fused: bool) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.dropout = dropout
        self.fused = fused
        self.out_proj = Linear(d_model, d_model)

    def split_heads(self, x: Tensor, n: int) -> tuple[Tensor, ...]:
        """(B, T, n * D) -> n views (B, H, T, K): one per projection packed in x."""
        B, T, _ = x.shape
        return x.view(B, T, n, self.n_heads, -1).permute(2, 0, 3, 1, 4).unbind(0)

    def attend(
        self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, is_causal: bool,
        need_weights: bool,
    ) -> tuple[Tensor, Tensor | None]:
        """Heads (B, H, T, K), keys/values (B, H, S, K) -> (B, T, D) and, if need_weights, the
        (B, H, T, S) weights (else None). `is_causal`: query i sees keys 0..i (T == S).

        The fused kernel runs unless the config asks for the manual path, the weights are
        needed (the kernel does not return them), or attention weights are dropped on a CPU:
        there torch has no fused kernel with dropout and runs the same math as `attention`, with
        its slower dropout (see seq2seq/models/dropout.py).
        """
        dropout_p = self.dropout if self.training else 0.0
        cpu_dropout = dropout_p > 0.0 and q.device.type == "cpu"
        if self.fused and not need_weights and not cpu_dropout:
            y = F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, dropout_p=dropout_p, is_causal=is_causal
            )
            weights = None
        else:
            if is_causal:
                T, S = q.size(-2), k.size(-2)
                mask = torch.ones(T, S, dtype=torch.bool, device=q.device).tril()
            y, weights = attention(q, k, v, mask, dropout_p)
        B, H, T, K = y.shape
        return self.out_proj(y.transpose(1, 2).reshape(B, T, H * K)), weights  # heads side by side


class SelfAttention(MultiHeadAttention):
    """Multi-head self-attention with one fused Q/K/V projection (D -> 3D)."""

    def __init__(self, d_model: int, n_heads: int, dropout: float, fused: bool) -> None:
        super().__init__(d_model, n_heads, dropout, fused)
        self.qkv_proj = Linear(d_model, 3 * d_model)

    def forward(
        self, x: Tensor, mask: Tensor | None = None, is_causal: bool = False,
        cache: CacheSlot | None = None, need_weights: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """x (B, T, D) attends to itself and, with a `cache`, to the t earlier positions kept
        there (where its own keys and values are written too).

        mask: bool, broadcastable to (B, H, T, t + T); is_causal: position i sees positions <= i.
        Returns (B, T, D) and the weights or None.
        """
        q, k, v = self.split_heads(self.qkv_proj(x), 3)
        if cache is not None:
            k, v = cache.write(k, v)
        return self.attend(q, k, v, mask, is_causal, need_weights)


class CrossAttention(MultiHeadAttention):
    """Multi-head encoder-decoder attention: queries from the decoder, fused K/V (D -> 2D)."""

    def __init__(self, d_model: int, n_heads: int, dropout: float, fused: bool) -> None:
        super().__init__(d_model, n_heads, dropout, fused)
        self.q_proj = Linear(d_model, d_model)
        self.kv_proj = Linear(d_model, 2 * d_model)

    def project_memory(self, memory: Tensor) -> KeysValues:
        """Encoder states (B, S, D) -> keys, values (B, H, S, K): once per source."""
        k, v = self.split_heads(self.kv_proj(memory), 2)
        return k, v

    def forward(
        self, x: Tensor, memory_kv: KeysValues, mask: Tensor, need_weights: bool = False
    ) -> tuple[Tensor, Tensor | None]:
        """x (B, T, D) attends to the memory's (keys, values) under mask (B, 1, 1, S) ->
        (B, T, D) and, when need_weights, the (B, H, T, S) weights (else None)."""
        (q,) = self.split_heads(self.q_proj(x), 1)
        return self.attend(q, *memory_kv, mask, False, need_weights)


class FeedForward(nn.Module):
    """Position-wise feed-forward: Linear(D, d_ff) -> ReLU/GELU -> dropout -> Linear(d_ff, D)."""

    def __init__(self, d_model: int, d_ff: int, dropout: float, activation: str) -> None:
        super().__init__()
        self.w1 = Linear(d_model, d_ff)
        self.w2 = Linear(d_ff, d_model)
        self.activation = F.relu if activation == "relu" else F.gelu
        # Not in the paper, but the Annotated Transformer and torch's nn.Transformer drop here too.
        self.dropout = Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        """(B, T, D) -> (B, T, D)."""
        return self.w2(self.dropout(self.activation(self.w1(x))))


class ResidualLayer(nn.Module):
    """A layer of sublayers, each inside a residual connection with dropout and a LayerNorm
    (the Annotated Transformer's SublayerConnection), the two orders written once:

        post-LN (the paper):   x = LayerNorm(x + Dropout(Sublayer(x)))
        pre-LN (Xiong et al.): x = x + Dropout(Sublayer(LayerNorm(x)))

    A sublayer step reads `y = sublayer(self.sublayer_input(x, norm))`, then
    `x = self.residual(x, y, norm)`: the sublayer is called plainly, so its other outputs (a
    key/value cache, attention weights) stay in sight.
    """

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.pre_norm = config.norm == "pre"
        self.dropout = Dropout(config.dropout)

    def sublayer_input(self, x: Tensor, norm: nn.LayerNorm) -> Tensor:
        """What the sublayer reads from x (B, T, D): LayerNorm(x) with pre-LN, else x."""
        return norm(x) if self.pre_norm else x

    def residual(self, x: Tensor, y: Tensor, norm: nn.LayerNorm) -> Tensor:
        """The layer's stream after a sublayer: x (B, T, D) plus the sublayer's output y
        (B, T, D) after dropout, normalised after the sum with post-LN."""
        x = x + self.dropout(y)
        return x if self.pre_norm else norm(x)


class EncoderLayer(ResidualLayer):
    """Self-attention then feed-forward, each with dropout, a residual and a LayerNorm."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__(config)
        c = config
        self.self_attn = SelfAttention(c.d_model, c.n_heads, c.dropout, c.attention == "fused")
        self.ff = FeedForward(c.d_model, c.d_ff, c.dropout, c.activation)
        self.norm1 = nn.LayerNorm(c.d_model)
        self.norm2 = nn.LayerNorm(c.d_model)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """x (B, S, D), mask (B, 1, 1, S) True on real tokens -> (B, S, D)."""
        y, _ = self.self_attn(self.sublayer_input(x, self.norm1), mask)
        x = self.residual(x, y, self.norm1)
        y = self.ff(self.sublayer_input(x, self.norm2))
        return self.residual(x, y, self.norm2)


class DecoderLayer(ResidualLayer):
    """Causal self-attention, attention to the encoder, feed-forward; residuals and LayerNorms."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__(config)
        c = config
        fused = c.attention == "fused"
        self.self_attn = SelfAttention(c.d_model, c.n_heads, c.dropout, fused)
        self.cross_attn = CrossAttention(c.d_model, c.n_heads, c.dropout, fused)
        self.ff = FeedForward(c.d_model, c.d_ff, c.dropout, c.activation)
        self.norm1 = nn.LayerNorm(c.d_model)
        self.norm2 = nn.LayerNorm(c.d_model)
        self.norm3 = nn.LayerNorm(c.d_model)

    def forward(
        self, x: Tensor, memory_kv: KeysValues, memory_mask: Tensor,
        cache: CacheSlot | None = None, need_weights: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """x (B, T, D), memory keys/values (B, H, S, K), memory_mask (B, 1, 1, S) -> (B, T, D).

        Without a `cache`, x (B, T, D) is the whole target prefix and self-attention is causal.
        There is no target padding mask: padding is on the right, so under the causal mask no
        real position ever sees a pad, and the loss ignores the outputs at pad positions.
        With a `cache` (the keys/values of earlier positions), x is the newest position
        (T = 1), which may see all of them, so no mask at all is needed.
        Also returns the (B, H, T, S) cross-attention weights when need_weights, else None.
        """
        y, _ = self.self_attn(self.sublayer_input(x, self.norm1), is_causal=cache is None,
                              cache=cache)
        x = self.residual(x, y, self.norm1)
        y, weights = self.cross_attn(
            self.sublayer_input(x, self.norm2), memory_kv, memory_mask, need_weights
        )
        x = self.residual(x, y, self.norm2)
        y = self.ff(self.sublayer_input(x, self.norm3))
        return self.residual(x, y, self.norm3), weights


class Encoder(nn.Module):
    """A stack of encoder layers (plus a final LayerNorm with pre-LN, whose residual stream is
    otherwise never normalised; post-LN layers already end in one)."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(EncoderLayer(config) for _ in range(config.n_layers))
        self.norm = nn.LayerNorm(config.d_model) if config.norm == "pre" else None

    def forward(self, x: Tensor, src_mask: Tensor) -> Tensor:
        """Embedded source x (B, S, D), src_mask (B, S) True on real tokens -> (B, S, D)."""
        mask = src_mask[:, None, None, :]  # (B, 1, 1, S): broadcast over heads and queries
        for layer in self.layers:
            x = layer(x, mask)
        return x if self.norm is None else self.norm(x)


class Decoder(nn.Module):
    """A stack of decoder layers (plus a final LayerNorm with pre-LN, as in the encoder)."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(DecoderLayer(config) for _ in range(config.n_layers))
        self.norm = nn.LayerNorm(config.d_model) if config.norm == "pre" else None

    def project_memory(self, memory: Tensor) -> list[KeysValues]:
        """Encoder states (B, S, D) -> every layer's cross-attention (keys, values) (B, H, S, K)."""
        return [layer.cross_attn.project_memory(memory) for layer in self.layers]

    def forward(
        self, x: Tensor, memory_kv: list[KeysValues], src_mask: Tensor,
        cache: list[CacheSlot] | None = None, need_attention: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """Embedded target x (B, T, D) -> (B, T, D), given `project_memory`'s keys/values and
        src_mask (B, S). `cache`: every layer's self-attention slot while decoding, else None.

        Returns the states and, with need_attention, the last layer's (B, H, T, S)
        cross-attention weights (else None).
        """
        mask = src_mask[:, None, None, :]  # (B, 1, 1, S)
        slots = [None] * len(self.layers) if cache is None else cache
        weights = None
        for i, layer in enumerate(self.layers):
            last = i == len(self.layers) - 1
            x, weights = layer(x, memory_kv[i], mask, slots[i], need_attention and last)
        return (x if self.norm is None else self.norm(x)), weights


def sinusoidal_positions(max_len: int, d_model: int) -> Tensor:
    """(max_len, D): PE[p, 2i] = sin(p / 10000^(2i/D)), PE[p, 2i+1] = cos(p / 10000^(2i/D))."""
    position = torch.arange(max_len, dtype=torch.float32)[:, None]  # (max_len, 1)
    inv_freq = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
    pe = torch.zeros(max_len, d_model)
    pe[:, 0::2] = torch.sin(position * inv_freq)
    pe[:, 1::2] = torch.cos(position * inv_freq[: d_model // 2])
    return pe


class Embeddings(nn.Module):
    """Token embedding * sqrt(D) plus positional encoding, then dropout (source and target)."""

    def __init__(self, config: TransformerConfig, vocab_size: int) -> None:
        super().__init__()
        self.max_len = config.max_len
        self.scale = math.sqrt(config.d_model)
        self.tokens = nn.Embedding(vocab_size, config.d_model)
        if config.positional == "learned":
            self.positions = nn.Embedding(config.max_len, config.d_model)
        else:  # a fixed function of the position: a buffer, rebuilt rather than checkpointed
            pe = sinusoidal_positions(config.max_len, config.d_model)
            self.register_buffer("pe", pe, persistent=False)
            self.positions = None
        self.dropout = Dropout(config.dropout)

    def forward(self, ids: Tensor, start: int = 0) -> Tensor:
        """ids (B, T) at positions start..start+T-1 -> (B, T, D)."""
        end = start + ids.size(1)
        if end > self.max_len:
            raise UserError(
                f"a sequence of {end} tokens is longer than model.max_len={self.max_len}; "
                "raise model.max_len or shorten the input"
            )
        if self.positions is None:
            pos = self.pe[start:end]
        else:
            pos = self.positions(torch.arange(start, end, device=ids.device))
        return self.dropout(self.tokens(ids) * self.scale + pos)


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

    The cross-attention keys and values are not here: they depend on the source only, and
    `encode` keeps them in the memory (`memory_keys_values`).
    """

    step: int
    self_kv: KeyValueCache
    cross_attention: Tensor | None = None


def memory_keys_values(memory: Memory) -> list[KeysValues]:
    """Every decoder layer's cross-attention (keys, values) (B, H, S, K) kept by `encode` in
    `memory.derived` (k, v of layer 0, then of layer 1, ...)."""
    tensors = iter(memory.derived)
    return list(zip(tensors, tensors, strict=True))


@register_model("transformer", TransformerConfig)
class Transformer(Seq2SeqModel):
    """Encoder-decoder Transformer over one shared vocabulary (see the module docstring)."""

    def __init__(self, config: TransformerConfig, vocab_size: int, pad_id: int) -> None:
        super().__init__(config, vocab_size, pad_id)
        self.embed = Embeddings(config, vocab_size)  # shared by source and target
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        self.generator = Linear(config.d_model, vocab_size, bias=False)
        self.apply(self._init_weights)
        if config.tie_embeddings:  # one matrix: parameters() and num_parameters() count it once
            self.generator.weight = self.embed.tokens.weight

    def _init_weights(self, module: nn.Module) -> None:
        # Xavier for projections (the Annotated Transformer, nn.Transformer); embeddings with
        # std D^-0.5 (fairseq), so that after the sqrt(D) scale tokens have unit variance and the
        # tied output projection starts with small logits; learned positions start small.
        if isinstance(module, nn.Linear):
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=module.embedding_dim**-0.5)

    def forward(
        self, src: Tensor, src_mask: Tensor, tgt_in: Tensor, teacher_forcing: float = 1.0,
        feed: str = "argmax",
    ) -> Tensor:
        """src (B, S), src_mask (B, S), tgt_in (B, T) -> (B, T, V) logits.

        Teacher forcing (teacher_forcing >= 1) decodes the gold tgt_in in one pass; below 1,
        scheduled sampling (`scheduled_inputs`) first replaces some of its tokens by the model's
        own predictions.
        """
        memory = self.encode(src, src_mask)
        memory_kv = memory_keys_values(memory)
        if teacher_forcing < 1.0:
            tgt_in = self.scheduled_inputs(tgt_in, memory, teacher_forcing, feed)
        h, _ = self.decoder(self.embed(tgt_in), memory_kv, memory.mask)
        return self.generator(h)

    def scheduled_inputs(
        self, tgt_in: Tensor, memory: Memory, teacher_forcing: float, feed: str
    ) -> Tensor:
        """Scheduled sampling for Transformers (Mihaylova & Martins, ACL 2019 student workshop,
        https://arxiv.org/abs/1906.07651): decoder inputs (B, T) mixing gold and predicted tokens.

        A first decoder pass over the gold tgt_in (B, T), without gradient, predicts every
        position given the gold prefix (in the model's current mode, dropout included). Each
        position t >= 1 then keeps the gold token with probability `teacher_forcing` (a coin per
        position and sequence, `gold_coins`), else takes the first pass's prediction of it
        (`predicted_tokens`: argmax or a sample). bos is always kept. The caller's second pass
        over these inputs is the one trained. Positions after a sequence's end get predictions
        too; the loss ignores them and causal attention keeps them from earlier positions.
        """
        with torch.no_grad():
            h, _ = self.decoder(self.embed(tgt_in), memory_keys_values(memory), memory.mask)
            predicted = predicted_tokens(self.generator(h), feed)  # (B, T): token t + 1
        gold = gold_coins(tgt_in, teacher_forcing)  # (B, T - 1)
        mixed = torch.where(gold, tgt_in[:, 1:], predicted[:, :-1])  # (B, T - 1)
        return torch.cat([tgt_in[:, :1], mixed], dim=1)

    def encode(self, src: Tensor, src_mask: Tensor) -> Memory:
        """src (B, S), src_mask (B, S) True on real tokens -> Memory((B, S, D), mask), with
        every decoder layer's cross-attention keys and values (B, H, S, K) as its `derived`
        tensors (k, v of layer 0, k, v of layer 1, ...: `memory_keys_values`)."""
        states = self.encoder(self.embed(src), src_mask)
        derived = tuple(t for kv in self.decoder.project_memory(states) for t in kv)
        return Memory(states, src_mask, derived=derived)

    def decode_step(
        self,
        tokens: Tensor,
        memory: Memory,
        state: TransformerState | None,
        need_attention: bool = False,
    ) -> tuple[Tensor, TransformerState]:
        """tokens (B,) -> next-token logits (B, V) and the state with this step cached."""
        memory_kv = memory_keys_values(memory)
        if state is None:
            cache = KeyValueCache.allocate(
                len(memory_kv), memory_kv[0][0], KeyValueCache.INITIAL_CAPACITY
            )
            state = TransformerState(0, cache)
        cache, slots = state.self_kv.slots(state.step)
        x = self.embed(tokens[:, None], start=state.step)  # (B, 1, D)
        h, weights = self.decoder(x, memory_kv, memory.mask, slots, need_attention)
        logits = self.generator(h[:, 0])  # (B, V)
        cross_attention = None if weights is None else weights[:, :, 0]  # (B, H, S)
        return logits, TransformerState(state.step + 1, cache, cross_attention)

    def reorder_state(self, state: TransformerState, index: Tensor) -> TransformerState:
        """Select batch rows `index` (B',) of the self-attention cache (the memory's rows, with
        the cross-attention keys and values, are the caller's: `Memory.index_select`)."""
        attention = state.cross_attention
        return TransformerState(
            state.step,
            state.self_kv.index_select(index),
            None if attention is None else attention.index_select(0, index),
        )
