"""The handwritten Transformer: shapes, both attention paths, masks, the key/value cache, and
exact agreement with torch's own nn.Transformer (which the package itself never uses)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from seq2seq.errors import UserError
from seq2seq.models import get_architecture
from seq2seq.models.decoder_state import KeyValueCache
from seq2seq.models.transformer import Transformer, TransformerConfig, attention

VOCAB, PAD, BOS = 37, 0, 2
TINY = TransformerConfig(d_model=16, n_heads=4, n_layers=2, d_ff=32, max_len=32)


def make_model(seed: int = 0, **changes) -> Transformer:
    torch.manual_seed(seed)
    return Transformer(dataclasses.replace(TINY, **changes), vocab_size=VOCAB, pad_id=PAD).eval()


def make_batch(lengths=(5, 3, 1), max_len: int = 6):
    """Right-padded sources with the given real lengths: src (B, S), src_mask (B, S)."""
    g = torch.Generator().manual_seed(1)
    src_mask = torch.arange(max_len)[None, :] < torch.tensor(lengths)[:, None]
    src = torch.randint(3, VOCAB, (len(lengths), max_len), generator=g).masked_fill(~src_mask, PAD)
    return src, src_mask


def test_registered_under_its_name():
    architecture = get_architecture("transformer")
    assert architecture.model_class is Transformer
    assert architecture.config_class is TransformerConfig


def test_shapes():
    model = make_model()
    src, src_mask = make_batch()
    tgt_in = torch.randint(3, VOCAB, (3, 4))
    assert model(src, src_mask, tgt_in).shape == (3, 4, VOCAB)
    memory = model.encode(src, src_mask)
    assert memory.states.shape == (3, 6, 16) and memory.mask is src_mask
    logits, state = model.decode_step(torch.full((3,), BOS), memory, None)
    assert logits.shape == (3, VOCAB)
    assert state.step == 1 and state.cross_attention is None
    assert len(state.self_kv.keys) == len(memory.cross) == 2
    assert state.self_kv.keys[0].shape[:2] == (3, 4) and state.self_kv.length == 1  # (B, H, ., K)
    # the cross-attention keys and values are the memory's, projected once by encode
    assert [kv.keys.shape for kv in memory.cross] == [(3, 4, 6, 4)] * 2  # (B, H, S, K)
    assert [kv.values.shape for kv in memory.cross] == [(3, 4, 6, 4)] * 2
    expected = model.decoder.layers[1].cross_attn.project_memory(memory.states)
    assert torch.equal(memory.cross[1].keys, expected.keys)
    assert torch.equal(memory.cross[1].values, expected.values)


def test_attention_function_matches_torch():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, n, 8, generator=g) for n in (4, 5, 5))
    mask = torch.rand(2, 1, 4, 5, generator=g) > 0.3
    mask[..., 0] = True  # every query sees at least one key
    out, weights = attention(q, k, v, mask)
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=1e-5)
    assert weights.shape == (2, 3, 4, 5)
    assert torch.all(weights.masked_select(~mask.expand_as(weights)) == 0)


@pytest.mark.parametrize("norm", ["post", "pre"])
def test_fused_equals_manual(norm):
    fused = make_model(norm=norm, attention="fused")
    manual = make_model(norm=norm, attention="manual")
    manual.load_state_dict(fused.state_dict())
    src, src_mask = make_batch()
    tgt_in = torch.randint(3, VOCAB, (3, 5))
    torch.testing.assert_close(
        manual(src, src_mask, tgt_in), fused(src, src_mask, tgt_in), atol=1e-5, rtol=1e-5
    )


def test_cross_attention_weights_cover_real_source_tokens_only():
    model = make_model(attention="fused")  # weights requested: the manual path runs anyway
    src, src_mask = make_batch()
    memory = model.encode(src, src_mask)
    tokens = torch.full((3,), BOS)
    plain, _ = model.decode_step(tokens, memory, None)
    logits, state = model.decode_step(tokens, memory, None, need_attention=True)
    torch.testing.assert_close(logits, plain, atol=1e-5, rtol=1e-5)
    weights = state.cross_attention  # (B, H, S)
    assert weights.shape == (3, 4, 6)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 4))
    assert torch.all(weights.masked_select(~src_mask[:, None, :].expand_as(weights)) == 0)
    assert torch.all(weights.masked_select(src_mask[:, None, :].expand_as(weights)) > 0)


@pytest.mark.parametrize("path", ["fused", "manual"])
def test_decoder_self_attention_is_causal(path):
    model = make_model(attention=path)
    x = torch.randn(2, 5, 16)
    changed = x.clone()
    changed[:, 3:] = torch.randn(2, 2, 16)
    with torch.no_grad():
        y, y_changed = (model.decoder.layers[0].self_attn(v, is_causal=True) for v in (x, changed))
    torch.testing.assert_close(y[:, :3], y_changed[:, :3], rtol=0, atol=1e-6)
    assert not torch.allclose(y[:, 3], y_changed[:, 3], atol=1e-4)  # the test can fail


def reference_transformer(config: TransformerConfig) -> nn.Transformer:
    """nn.Transformer of the same shape, every parameter random (so a mis-mapped bias or
    LayerNorm shows). For post-LN its final encoder/decoder LayerNorms are removed: torch always
    adds them, but the paper's post-LN layers already end in a LayerNorm and have none (and
    neither does our model); pre-LN keeps them, as our model does with norm="pre"."""
    torch.manual_seed(1)
    ref = nn.Transformer(
        d_model=config.d_model,
        nhead=config.n_heads,
        num_encoder_layers=config.n_layers,
        num_decoder_layers=config.n_layers,
        dim_feedforward=config.d_ff,
        dropout=config.dropout,
        activation=config.activation,
        batch_first=True,
        norm_first=config.norm == "pre",
    )
    with torch.no_grad():
        for p in ref.parameters():
            p.normal_(0.0, 0.3)
    if config.norm == "post":
        ref.encoder.norm = None
        ref.decoder.norm = None
    return ref.eval()


def copy_reference_weights(ref: nn.Transformer, model: Transformer) -> None:
    """Load nn.Transformer's weights into ours: its in_proj (3D, D) packs Q, K, V in the same
    order as our fused qkv_proj (and as our q_proj + kv_proj in cross-attention)."""
    D = model.config.d_model
    pairs = []

    def linear(ours: nn.Linear, weight: torch.Tensor, bias: torch.Tensor) -> None:
        pairs.extend([(ours.weight, weight), (ours.bias, bias)])

    def common(ours, theirs, norms: tuple[str, ...]) -> None:
        attn = theirs.self_attn
        linear(ours.self_attn.qkv_proj, attn.in_proj_weight, attn.in_proj_bias)
        linear(ours.self_attn.out_proj, attn.out_proj.weight, attn.out_proj.bias)
        linear(ours.ff.w1, theirs.linear1.weight, theirs.linear1.bias)
        linear(ours.ff.w2, theirs.linear2.weight, theirs.linear2.bias)
        for name in norms:
            norm, their_norm = getattr(ours, name), getattr(theirs, name)
            linear(norm, their_norm.weight, their_norm.bias)

    for ours, theirs in zip(model.encoder.layers, ref.encoder.layers, strict=True):
        common(ours, theirs, ("norm1", "norm2"))
    for ours, theirs in zip(model.decoder.layers, ref.decoder.layers, strict=True):
        common(ours, theirs, ("norm1", "norm2", "norm3"))
        cross = theirs.multihead_attn
        linear(ours.cross_attn.q_proj, cross.in_proj_weight[:D], cross.in_proj_bias[:D])
        linear(ours.cross_attn.kv_proj, cross.in_proj_weight[D:], cross.in_proj_bias[D:])
        linear(ours.cross_attn.out_proj, cross.out_proj.weight, cross.out_proj.bias)
    for ours, theirs in ((model.encoder, ref.encoder), (model.decoder, ref.decoder)):
        assert (ours.norm is None) == (theirs.norm is None)
        if ours.norm is not None:
            linear(ours.norm, theirs.norm.weight, theirs.norm.bias)

    stacks = [*model.encoder.parameters(), *model.decoder.parameters()]
    assert len(pairs) == len(stacks), "the mapping must cover every encoder/decoder parameter"
    with torch.no_grad():
        for ours, theirs in pairs:
            ours.copy_(theirs)


@pytest.mark.filterwarnings("ignore::UserWarning")  # torch's notes on its nested-tensor fast path
@pytest.mark.parametrize("attention_path", ["fused", "manual"])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("norm", ["post", "pre"])
def test_matches_torch_nn_transformer(norm, activation, attention_path):
    """Below the embeddings, our encoder and decoder stacks compute exactly what torch's do
    (eval mode), with a source padding mask and the causal target mask. Encoder outputs are
    compared on real tokens only: torch's fast path may zero those at padding."""
    model = make_model(norm=norm, activation=activation, attention=attention_path)
    ref = reference_transformer(model.config)
    copy_reference_weights(ref, model)
    torch.manual_seed(2)
    src_mask = torch.arange(7)[None, :] < torch.tensor([7, 4, 2])[:, None]
    x_src, x_tgt = torch.randn(3, 7, 16), torch.randn(3, 5, 16)

    with torch.no_grad():
        causal = nn.Transformer.generate_square_subsequent_mask(5)
        padding = ~src_mask
        expected = ref(
            x_src,
            x_tgt,
            tgt_mask=causal,
            tgt_is_causal=True,
            src_key_padding_mask=padding,
            memory_key_padding_mask=padding,
        )
        expected_memory = ref.encoder(x_src, src_key_padding_mask=padding)
        memory = model.encoder(x_src, src_mask)
        out, _ = model.decoder(x_tgt, model.decoder.project_memory(memory), src_mask)

    torch.testing.assert_close(memory[src_mask], expected_memory[src_mask], atol=1e-5, rtol=0)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)


def greedy_uncached(model, src, src_mask, prefix, steps):
    """Recompute the whole prefix with forward() at every step: logits (steps, B, V), tokens."""
    all_logits = []
    for _ in range(steps):
        logits = model(src, src_mask, prefix)[:, -1]
        all_logits.append(logits)
        prefix = torch.cat([prefix, logits.argmax(-1, keepdim=True)], dim=1)
    return torch.stack(all_logits), prefix


def greedy_cached(model, tokens, memory, state, steps):
    """decode_step with the key/value cache: logits (steps, B, V), tokens (B, steps), state."""
    all_logits, chosen = [], []
    for _ in range(steps):
        logits, state = model.decode_step(tokens, memory, state)
        tokens = logits.argmax(-1)
        all_logits.append(logits)
        chosen.append(tokens)
    return torch.stack(all_logits), torch.stack(chosen, dim=1), state


@pytest.mark.parametrize(
    "changes",
    [{"norm": "post"}, {"norm": "pre"}, {"positional": "learned", "attention": "manual"}],
)
def test_cached_decoding_equals_recomputation(changes):
    model = make_model(**changes)
    src, src_mask = make_batch()
    bos = torch.full((3, 1), BOS)
    with torch.no_grad():
        expected_logits, expected_prefix = greedy_uncached(model, src, src_mask, bos, 6)
        memory = model.encode(src, src_mask)
        logits, tokens, _ = greedy_cached(model, bos[:, 0], memory, None, 6)
    torch.testing.assert_close(logits, expected_logits, atol=1e-5, rtol=1e-5)
    assert torch.equal(tokens, expected_prefix[:, 1:])


def test_cache_is_written_in_place_and_grows_past_its_capacity():
    """Each step writes one position into the same buffers; when they are full the cache moves
    to buffers of twice the size, and decoding still equals recomputation."""
    model = make_model()
    src, src_mask = make_batch()
    steps = KeyValueCache.INITIAL_CAPACITY + 4
    bos = torch.full((3, 1), BOS)
    with torch.no_grad():
        expected_logits, expected_prefix = greedy_uncached(model, src, src_mask, bos, steps)
        memory = model.encode(src, src_mask)
        _, first = model.decode_step(bos[:, 0], memory, None)
        _, second = model.decode_step(bos[:, 0], memory, first)
        assert second.self_kv is first.self_kv  # no copy of the past
        assert second.self_kv.keys[0].data_ptr() == first.self_kv.keys[0].data_ptr()
        logits, tokens, state = greedy_cached(model, bos[:, 0], memory, None, steps)
    assert state.self_kv.capacity == 2 * KeyValueCache.INITIAL_CAPACITY
    torch.testing.assert_close(logits, expected_logits, atol=1e-5, rtol=1e-5)
    assert torch.equal(tokens, expected_prefix[:, 1:])


@pytest.mark.parametrize("grad", [False, True], ids=["no_grad", "grad"])
def test_reordering_copies_the_written_positions_of_the_rows_into_the_same_capacity(grad):
    """Beam search's `reorder_state` copies what was written (in one operation), not the
    room after it; with autograd on, the same result through an out-of-place copy."""
    torch.manual_seed(0)
    like = torch.empty(3, 2, 1, 4)  # (B, H, S, K)
    cache = KeyValueCache.allocate(2, like, capacity=8)
    cache.buffer.fill_(float("nan"))  # the room after the written positions
    cache.buffer[..., :5, :] = torch.randn(2, 2, 3, 2, 5, 4)
    cache.length = 5
    if grad:
        cache.buffer.requires_grad_()
    index = torch.tensor([2, 0, 0, 1])
    with torch.set_grad_enabled(grad):
        chosen = cache.index_select(index)
    assert chosen.buffer.shape == (2, 2, 4, 2, 8, 4) and chosen.length == 5
    assert torch.equal(chosen.buffer[..., :5, :], cache.buffer[:, :, index, :, :5])
    assert chosen.buffer.requires_grad is grad


def test_two_steps_from_one_state_do_not_disturb_each_other():
    """States are values: stepping twice from the same state (two branches) must not let the
    second step overwrite what the first branch cached."""
    model = make_model()
    src, src_mask = make_batch()
    bos = torch.full((3,), BOS)
    a, b, c = torch.full((3,), 5), torch.full((3,), 6), torch.full((3,), 7)
    with torch.no_grad():
        memory = model.encode(src, src_mask)
        _, start = model.decode_step(bos, memory, None)
        _, branch_a = model.decode_step(a, memory, start)
        _, branch_b = model.decode_step(b, memory, start)  # writes position 1 again
        logits_a, _ = model.decode_step(c, memory, branch_a)
        logits_b, _ = model.decode_step(c, memory, branch_b)
        expected_a = model(src, src_mask, torch.stack([bos, a, c], dim=1))[:, -1]
        expected_b = model(src, src_mask, torch.stack([bos, b, c], dim=1))[:, -1]
    torch.testing.assert_close(logits_a, expected_a, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(logits_b, expected_b, atol=1e-5, rtol=1e-5)


def test_cached_decoding_after_reorder_state():
    """Beam search reorders (and repeats) hypotheses; the cache must follow its rows."""
    model = make_model()
    src, src_mask = make_batch()
    bos = torch.full((3,), BOS)
    index = torch.tensor([2, 0, 0, 1])
    with torch.no_grad():
        memory = model.encode(src, src_mask)
        _, first, state = greedy_cached(model, bos, memory, None, 3)
        state = model.reorder_state(state, index)
        assert state.self_kv.values[1].shape[0] == 4
        assert memory.index_select(index).cross[1].values.shape[0] == 4  # the memory's rows
        logits, second, _ = greedy_cached(
            model, first[index, -1], memory.index_select(index), state, 3
        )
        prefix = torch.cat([bos[:, None], first], dim=1)[index]
        expected_logits, expected_prefix = greedy_uncached(
            model, src[index], src_mask[index], prefix, 3
        )
    torch.testing.assert_close(logits, expected_logits, atol=1e-5, rtol=1e-5)
    assert torch.equal(second, expected_prefix[:, 4:])


def test_reorder_state_selects_cross_attention():
    model = make_model()
    src, src_mask = make_batch()
    memory = model.encode(src, src_mask)
    _, state = model.decode_step(torch.full((3,), BOS), memory, None, need_attention=True)
    reordered = model.reorder_state(state, torch.tensor([1, 1]))
    assert torch.equal(reordered.cross_attention, state.cross_attention[[1, 1]])


def test_tied_embeddings_share_one_parameter():
    tied, untied = make_model(tie_embeddings=True), make_model(tie_embeddings=False)
    assert tied.generator.weight is tied.embed.tokens.weight
    assert untied.generator.weight is not untied.embed.tokens.weight
    assert untied.num_parameters() - tied.num_parameters() == VOCAB * 16


def test_num_parameters_formula():
    """D=16, d_ff=32, 2+2 layers, post-LN, tied: embedding + layers, nothing else."""
    D, F_, V = 16, 32, VOCAB
    attn = 4 * D * D + 4 * D  # fused QKV (or Q + KV) and the output projection, with biases
    ff = 2 * D * F_ + F_ + D
    encoder_layer = attn + ff + 2 * 2 * D
    decoder_layer = 2 * attn + ff + 3 * 2 * D
    assert make_model().num_parameters() == V * D + 2 * encoder_layer + 2 * decoder_layer
    assert make_model(norm="pre").num_parameters() == make_model().num_parameters() + 2 * 2 * D


def test_learned_positions_are_trained():
    model = make_model(positional="learned").train()
    src, src_mask = make_batch()
    model(src, src_mask, torch.randint(3, VOCAB, (3, 4))).sum().backward()
    grad = model.embed.positions.weight.grad
    assert grad is not None and grad[:6].abs().sum() > 0 and torch.all(grad[6:] == 0)
    assert "embed.pe" not in make_model().state_dict()  # sinusoids are rebuilt, not stored


def test_dropout_is_active_in_training_only():
    model = make_model(dropout=0.5)
    src, src_mask = make_batch()
    tgt_in = torch.randint(3, VOCAB, (3, 4))
    assert torch.equal(model(src, src_mask, tgt_in), model(src, src_mask, tgt_in))
    model.train()
    assert not torch.equal(model(src, src_mask, tgt_in), model(src, src_mask, tgt_in))


# Scheduled sampling (Mihaylova & Martins, 2019) --------------------------------------------

def test_sequence_longer_than_max_len_is_a_user_error():
    model = make_model(max_len=4)
    src, src_mask = make_batch()  # S = 6
    with pytest.raises(UserError, match="model.max_len=4"):
        model.encode(src, src_mask)
