"""The encoder-decoder Transformer, written out from tensors and a few `nn` building blocks.

References:
    Vaswani et al., 2017, "Attention Is All You Need" (https://arxiv.org/abs/1706.03762): the
        architecture, post-LN residual blocks, sinusoidal positions, shared embeddings.
    Xiong et al., 2020, "On Layer Normalization in the Transformer Architecture"
        (https://arxiv.org/abs/2002.04745): pre-LN blocks, which train without warm-up.
    Rush et al., "The Annotated Transformer" (https://nlp.seas.harvard.edu/annotated-transformer/):
        the module split followed here, in the file's order, top to bottom:

    TransformerConfig -> attention -> MultiHeadAttention (SelfAttention, CrossAttention)
      -> FeedForward -> EncoderLayer, DecoderLayer (post-LN or pre-LN residuals, written out)
      -> Encoder, Decoder -> sinusoidal_positions, Embeddings -> Transformer

What decoding keeps between steps (the key/value cache, the cross-attention keys and values)
is in seq2seq/models/decoder_state.py; the CPU fast paths are applied to a built model from
outside (seq2seq/models/speed.py); scheduled sampling is training's
(seq2seq/training/feeding.py).

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
from seq2seq.models.base import Seq2SeqModel
from seq2seq.models.decoder_state import (
    CacheSlot,
    KeysValues,
    TransformerMemory,
    TransformerState,
)
from seq2seq.models.registry import register_model


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
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None, dropout: nn.Module | None = None
) -> tuple[Tensor, Tensor]:
    """Scaled dot-product attention, softmax(Q K^T / sqrt(K)) V, written out.

    Args:
        q: (B, H, T, K) queries.
        k, v: (B, H, S, K) keys and values.
        mask: bool, broadcastable to (B, H, T, S), True where query t may attend to key s.
            Every query needs at least one allowed key (else its row is NaN, as in torch).
        dropout: applied to the attention weights (the Annotated Transformer's), if given.

    Returns:
        (B, H, T, K) outputs and the (B, H, T, S) weights (before dropout).
    """
    scores = (q @ k.transpose(-2, -1)).mul_(1 / math.sqrt(q.size(-1)))  # (B, H, T, S)
    if mask is not None:  # in place, as the scaling: no second (B, H, T, S) tensor
        scores = scores.masked_fill_(~mask, float("-inf"))
    weights = scores.softmax(dim=-1)
    return (weights if dropout is None else dropout(weights)) @ v, weights


class MultiHeadAttention(nn.Module):
    """Attention over H heads of size K = D / H, then the output projection."""

    def __init__(self, d_model: int, n_heads: int, dropout: float, fused: bool) -> None:
        super().__init__()
        self.d_model, self.n_heads, self.fused = d_model, n_heads, fused
        self.out_proj = nn.Linear(d_model, d_model)
        self.attn_dropout = nn.Dropout(dropout)  # on the attention weights

    def heads(self, x: Tensor) -> Tensor:
        """(B, T, D) -> (B, H, T, K): the heads side by side in D, split apart."""
        B, T, D = x.shape
        return x.view(B, T, self.n_heads, D // self.n_heads).transpose(1, 2)

    def attend(
        self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, is_causal: bool,
        need_weights: bool,
    ) -> tuple[Tensor, Tensor | None]:
        """Heads (B, H, T, K), keys/values (B, H, S, K) -> (B, T, D) and, if need_weights, the
        (B, H, T, S) weights (else None). `is_causal`: query i sees keys 0..i (T == S).

        torch's fused kernel (`F.scaled_dot_product_attention`) computes `attention` unless the
        config asks for the written-out path or the weights are needed (it does not return
        them). On a CPU, torch has no fused kernel with dropout and would run the same math
        with its own dropout, so there the written-out path and `attn_dropout` run instead.
        """
        p = self.attn_dropout.p if self.training else 0.0
        if self.fused and not need_weights and not (p > 0.0 and q.device.type == "cpu"):
            y = F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, dropout_p=p, is_causal=is_causal
            )
            weights = None
        else:
            if is_causal:
                T, S = q.size(-2), k.size(-2)
                mask = torch.ones(T, S, dtype=torch.bool, device=q.device).tril()
            y, weights = attention(q, k, v, mask, self.attn_dropout)
        B, H, T, K = y.shape
        return self.out_proj(y.transpose(1, 2).reshape(B, T, H * K)), weights  # (B, T, D)


class SelfAttention(MultiHeadAttention):
    """Multi-head self-attention with one fused Q/K/V projection (D -> 3D)."""

    def __init__(self, d_model: int, n_heads: int, dropout: float, fused: bool) -> None:
        super().__init__(d_model, n_heads, dropout, fused)
        self.qkv_proj = nn.Linear(d_model, 3 * d_model)

    def forward(
        self, x: Tensor, mask: Tensor | None = None, is_causal: bool = False,
        cache: CacheSlot | None = None,
    ) -> Tensor:
        """x (B, T, D) attends to itself -> (B, T, D); with a `cache`, also to the t earlier
        positions kept there (where its own keys and values are written too).

        mask: bool, broadcastable to (B, H, T, t + T); is_causal: position i sees positions <= i.
        """
        q, k, v = self.qkv_proj(x).split(self.d_model, dim=2)  # (B, T, D) each
        q, k, v = self.heads(q), self.heads(k), self.heads(v)  # (B, H, T, K)
        if cache is not None:
            k, v = cache.write(k, v)
        y, _ = self.attend(q, k, v, mask, is_causal, need_weights=False)
        return y


class CrossAttention(MultiHeadAttention):
    """Multi-head encoder-decoder attention: queries from the decoder, fused K/V (D -> 2D)."""

    def __init__(self, d_model: int, n_heads: int, dropout: float, fused: bool) -> None:
        super().__init__(d_model, n_heads, dropout, fused)
        self.q_proj = nn.Linear(d_model, d_model)
        self.kv_proj = nn.Linear(d_model, 2 * d_model)

    def project_memory(self, memory: Tensor) -> KeysValues:
        """Encoder states (B, S, D) -> keys, values (B, H, S, K): once per source."""
        k, v = self.kv_proj(memory).split(self.d_model, dim=2)  # (B, S, D) each
        return KeysValues(self.heads(k), self.heads(v))

    def forward(
        self, x: Tensor, memory: KeysValues, mask: Tensor, need_weights: bool = False
    ) -> tuple[Tensor, Tensor | None]:
        """x (B, T, D) attends to the memory's keys and values under mask (B, 1, 1, S) ->
        (B, T, D) and, when need_weights, the (B, H, T, S) weights (else None)."""
        q = self.heads(self.q_proj(x))  # (B, H, T, K)
        return self.attend(q, memory.keys, memory.values, mask, False, need_weights)


class FeedForward(nn.Module):
    """Position-wise feed-forward: Linear(D, d_ff) -> ReLU/GELU -> dropout -> Linear(d_ff, D)."""

    def __init__(self, d_model: int, d_ff: int, dropout: float, activation: str) -> None:
        super().__init__()
        self.w1 = nn.Linear(d_model, d_ff)
        self.w2 = nn.Linear(d_ff, d_model)
        self.activation = F.relu if activation == "relu" else F.gelu
        # Not in the paper, but the Annotated Transformer and torch's nn.Transformer drop here too.
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        """(B, T, D) -> (B, T, D)."""
        return self.w2(self.dropout(self.activation(self.w1(x))))


class EncoderLayer(nn.Module):
    """Self-attention then feed-forward, each with dropout, a residual and a LayerNorm:

        post-LN (the paper):   x = LayerNorm(x + Dropout(Sublayer(x)))
        pre-LN (Xiong et al.): x = x + Dropout(Sublayer(LayerNorm(x)))
    """

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        c = config
        self.pre_norm = c.norm == "pre"
        self.self_attn = SelfAttention(c.d_model, c.n_heads, c.dropout, c.attention == "fused")
        self.ff = FeedForward(c.d_model, c.d_ff, c.dropout, c.activation)
        self.norm1 = nn.LayerNorm(c.d_model)
        self.norm2 = nn.LayerNorm(c.d_model)
        self.dropout = nn.Dropout(c.dropout)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """x (B, S, D), mask (B, 1, 1, S) True on real tokens -> (B, S, D)."""
        if self.pre_norm:
            x = x + self.dropout(self.self_attn(self.norm1(x), mask))
            return x + self.dropout(self.ff(self.norm2(x)))
        x = self.norm1(x + self.dropout(self.self_attn(x, mask)))
        return self.norm2(x + self.dropout(self.ff(x)))


class DecoderLayer(nn.Module):
    """Causal self-attention, attention to the encoder, feed-forward; each with dropout, a
    residual and a LayerNorm, post-LN or pre-LN as in `EncoderLayer`."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        c = config
        fused = c.attention == "fused"
        self.pre_norm = c.norm == "pre"
        self.self_attn = SelfAttention(c.d_model, c.n_heads, c.dropout, fused)
        self.cross_attn = CrossAttention(c.d_model, c.n_heads, c.dropout, fused)
        self.ff = FeedForward(c.d_model, c.d_ff, c.dropout, c.activation)
        self.norm1 = nn.LayerNorm(c.d_model)
        self.norm2 = nn.LayerNorm(c.d_model)
        self.norm3 = nn.LayerNorm(c.d_model)
        self.dropout = nn.Dropout(c.dropout)

    def forward(
        self, x: Tensor, memory: KeysValues, memory_mask: Tensor,
        cache: CacheSlot | None = None, need_weights: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """x (B, T, D), the memory's keys/values (B, H, S, K), memory_mask (B, 1, 1, S) ->
        (B, T, D), and the (B, H, T, S) cross-attention weights when need_weights, else None.

        Without a `cache`, x (B, T, D) is the whole target prefix and self-attention is causal.
        There is no target padding mask: padding is on the right, so under the causal mask no
        real position ever sees a pad, and the loss ignores the outputs at pad positions.
        With a `cache` (the keys/values of earlier positions), x is the newest position
        (T = 1), which may see all of them, so no mask at all is needed.
        """
        causal = cache is None
        if self.pre_norm:
            x = x + self.dropout(self.self_attn(self.norm1(x), is_causal=causal, cache=cache))
            y, weights = self.cross_attn(self.norm2(x), memory, memory_mask, need_weights)
            x = x + self.dropout(y)
            return x + self.dropout(self.ff(self.norm3(x))), weights
        x = self.norm1(x + self.dropout(self.self_attn(x, is_causal=causal, cache=cache)))
        y, weights = self.cross_attn(x, memory, memory_mask, need_weights)
        x = self.norm2(x + self.dropout(y))
        return self.norm3(x + self.dropout(self.ff(x))), weights


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

    def project_memory(self, memory: Tensor) -> tuple[KeysValues, ...]:
        """Encoder states (B, S, D) -> every layer's cross-attention keys, values (B, H, S, K)."""
        return tuple(layer.cross_attn.project_memory(memory) for layer in self.layers)

    def forward(
        self, x: Tensor, memory: tuple[KeysValues, ...], src_mask: Tensor,
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
            x, weights = layer(x, memory[i], mask, slots[i], need_attention and last)
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
        self.dropout = nn.Dropout(config.dropout)

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


@register_model("transformer", TransformerConfig)
class Transformer(Seq2SeqModel):
    """Encoder-decoder Transformer over one shared vocabulary (see the module docstring)."""

    def __init__(self, config: TransformerConfig, vocab_size: int, pad_id: int) -> None:
        super().__init__(config, vocab_size, pad_id)
        self.embed = Embeddings(config, vocab_size)  # shared by source and target
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        self.generator = nn.Linear(config.d_model, vocab_size, bias=False)
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

    def forward(self, src: Tensor, src_mask: Tensor, tgt_in: Tensor) -> Tensor:
        """src (B, S), src_mask (B, S), tgt_in (B, T) -> (B, T, V) logits, teacher-forced."""
        return self.decode(tgt_in, self.encode(src, src_mask))

    def encode(self, src: Tensor, src_mask: Tensor) -> TransformerMemory:
        """src (B, S), src_mask (B, S) True on real tokens -> the encoder states (B, S, D), the
        mask, and every decoder layer's cross-attention keys and values (B, H, S, K)."""
        states = self.encoder(self.embed(src), src_mask)
        return TransformerMemory(states, src_mask, self.decoder.project_memory(states))

    def decode(self, tgt_in: Tensor, memory: TransformerMemory) -> Tensor:
        """tgt_in (B, T) -> (B, T, V) logits for every position at once, each reading the
        tokens before it (causal self-attention)."""
        h, _ = self.decoder(self.embed(tgt_in), memory.cross, memory.mask)
        return self.generator(h)

    def decode_step(
        self,
        tokens: Tensor,
        memory: TransformerMemory,
        state: TransformerState | None,
        need_attention: bool = False,
    ) -> tuple[Tensor, TransformerState]:
        """tokens (B,) -> next-token logits (B, V) and the state with this step cached."""
        state = TransformerState.start(memory) if state is None else state
        cache, slots = state.self_kv.slots(state.step)
        x = self.embed(tokens[:, None], start=state.step)  # (B, 1, D)
        h, weights = self.decoder(x, memory.cross, memory.mask, slots, need_attention)
        cross_attention = None if weights is None else weights[:, :, 0]  # (B, H, S)
        return self.generator(h[:, 0]), TransformerState(state.step + 1, cache, cross_attention)

    def reorder_state(self, state: TransformerState, index: Tensor) -> TransformerState:
        """Select batch rows `index` (B',) of the state (`TransformerState.index_select`)."""
        return state.index_select(index)
