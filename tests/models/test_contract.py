"""The contract of seq2seq/models/base.py, checked for every registered architecture.

Training, decoding, chat and comparison rely only on this interface, so each architecture must
give the documented shapes, ignore source padding, be causal, decode step by step exactly as it
trains, reorder its state for beam search, count tied weights once and be able to learn, with
and without its CPU fast paths (`speed_up`). A new architecture registered in seq2seq/models is
picked up here automatically, with small sizes.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from seq2seq.decoding import Decoding, greedy
from seq2seq.models import ARCHITECTURES, Memory, Seq2SeqModel, build_model
from seq2seq.models.speed import speed_up


class FakeTokenizer:
    """The special ids and vocabulary size a model is built from, without sentencepiece."""

    pad_id, unk_id, bos_id, eos_id, sep_id = 0, 1, 2, 3, 4
    vocab_size = 24


TOKENIZER = FakeTokenizer()
FIRST_WORD = 5  # ids below are special

# Small sizes for every architecture; each config class takes the fields it has.
SMALL = {"d_model": 16, "n_heads": 2, "n_layers": 2, "d_ff": 32, "max_len": 64, "dropout": 0.1}
# Variants worth covering where a model is cheap: the GRU's three Luong scores.
VARIANTS = {"gru": [{"attention": score} for score in ("dot", "general", "concat")]}
CASES = [
    pytest.param((arch, variant), id="-".join([arch, *map(str, variant.values())]))
    for arch in sorted(ARCHITECTURES)
    for variant in VARIANTS.get(arch, [{}])
]


def small_config(arch: str, variant: dict, **overrides):
    config_class = ARCHITECTURES[arch].config_class
    fields = {field.name for field in dataclasses.fields(config_class)}
    values = {key: value for key, value in SMALL.items() if key in fields}
    config = config_class(**{**values, **variant, **overrides})
    config.validate()
    return config


def make_model(arch: str, variant: dict, **overrides) -> Seq2SeqModel:
    """A small seeded model in eval mode, built through the registry."""
    torch.manual_seed(0)
    return build_model(small_config(arch, variant, **overrides), TOKENIZER).eval()


@pytest.fixture(params=CASES)
def plain_model(request) -> Seq2SeqModel:
    return make_model(*request.param)


@pytest.fixture(params=[False, True], ids=["plain", "sped_up"])
def model(request, plain_model) -> Seq2SeqModel:
    return speed_up(plain_model, "cpu") if request.param else plain_model


def padded(rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad token lists: (B, S) ids and the (B, S) bool mask of real tokens."""
    width = max(len(row) for row in rows)
    ids = torch.full((len(rows), width), TOKENIZER.pad_id)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
    return ids, ids != TOKENIZER.pad_id


def random_rows(lengths: list[int], seed: int) -> list[list[int]]:
    generator = torch.Generator().manual_seed(seed)
    high = TOKENIZER.vocab_size
    return [torch.randint(FIRST_WORD, high, (n,), generator=generator).tolist() for n in lengths]


def make_batch(src_lengths=(6, 3, 5, 1), tgt_lengths=(4, 5, 2, 3)):
    """A source batch with padding, and teacher-forced target inputs (bos first, padded)."""
    src, src_mask = padded(random_rows(list(src_lengths), seed=1))
    targets = random_rows(list(tgt_lengths), seed=2)
    tgt_in, _ = padded([[TOKENIZER.bos_id, *row] for row in targets])
    return src, src_mask, tgt_in


def step_logits(model: Seq2SeqModel, memory: Memory, tgt_in: torch.Tensor) -> torch.Tensor:
    """Logits (B, T, V) from a decode_step loop over the gold prefix tgt_in (B, T)."""
    state, steps = None, []
    for t in range(tgt_in.size(1)):
        logits, state = model.decode_step(tgt_in[:, t], memory, state)
        steps.append(logits)
    return torch.stack(steps, dim=1)


def test_every_architecture_is_covered():
    assert "gru" in ARCHITECTURES
    assert {case.values[0][0] for case in CASES} == set(ARCHITECTURES)


@torch.no_grad()
def test_output_shapes(model):
    src, src_mask, tgt_in = make_batch()
    (batch, width), length, vocab = src.shape, tgt_in.size(1), TOKENIZER.vocab_size
    assert model(src, src_mask, tgt_in).shape == (batch, length, vocab)

    memory = model.encode(src, src_mask)
    assert memory.states.shape == (batch, width, model.config.d_model)
    assert torch.equal(memory.mask, src_mask)
    for field in dataclasses.fields(memory):  # every field batch-first, as index_select takes
        value = getattr(memory, field.name)
        for tensor in value if isinstance(value, tuple) else [value]:
            tensors = dataclasses.astuple(tensor) if dataclasses.is_dataclass(tensor) else [tensor]
            assert all(t.size(0) == batch for t in tensors)

    tokens = torch.full((batch,), TOKENIZER.bos_id)
    logits, state = model.decode_step(tokens, memory, None)
    assert logits.shape == (batch, vocab)
    assert state.cross_attention is None
    logits, state = model.decode_step(tokens, memory, state, need_attention=True)
    assert logits.shape == (batch, vocab)
    weights = state.cross_attention  # (B, H, S): each head a distribution over real tokens
    assert weights.dim() == 3 and weights.shape[0] == batch and weights.shape[2] == width
    assert torch.all(weights.masked_select(~src_mask[:, None, :]) == 0.0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:2]))


@torch.no_grad()
def test_source_padding_never_changes_outputs(model):
    src, src_mask, tgt_in = make_batch()
    reference = model(src, src_mask, tgt_in)
    memory = model.encode(src, src_mask)
    first_step, _ = model.decode_step(tgt_in[:, 0], memory, None)

    # other tokens behind the mask, and two more columns of padding
    generator = torch.Generator().manual_seed(3)
    noise = torch.randint(FIRST_WORD, TOKENIZER.vocab_size, src.shape, generator=generator)
    changed = torch.where(src_mask, src, noise)
    changed = F.pad(changed, (0, 2), value=TOKENIZER.pad_id)
    changed_mask = F.pad(src_mask, (0, 2), value=False)
    torch.testing.assert_close(model(changed, changed_mask, tgt_in), reference, rtol=0, atol=1e-5)
    memory = model.encode(changed, changed_mask)
    logits, _ = model.decode_step(tgt_in[:, 0], memory, None)
    torch.testing.assert_close(logits, first_step, rtol=0, atol=1e-5)


@torch.no_grad()
def test_a_later_target_token_never_changes_earlier_logits(model):
    src, src_mask, tgt_in = make_batch()
    reference = model(src, src_mask, tgt_in)
    k = 2
    changed = tgt_in.clone()
    changed[:, k:] = (tgt_in[:, k:] + 1 - FIRST_WORD) % (TOKENIZER.vocab_size - FIRST_WORD)
    changed[:, k:] += FIRST_WORD
    logits = model(src, src_mask, changed)
    torch.testing.assert_close(logits[:, :k], reference[:, :k], rtol=0, atol=1e-6)
    assert not torch.allclose(logits[:, k], reference[:, k], atol=1e-4)  # the test can fail


@torch.no_grad()
def test_decode_step_over_a_gold_prefix_equals_teacher_forced_forward(model):
    src, src_mask, tgt_in = make_batch()
    forward = model(src, src_mask, tgt_in)
    stepped = step_logits(model, model.encode(src, src_mask), tgt_in)
    torch.testing.assert_close(stepped, forward, rtol=0, atol=1e-5)


@torch.no_grad()
@pytest.mark.parametrize("index", [[2, 0, 3, 1], [1, 1, 3, 3, 0]], ids=["permute", "repeat"])
def test_reorder_state_equals_decoding_the_reordered_batch(model, index):
    src, src_mask, tgt_in = make_batch()
    index = torch.tensor(index)
    prefix, last = tgt_in[:, :-1], tgt_in[:, -1]
    memory = model.encode(src, src_mask)
    state = None
    for t in range(prefix.size(1)):
        _, state = model.decode_step(prefix[:, t], memory, state, need_attention=True)
    state = model.reorder_state(state, index)
    logits, state = model.decode_step(last[index], memory.index_select(index), state, True)

    memory = model.encode(src[index], src_mask[index])
    expected_state = None
    for t in range(tgt_in.size(1)):
        expected, expected_state = model.decode_step(
            tgt_in[index, t], memory, expected_state, need_attention=True
        )
    torch.testing.assert_close(logits, expected, rtol=0, atol=1e-5)
    torch.testing.assert_close(
        state.cross_attention, expected_state.cross_attention, rtol=0, atol=1e-5
    )


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_num_parameters_counts_tied_weights_once(arch):
    model = make_model(arch, {})
    every_use = model.named_parameters(remove_duplicate=False)  # a tied weight appears twice
    distinct = {id(p): p.numel() for _, p in every_use}
    assert model.num_parameters() == sum(distinct.values())
    fields = {field.name for field in dataclasses.fields(ARCHITECTURES[arch].config_class)}
    if "tie_embeddings" not in fields:
        return
    tied = make_model(arch, {}, tie_embeddings=True)
    untied = make_model(arch, {}, tie_embeddings=False)
    # tying removes exactly one (V, D) matrix: the output projection's
    output_matrix = TOKENIZER.vocab_size * tied.config.d_model
    assert untied.num_parameters() - tied.num_parameters() == output_matrix


def eight_pairs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, list]:
    """Eight random (source, target) pairs with distinct sources: src, src_mask, tgt_in (bos
    first), tgt_out (eos last), padded, and the targets as lists."""
    sources = random_rows([3, 4, 5, 6, 3, 4, 5, 6], seed=11)
    targets = random_rows([2, 5, 3, 4, 6, 2, 4, 3], seed=12)
    assert len({tuple(row) for row in sources}) == len(sources)
    src, src_mask = padded(sources)
    tgt_in, _ = padded([[TOKENIZER.bos_id, *row] for row in targets])
    tgt_out, _ = padded([[*row, TOKENIZER.eos_id] for row in targets])
    return src, src_mask, tgt_in, tgt_out, targets


@pytest.mark.parametrize("case", CASES)
def test_overfits_eight_pairs_until_greedy_decoding_reproduces_them(case):
    """The whole interface working together: a model that can learn, trained with forward,
    reproduces its training targets through encode/decode_step in greedy search."""
    arch, variant = case
    model = make_model(arch, variant, d_model=32, dropout=0.0).train()
    src, src_mask, tgt_in, tgt_out, targets = eight_pairs()
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    decoded = None
    for step in range(1, 401):
        logits = model(src, src_mask, tgt_in)
        loss = F.cross_entropy(logits.transpose(1, 2), tgt_out, ignore_index=TOKENIZER.pad_id)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 25 == 0:
            result = greedy(model, src, src_mask, Decoding.plain_greedy(10, TOKENIZER))
            decoded = result.tokens
            if decoded == targets:
                break
    assert decoded == targets, f"after {step} steps (loss {loss.item():.3f})"
