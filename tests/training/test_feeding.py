"""Training-time feeding (seq2seq/training/feeding.py): teacher forcing, and scheduled sampling
step by step (the GRU) or in two decoder passes (the Transformer)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from seq2seq.models.rnn import GRUConfig, GRUSeq2Seq
from seq2seq.models.transformer import Transformer, TransformerConfig
from seq2seq.training.feeding import Feeding, step_by_step

PAD, BOS, VOCAB = 0, 2, 37
SCORES = ("dot", "general", "concat")
# The stub predicts token PREDICTED[t] at position t: distinct, and never a gold token.
PREDICTED = list(range(VOCAB - 1, VOCAB - 9, -1))


def make_gru(attention: str = "dot", n_layers: int = 2, **overrides) -> GRUSeq2Seq:
    torch.manual_seed(0)
    config = GRUConfig(d_model=16, n_layers=n_layers, attention=attention, **overrides)
    return GRUSeq2Seq(config, vocab_size=VOCAB, pad_id=PAD).eval()


def make_transformer(**overrides) -> Transformer:
    torch.manual_seed(0)
    config = TransformerConfig(d_model=16, n_heads=4, n_layers=2, d_ff=32, max_len=32,
                               **overrides)
    return Transformer(config, vocab_size=VOCAB, pad_id=PAD).eval()


def make_src(lengths: list[int], seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Random right-padded sources: (B, S) ids with PAD on padding, (B, S) bool mask."""
    generator = torch.Generator().manual_seed(seed)
    mask = torch.arange(max(lengths))[None, :] < torch.tensor(lengths)[:, None]
    src = torch.randint(5, VOCAB, (len(lengths), max(lengths)), generator=generator)
    return src.masked_fill(~mask, PAD), mask


def make_tgt(batch: int, length: int, seed: int = 2) -> torch.Tensor:
    """(B, T) target inputs, bos first, never a PREDICTED token."""
    generator = torch.Generator().manual_seed(seed)
    tgt_in = torch.randint(5, VOCAB - 8, (batch, length), generator=generator)
    tgt_in[:, 0] = BOS
    return tgt_in


def fed_by_hand(model, src, src_mask, tgt_in, gold: torch.Tensor) -> torch.Tensor:
    """Logits (B, T, V) from decode_step, fed the gold token where `gold` (B, T - 1) is True,
    else the argmax of the previous step's logits."""
    memory = model.encode(src, src_mask)
    tokens, state, steps = tgt_in[:, 0], None, []
    for t in range(tgt_in.size(1)):
        logits, state = model.decode_step(tokens, memory, state)
        steps.append(logits)
        if t + 1 < tgt_in.size(1):
            tokens = torch.where(gold[:, t], tgt_in[:, t + 1], logits.argmax(-1))
    return torch.stack(steps, dim=1)


@pytest.mark.parametrize("make", [make_gru, make_transformer], ids=["gru", "transformer"])
def test_ratio_one_is_the_models_forward_bit_for_bit_and_draws_no_coins(make):
    model = make(dropout=0.3).train()
    src, src_mask = make_src([5, 3, 1])
    tgt_in = make_tgt(3, 8)
    torch.manual_seed(5)
    fed = Feeding(model, "sample")(src, src_mask, tgt_in, teacher_forcing=1.0)
    after = torch.get_rng_state()
    torch.manual_seed(5)
    assert torch.equal(fed, model(src, src_mask, tgt_in))
    assert torch.equal(after, torch.get_rng_state())


def test_parameters_are_the_models_in_its_order():
    model = make_gru()
    assert list(Feeding(model).parameters()) == list(model.parameters())


# --- the GRU: step by step ------------------------------------------------------------------


@pytest.mark.parametrize("score", SCORES)
@pytest.mark.parametrize("n_layers", [1, 2])
def test_step_by_step_with_every_gold_token_equals_the_parallel_forward(score, n_layers):
    model = make_gru(score, n_layers)
    src, src_mask = make_src([5, 3, 1, 4])
    tgt_in = make_tgt(4, 6)
    stepped = step_by_step(model, src, src_mask, tgt_in, 1.0, "argmax")
    torch.testing.assert_close(stepped, model(src, src_mask, tgt_in), rtol=0, atol=1e-5)


def test_gru_ratio_zero_feeds_the_models_own_predictions():
    model = make_gru("dot")
    src, src_mask = make_src([5, 3, 4])
    tgt_in = make_tgt(3, 7)
    fed = Feeding(model)
    free_running = fed(src, src_mask, tgt_in, teacher_forcing=0.0)
    never_gold = torch.zeros(3, 6, dtype=torch.bool)
    torch.testing.assert_close(
        free_running, fed_by_hand(model, src, src_mask, tgt_in, never_gold), rtol=0, atol=1e-5
    )
    assert not torch.allclose(free_running, model(src, src_mask, tgt_in), atol=1e-3)
    # only the first (bos) token of the target is read
    other_tgt = torch.cat([tgt_in[:, :1], make_tgt(3, 6, seed=9)[:, 1:], tgt_in[:, :1]], dim=1)
    torch.testing.assert_close(free_running, fed(src, src_mask, other_tgt, teacher_forcing=0.0))


def test_gru_tosses_a_coin_per_step_and_sequence_from_the_global_rng():
    model = make_gru("general")
    src, src_mask = make_src([5, 3, 4, 2, 6, 1])
    tgt_in = make_tgt(6, 8)
    fed = Feeding(model)
    torch.manual_seed(7)
    mixed = fed(src, src_mask, tgt_in, teacher_forcing=0.5)
    torch.manual_seed(7)
    gold = torch.rand(6, 7) < 0.5  # the coins drawn: one per sequence and step t >= 1
    # the seed gives a real mixture: within a step across sequences, within a sequence
    assert (gold.any(0) & ~gold.all(0)).any() and (gold.any(1) & ~gold.all(1)).any()
    torch.testing.assert_close(
        mixed, fed_by_hand(model, src, src_mask, tgt_in, gold), rtol=0, atol=1e-5
    )
    assert not torch.allclose(mixed, model(src, src_mask, tgt_in), atol=1e-3)
    assert not torch.allclose(mixed, fed(src, src_mask, tgt_in, teacher_forcing=0.0), atol=1e-3)


def test_gru_scheduled_training_is_reproducible_under_a_seed():
    model = make_gru("concat", dropout=0.3).train()
    src, src_mask = make_src([5, 3, 4])
    tgt_in = make_tgt(3, 6)
    fed = Feeding(model)
    runs = []
    for _ in range(2):
        torch.manual_seed(123)
        runs.append(fed(src, src_mask, tgt_in, teacher_forcing=0.5))
    torch.testing.assert_close(runs[0], runs[1], rtol=0, atol=0)
    torch.manual_seed(124)
    assert not torch.allclose(runs[0], fed(src, src_mask, tgt_in, teacher_forcing=0.5))


def test_gru_sampled_feed_draws_the_fed_tokens_from_the_softmax():
    model = make_gru("dot")
    tied = [VOCAB - 1, VOCAB - 2]

    def stub_out(attentional):  # (B, T, D) -> (B, T, V): two tokens equally likely
        logits = torch.zeros(*attentional.shape[:-1], VOCAB)
        logits[..., tied] = 10.0
        return logits

    model.decoder.out.forward = stub_out
    fed = []
    model.embedding.register_forward_pre_hook(lambda module, inputs: fed.append(inputs[0]))
    src, src_mask = make_src([5, 3, 4])
    torch.manual_seed(0)
    Feeding(model, "sample")(src, src_mask, make_tgt(3, 8), teacher_forcing=0.0)
    steps = torch.cat(fed[2:], dim=1)  # fed[0]: the source, fed[1]: bos
    assert set(steps.unique().tolist()) == set(tied)


# --- the Transformer: two decoder passes ------------------------------------------------------


class StubGenerator(nn.Module):
    """Stub output layer with known predictions: at position t, `tokens[t]` tied for the
    maximum (a tuple: several tied tokens, the same at every position)."""

    def __init__(self, tokens: list[int] | tuple[int, ...]) -> None:
        super().__init__()
        self.tokens = tokens

    def forward(self, h: torch.Tensor) -> torch.Tensor:  # (B, T, D) -> (B, T, V)
        logits = torch.zeros(*h.shape[:-1], VOCAB)
        if isinstance(self.tokens, tuple):
            logits[..., list(self.tokens)] = 10.0
        else:
            logits[:, torch.arange(h.size(1)), torch.tensor(self.tokens[: h.size(1)])] = 10.0
        return logits


def decoder_inputs(model: Transformer, teacher_forcing: float, feed: str = "argmax",
                   tgt_in: torch.Tensor | None = None) -> list[torch.Tensor]:
    """The ids the shared embedding reads during one fed forward: the source, then each pass's
    target inputs."""
    src, src_mask = make_src([5, 3, 1])
    seen = []
    hook = model.embed.register_forward_pre_hook(lambda module, inputs: seen.append(inputs[0]))
    try:
        target = make_tgt(3, 8) if tgt_in is None else tgt_in
        Feeding(model, feed)(src, src_mask, target, teacher_forcing)
    finally:
        hook.remove()
    return seen


def test_transformer_ratio_zero_feeds_the_second_pass_only_the_first_pass_predictions():
    model = make_transformer().train()
    model.generator = StubGenerator(PREDICTED)
    tgt_in = make_tgt(3, 8)
    _, first, second = decoder_inputs(model, 0.0, tgt_in=tgt_in)
    assert torch.equal(first, tgt_in)  # the first pass reads the gold target
    assert torch.equal(second[:, 0], tgt_in[:, 0])  # bos is always fed
    # then only predictions: input t is what the first pass predicted at t - 1
    assert torch.equal(second[:, 1:], torch.tensor(PREDICTED[:7]).expand(3, 7))


def test_transformer_sampled_predictions_come_from_the_softmax():
    model = make_transformer()
    model.generator = StubGenerator((VOCAB - 1, VOCAB - 2))  # two tokens, equally likely
    torch.manual_seed(0)
    _, _, second = decoder_inputs(model, 0.0, feed="sample")
    assert set(second[:, 1:].unique().tolist()) == {VOCAB - 1, VOCAB - 2}


def test_transformer_keeps_each_gold_token_on_a_coin_from_the_global_rng():
    model = make_transformer()  # eval mode: the coins are the only random draw
    model.generator = StubGenerator(PREDICTED)
    tgt_in = make_tgt(3, 8)
    torch.manual_seed(3)
    _, _, second = decoder_inputs(model, 0.5, tgt_in=tgt_in)
    torch.manual_seed(3)
    gold = torch.rand(3, tgt_in.size(1) - 1) < 0.5
    assert 0 < gold.sum() < gold.numel()
    predicted = torch.tensor(PREDICTED[:7]).expand(3, 7)
    assert torch.equal(second[:, 1:], torch.where(gold, tgt_in[:, 1:], predicted))


def test_transformer_only_the_second_pass_records_gradients():
    model = make_transformer().train()
    grad_enabled = []
    model.generator.register_forward_hook(
        lambda module, inputs, output: grad_enabled.append(output.requires_grad)
    )
    decoder_inputs(model, 0.5)
    assert grad_enabled == [False, True]
