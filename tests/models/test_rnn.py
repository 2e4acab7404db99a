"""The GRU + Luong attention baseline: attention, encoder, decoder initialisation, teacher forcing.

The interface every architecture shares (shapes, padding, causality, reordering, overfitting) is
tested in test_contract.py; these tests cover what is specific to the GRU.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from seq2seq.errors import ConfigError
from seq2seq.models import ARCHITECTURES, build_model
from seq2seq.models.rnn import GRUConfig, GRUSeq2Seq, LuongAttention

PAD = 0
VOCAB = 40
D_MODEL = 16
SCORES = ("dot", "general", "concat")


def make_model(attention: str = "dot", n_layers: int = 2, **overrides) -> GRUSeq2Seq:
    """A small GRU in eval mode with seeded weights."""
    torch.manual_seed(0)
    config = GRUConfig(d_model=D_MODEL, n_layers=n_layers, attention=attention, **overrides)
    return GRUSeq2Seq(config, vocab_size=VOCAB, pad_id=PAD).eval()


def make_src(lengths: list[int], width: int | None = None, seed: int = 1):
    """Random right-padded sources: (B, S) ids with PAD on padding, (B, S) bool mask."""
    generator = torch.Generator().manual_seed(seed)
    width = width or max(lengths)
    mask = torch.arange(width)[None, :] < torch.tensor(lengths)[:, None]
    src = torch.randint(5, VOCAB, (len(lengths), width), generator=generator)
    return src.masked_fill(~mask, PAD), mask


def make_tgt(batch: int, length: int, seed: int = 2) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(5, VOCAB, (batch, length), generator=generator)


def test_registered_and_built_through_the_registry():
    assert ARCHITECTURES["gru"].model_class is GRUSeq2Seq
    assert ARCHITECTURES["gru"].config_class is GRUConfig

    class Tokenizer:
        vocab_size, pad_id = VOCAB, 3

    model = build_model(GRUConfig(d_model=8, n_layers=1), Tokenizer())
    assert isinstance(model, GRUSeq2Seq)
    assert model.vocab_size == VOCAB and model.pad_id == 3
    assert model.embedding.padding_idx == 3


def test_config_rejects_an_unknown_attention_score():
    with pytest.raises(ConfigError, match="model.attention"):
        GRUConfig(attention="bahdanau").validate()
    with pytest.raises(ConfigError, match="model.attention"):
        GRUSeq2Seq(GRUConfig(attention="bahdanau"), vocab_size=VOCAB, pad_id=PAD)


@pytest.mark.parametrize("score", SCORES)
def test_attention_scores_follow_luong_formulas(score):
    torch.manual_seed(0)
    attention = LuongAttention(D_MODEL, score)
    query, keys = torch.randn(2, 3, D_MODEL), torch.randn(2, 5, D_MODEL)
    scores = attention.score(query, keys)
    assert scores.shape == (2, 3, 5)
    for b, t, s in [(0, 0, 0), (1, 2, 4), (0, 1, 3)]:
        h_t, h_s = query[b, t], keys[b, s]
        if score == "dot":
            expected = h_t @ h_s
        elif score == "general":
            expected = h_t @ attention.w_a.weight @ h_s
        else:
            w_a, v_a = attention.w_a.weight, attention.v_a.weight[0]
            expected = v_a @ torch.tanh(w_a @ torch.cat([h_t, h_s]))
        torch.testing.assert_close(scores[b, t, s], expected)


@pytest.mark.parametrize("score", SCORES)
def test_attention_weights_sum_to_one_over_real_tokens_and_are_zero_on_padding(score):
    torch.manual_seed(0)
    attention = LuongAttention(D_MODEL, score)
    _, mask = make_src([5, 2, 4])
    query, keys = torch.randn(3, 4, D_MODEL), torch.randn(3, 5, D_MODEL)
    attentional, weights = attention(query, keys, mask)
    assert attentional.shape == (3, 4, D_MODEL) and weights.shape == (3, 4, 5)
    padding = ~mask[:, None, :].expand_as(weights)
    assert torch.all(weights[padding] == 0.0)
    assert torch.all(weights[~padding] > 0.0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 4))
    # what the padded keys hold cannot matter
    keys[~mask] = 1e4
    attentional_again, _ = attention(query, keys, mask)
    torch.testing.assert_close(attentional_again, attentional, rtol=0, atol=0)


@pytest.mark.parametrize("score", SCORES)
def test_decode_step_reports_masked_attention(score):
    model = make_model(score)
    src, src_mask = make_src([6, 3, 1])
    _, state = model.decode_step(torch.full((3,), 2), model.encode(src, src_mask), None, True)
    weights = state.cross_attention
    assert weights.shape == (3, 1, 6)
    assert torch.all(weights[~src_mask[:, None, :]] == 0.0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 1))


def test_a_source_without_real_tokens_gives_finite_logits_and_no_attention():
    model = make_model("general")
    src, src_mask = make_src([4, 0])
    memory = model.encode(src, src_mask)
    logits, state = model.decode_step(torch.full((2,), 2), memory, None, need_attention=True)
    assert torch.isfinite(logits).all() and torch.isfinite(memory.init).all()
    assert torch.all(state.cross_attention[1] == 0.0)


def reference_encoder(gru: nn.GRU, embedded: torch.Tensor):
    """Run a bidirectional multi-layer GRU one layer at a time on one unpadded sequence.

    Args:
        gru: the model's encoder GRU, whose layer-l weights are copied into a one-layer GRU.
        embedded: (1, L, D) the embedded sequence.

    Returns:
        top-layer outputs (1, L, 2D), and the final (forward, backward) states of every layer.
    """
    inputs, finals, d_model = embedded, [], gru.hidden_size
    for layer in range(gru.num_layers):
        single = nn.GRU(inputs.size(-1), d_model, batch_first=True, bidirectional=True)
        single.load_state_dict({
            f"{name}_l0{suffix}": getattr(gru, f"{name}_l{layer}{suffix}")
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
            for suffix in ("", "_reverse")
        })
        inputs, _ = single(inputs)  # (1, L, 2D)
        # the forward direction ends at the last token, the backward one at the first
        finals.append((inputs[0, -1, :d_model], inputs[0, 0, d_model:]))
    return inputs, finals


def test_decoder_starts_from_each_encoder_layer_with_both_directions_summed():
    """Layer l of the decoder starts from layer l of the encoder, forward + backward final
    states. The tutorial's `encoder_hidden[:n_layers]` would give layer 0's forward state to
    decoder layer 0 and layer 0's *backward* state to decoder layer 1."""
    n_layers = 3
    model = make_model(n_layers=n_layers)
    lengths = [6, 3, 5]
    src, src_mask = make_src(lengths)
    memory = model.encode(src, src_mask)
    assert memory.init.shape == (3, n_layers, D_MODEL)  # batch-first
    with torch.no_grad():
        for i, length in enumerate(lengths):
            embedded = model.embedding(src[i : i + 1, :length])
            top, finals = reference_encoder(model.encoder.gru, embedded)
            expected = torch.stack([forward + backward for forward, backward in finals])
            torch.testing.assert_close(memory.init[i], expected)
            tutorial = torch.stack([state for pair in finals for state in pair][:n_layers])
            assert not torch.allclose(memory.init[i], tutorial, atol=1e-3)
            # the states are the top layer's outputs with the directions summed, 0 on padding
            torch.testing.assert_close(
                memory.states[i, :length], top[0, :, :D_MODEL] + top[0, :, D_MODEL:]
            )
            assert torch.all(memory.states[i, length:] == 0.0)


def test_packed_encoder_ignores_padding():
    model = make_model(n_layers=2)
    lengths = [7, 2, 4]
    src, src_mask = make_src(lengths, width=9)
    src = src.masked_fill(~src_mask, 11)  # garbage, not pad ids, behind the mask
    batched = model.encode(src, src_mask)
    for i, length in enumerate(lengths):
        alone = model.encode(src[i : i + 1, :length], src_mask[i : i + 1, :length])
        torch.testing.assert_close(batched.states[i, :length], alone.states[0])
        torch.testing.assert_close(batched.init[i], alone.init[0])


def test_tied_output_projection_is_the_embedding():
    tied, untied = make_model(tie_embeddings=True), make_model(tie_embeddings=False)
    assert tied.decoder.out.weight is tied.embedding.weight
    assert untied.decoder.out.weight is not untied.embedding.weight
    assert untied.num_parameters() - tied.num_parameters() == VOCAB * D_MODEL
