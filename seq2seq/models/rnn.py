"""The GRU + Luong attention baseline: the PyTorch Chatbot Tutorial's model, done properly.

    src -> embedding -> bidirectional GRU (packed) -> states (B, S, D), directions summed
                                                   -> final hidden, directions summed per layer
    tgt -> embedding -> dropout -> GRU (starts from that hidden) -> h_t
        -> Luong global attention over the states -> h~_t = tanh(W_c [c_t; h_t]) -> logits

One embedding serves the encoder and the decoder (the tutorial's design; source and target share
one tokenizer), and the output projection can share it too (`tie_embeddings`). There is no
"input feeding" (Luong et al. 3.3): the decoder GRU never sees h~_{t-1}, as in the tutorial, so
teacher-forced training runs the GRU over the whole target at once and attends for every step in
one batched matmul; `decode_step` computes the same thing one token at a time. Feeding the
decoder its own predictions while training (teacher forcing below 1) is training's, step by step
through `decode_step` (seq2seq/training/feeding.py); the CPU fast paths are applied from outside
(seq2seq/models/speed.py).

Where this departs from the tutorial, and why:
- The decoder starts from the encoder's final state of the *same layer*, both directions summed.
  The tutorial's `encoder_hidden[:decoder.n_layers]` takes the first n_layers entries of GRU's
  (n_layers * 2, B, D) hidden, which is ordered (layer 0 fwd, layer 0 bwd, layer 1 fwd, ...):
  with two layers, decoder layer 0 starts from the encoder's layer-0 forward state and decoder
  layer 1 from its layer-0 *backward* state; the top encoder layer is never used.
- Attention is masked: padded source positions get no weight (the tutorial attends to padding).

References:
- Luong, Pham & Manning (2015), "Effective Approaches to Attention-based Neural Machine
  Translation", https://arxiv.org/abs/1508.04025 (global attention, the dot/general/concat scores).
- Bahdanau, Cho & Bengio (2015), "Neural Machine Translation by Jointly Learning to Align and
  Translate", https://arxiv.org/abs/1409.0473 (the bidirectional encoder, attention itself).
- Matthew Inkawhich, "Chatbot Tutorial", PyTorch tutorials,
  https://pytorch.org/tutorials/beginner/chatbot_tutorial.html (architecture, hyper-parameters).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seq2seq.errors import check, check_choice, check_probability
from seq2seq.models.base import Memory, Seq2SeqModel
from seq2seq.models.registry import register_model

SCORES = ("dot", "general", "concat")


@dataclass(frozen=True)
class GRUConfig:
    """Hyper-parameters of the GRU + Luong attention baseline (the PyTorch Chatbot Tutorial's)."""

    arch: str = "gru"
    d_model: int = 500  # hidden size, also the embedding size
    n_layers: int = 2  # in the encoder and in the decoder
    dropout: float = 0.1
    attention: str = "dot"  # Luong score: dot, general or concat
    tie_embeddings: bool = False  # output projection shares the embedding

    def validate(self) -> None:
        check(self.d_model >= 1, "model.d_model", "must be >= 1")
        check(self.n_layers >= 1, "model.n_layers", "must be >= 1")
        check_probability(self.dropout, "model.dropout")
        check_choice(self.attention, SCORES, "model.attention")


class LuongAttention(nn.Module):
    """Luong global attention (Luong et al., 2015, section 3.1), masked over source padding.

    For a decoder state h_t and the encoder states h_s (s = 1..S):

        score(h_t, h_s) = h_t^T h_s                        dot
                        = h_t^T W_a h_s                    general
                        = v_a^T tanh(W_a [h_t; h_s])       concat
        a_t(s) = exp(score(h_t, h_s)) / sum_s' exp(score(h_t, h_s'))   over real positions only
        c_t    = sum_s a_t(s) h_s
        h~_t   = tanh(W_c [c_t; h_t])

    As in the paper the score and W_c have no bias (a bias in `general` would add the same
    h_t^T b to every score and cancel in the softmax).
    """

    def __init__(self, d_model: int, score: str) -> None:
        super().__init__()
        check_choice(score, SCORES, "model.attention")
        self.method = score
        if score == "general":
            self.w_a = nn.Linear(d_model, d_model, bias=False)
        elif score == "concat":
            self.w_a = nn.Linear(2 * d_model, d_model, bias=False)
            self.v_a = nn.Linear(d_model, 1, bias=False)
        self.w_c = nn.Linear(2 * d_model, d_model, bias=False)

    def score(self, query: Tensor, keys: Tensor) -> Tensor:
        """Unnormalised scores: query (B, T, D), keys (B, S, D) -> (B, T, S)."""
        if self.method == "dot":
            return query @ keys.transpose(1, 2)
        if self.method == "general":
            return query @ self.w_a(keys).transpose(1, 2)
        # concat: W_a [h_t; h_s] = W_q h_t + W_s h_s, so project each side once and broadcast
        # to every (t, s) pair instead of concatenating B * T * S vectors of size 2D.
        w_q, w_s = self.w_a.weight.split(query.size(-1), dim=1)
        hidden = torch.tanh((query @ w_q.T).unsqueeze(2) + (keys @ w_s.T).unsqueeze(1))  # (B,T,S,D)
        return self.v_a(hidden).squeeze(-1)

    def forward(self, query: Tensor, keys: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """Attend from every decoder state to the encoder states.

        Args:
            query: (B, T, D) decoder GRU outputs h_t.
            keys: (B, S, D) encoder states h_s.
            mask: (B, S) bool, True on real source tokens.

        Returns:
            h~ (B, T, D), the attentional states, and the weights a (B, T, S): each row sums to
            1 over real tokens and is exactly 0 on padding.
        """
        real = mask.unsqueeze(1)  # (B, 1, S)
        # The dtype's most negative value instead of -inf: it gives the same weights (exp
        # underflows to exactly 0) but a source with no real token gives finite numbers, and
        # then a zero context, instead of NaN (softmax over all -inf is 0/0).
        scores = self.score(query, keys)  # (B, T, S)
        scores = scores.masked_fill(~real, torch.finfo(scores.dtype).min)
        weights = scores.softmax(dim=-1).masked_fill(~real, 0.0)
        context = weights.to(keys.dtype) @ keys  # (B, T, D)
        attentional = torch.tanh(self.w_c(torch.cat([context, query], dim=-1)))
        return attentional, weights


class Encoder(nn.Module):
    """A bidirectional multi-layer GRU over packed sequences, directions summed."""

    def __init__(self, config: GRUConfig) -> None:
        super().__init__()
        self.n_layers = config.n_layers
        self.gru = nn.GRU(
            config.d_model,
            config.d_model,
            config.n_layers,
            batch_first=True,
            dropout=config.dropout if config.n_layers > 1 else 0.0,  # between layers only
            bidirectional=True,
        )

    def forward(self, embedded: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """Encode embedded sources.

        Args:
            embedded: (B, S, D) source embeddings, right-padded.
            mask: (B, S) bool, True on real tokens.

        Returns:
            states (B, S, D), zero on padding, and the final hidden state of each layer
            (n_layers, B, D), both summed over the two directions.
        """
        batch, length, d_model = embedded.shape
        # Packing makes the backward direction start at each sequence's last real token and the
        # final states belong to that token, not to padding. pack_padded_sequence wants the
        # lengths on the CPU and at least 1; an empty source reads one (masked) pad.
        lengths = mask.sum(dim=1).clamp(min=1).cpu()
        packed = pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False)
        outputs, hidden = self.gru(packed)
        outputs, _ = pad_packed_sequence(outputs, batch_first=True, total_length=length)
        states = outputs[..., :d_model] + outputs[..., d_model:]  # (B, S, D)
        # hidden is (n_layers * 2, B, D) ordered layer 0 fwd, layer 0 bwd, layer 1 fwd, ...:
        # sum the two directions of each layer (the tutorial's hidden[:n_layers] does not).
        hidden = hidden.view(self.n_layers, 2, batch, d_model).sum(dim=1)  # (n_layers, B, D)
        return states, hidden


class Decoder(nn.Module):
    """A unidirectional GRU, Luong attention over the encoder states, the output projection.

    The projection lives here, as in the tutorial, so that `train.decoder_lr_multiplier` (which
    applies to every `decoder.*` parameter) covers it as the tutorial's decoder optimizer does.
    """

    def __init__(self, config: GRUConfig, vocab_size: int) -> None:
        super().__init__()
        self.dropout = nn.Dropout(config.dropout)  # on the embeddings, as the tutorial
        self.gru = nn.GRU(
            config.d_model,
            config.d_model,
            config.n_layers,
            batch_first=True,
            dropout=config.dropout if config.n_layers > 1 else 0.0,
        )
        self.attention = LuongAttention(config.d_model, config.attention)
        self.out = nn.Linear(config.d_model, vocab_size)

    def forward(
        self, embedded: Tensor, hidden: Tensor, memory: Memory
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Run the decoder over T target positions (T = 1 when decoding step by step).

        Args:
            embedded: (B, T, D) embeddings of the previous tokens.
            hidden: (n_layers, B, D) the GRU state before the first of them.
            memory: the encoder's output for these B sequences.

        Returns:
            logits (B, T, V) computed from the attentional states h~, the GRU state after the
            last position (n_layers, B, D) and the attention weights (B, T, S).
        """
        outputs, hidden = self.gru(self.dropout(embedded), hidden)  # (B, T, D)
        attentional, weights = self.attention(outputs, memory.states, memory.mask)
        return self.out(attentional), hidden, weights


@dataclass(frozen=True)
class GRUMemory(Memory):
    """`Memory` with the decoder's first hidden state, batch-first (B, n_layers, D) so that
    beam search selects its rows as the states'."""

    init: Tensor

    def index_select(self, index: Tensor) -> GRUMemory:
        """Memory for batch rows `index` (B',): used to expand a batch to B * beam."""
        return GRUMemory(self.states.index_select(0, index), self.mask.index_select(0, index),
                         self.init.index_select(0, index))


@dataclass(frozen=True)
class GRUState:
    """The decoder's state between steps.

    Attributes:
        hidden: (n_layers, B, D) the decoder GRU's hidden state, layer-first as `nn.GRU` takes it.
        cross_attention: (B, 1, S) the last step's attention weights (one "head"), or None.
    """

    hidden: Tensor
    cross_attention: Tensor | None = None


@register_model("gru", GRUConfig)
class GRUSeq2Seq(Seq2SeqModel):
    """Bidirectional GRU encoder, GRU decoder with Luong attention, one shared embedding."""

    def __init__(self, config: GRUConfig, vocab_size: int, pad_id: int) -> None:
        super().__init__(config, vocab_size, pad_id)
        self.embedding = nn.Embedding(vocab_size, config.d_model, padding_idx=pad_id)
        self.encoder = Encoder(config)
        self.decoder = Decoder(config, vocab_size)
        if config.tie_embeddings:
            self.decoder.out.weight = self.embedding.weight

    def forward(self, src: Tensor, src_mask: Tensor, tgt_in: Tensor) -> Tensor:
        """Teacher-forced logits (B, T, V) for src (B, S), src_mask (B, S) and tgt_in (B, T)
        (bos first): the decoder GRU runs over the whole target at once."""
        memory = self.encode(src, src_mask)
        logits, _, _ = self.decode(tgt_in, memory, self.initial_hidden(memory))
        return logits

    def encode(self, src: Tensor, src_mask: Tensor) -> GRUMemory:
        """Encode sources (B, S) -> GRUMemory(states (B, S, D), mask, init (B, n_layers, D))."""
        states, hidden = self.encoder(self.embedding(src), src_mask)
        return GRUMemory(states, src_mask, hidden.transpose(0, 1))

    def initial_hidden(self, memory: GRUMemory) -> Tensor:
        """The decoder GRU's first hidden state (n_layers, B, D): layer l of the encoder, both
        directions summed, starts layer l of the decoder."""
        return memory.init.transpose(0, 1).contiguous()

    def decode(
        self, tokens: Tensor, memory: GRUMemory, hidden: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Logits for T positions: tokens (B, T), hidden (n_layers, B, D) -> logits (B, T, V),
        the new hidden (n_layers, B, D) and attention weights (B, T, S)."""
        return self.decoder(self.embedding(tokens), hidden, memory)

    def decode_step(
        self, tokens: Tensor, memory: GRUMemory, state: GRUState | None,
        need_attention: bool = False,
    ) -> tuple[Tensor, GRUState]:
        """One step: tokens (B,) -> logits (B, V) and the new `GRUState`."""
        hidden = self.initial_hidden(memory) if state is None else state.hidden
        logits, hidden, weights = self.decode(tokens.unsqueeze(1), memory, hidden)
        return logits[:, 0], GRUState(hidden, weights if need_attention else None)

    def reorder_state(self, state: GRUState, index: Tensor) -> GRUState:
        """Select batch rows `index` (B',) of a state (the hidden is layer-first: dim 1)."""
        attention = state.cross_attention
        return GRUState(
            state.hidden.index_select(1, index),
            None if attention is None else attention.index_select(0, index),
        )
