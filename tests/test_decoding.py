"""Decoding strategies against a stub model with fixed probabilities (as fairseq and OpenNMT-py
test theirs), plus batched-versus-single greedy on the real architectures."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import Tensor

from seq2seq.config import MAX_LENGTH_PENALTY, MIN_TEMPERATURE, DecodeConfig, load_config
from seq2seq.decoding import (
    NEG_INF,
    Decoding,
    beam_search,
    block_repeated_ngrams,
    filter_top_k_top_p,
    generate,
    greedy,
    penalize_repetition,
    sample,
    token_scores,
)
from seq2seq.models import build_model
from seq2seq.models.base import Memory, Seq2SeqModel

PAD, BOS, EOS, A, B, C, D = range(7)
VOCAB = 7
HEADS = 2


@dataclass
class StubState:
    prefix: Tensor  # (N, t) every token fed so far, bos first
    cross_attention: Tensor | None


class StubConfig:
    """A stub model's config: nothing to check."""

    def validate(self) -> None:
        pass


class StubModel(Seq2SeqModel):
    """Next-token probabilities from a table keyed by (source id, tokens generated so far).

    The source id is the first source token. Prefixes missing from the table end the reply
    (eos with probability 0.9). The state holds the whole prefix, so a beam search that did not
    reorder it would look up the wrong rows; `reorders` counts `reorder_state` calls.
    """

    def __init__(self, table: dict[tuple[int, tuple[int, ...]], dict[int, float]]) -> None:
        super().__init__(StubConfig(), VOCAB, PAD)
        self.table = table
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.reorders = 0
        self.steps = 0

    def forward(self, src, src_mask, tgt_in):
        raise NotImplementedError

    def encode(self, src: Tensor, src_mask: Tensor) -> Memory:
        return Memory(src.float()[:, :, None], src_mask)

    def decode_step(self, tokens, memory, state, need_attention=False):
        if state is None:
            assert (tokens == BOS).all()
            prefix = tokens[:, None]
        else:
            prefix = torch.cat([state.prefix, tokens[:, None]], dim=1)
        self.steps += 1
        logits = torch.full((tokens.size(0), VOCAB), -30.0)
        for row, (source, generated) in enumerate(
            zip(memory.states[:, 0, 0].long().tolist(), prefix[:, 1:].tolist(), strict=True)
        ):
            probs = self.table.get((source, tuple(generated)), {EOS: 0.9, A: 0.1})
            for token, p in probs.items():
                logits[row, token] = math.log(p)
        attention = None
        if need_attention:
            weights = memory.mask.float() / memory.mask.sum(-1, keepdim=True)  # (N, S)
            attention = weights[:, None, :].expand(-1, HEADS, -1) * (prefix.size(1))
        return logits, StubState(prefix, attention)

    def reorder_state(self, state, index):
        self.reorders += 1
        attention = None if state.cross_attention is None else state.cross_attention[index]
        return StubState(state.prefix[index], attention)


def source(*ids: int) -> tuple[Tensor, Tensor]:
    """A batch of one-token sources (the source id), all real."""
    src = torch.tensor(ids)[:, None]
    return src, torch.ones_like(src, dtype=torch.bool)


def settings(model, **config) -> Decoding:
    """The decoding settings of `DecodeConfig(**config)` with the stub vocabulary's ids."""
    return Decoding(DecodeConfig(**config), BOS, EOS, model.pad_id)


STRATEGY_ARGUMENTS = ("nbest", "generator", "need_attention")


def run(strategy, model, *ids, **kwargs):
    src, mask = source(*ids)
    own = {key: kwargs.pop(key) for key in STRATEGY_ARGUMENTS if key in kwargs}
    return strategy(model, src, mask, settings(model, **{"max_len": 10, **kwargs}), **own)


# Greedy takes A (0.6) and ends at A eos: 0.6 * 0.4 = 0.24. B eos is 0.4 * 0.9 = 0.36.
TRAP = {
    (0, ()): {A: 0.6, B: 0.4},
    (0, (A,)): {EOS: 0.4, C: 0.3, D: 0.3},
    (0, (B,)): {EOS: 0.9, C: 0.1},
}


def test_greedy_follows_the_argmax_path():
    table = {(0, ()): {B: 0.5, A: 0.3, EOS: 0.2}, (0, (B,)): {C: 0.7, EOS: 0.3},
             (0, (B, C)): {EOS: 0.8, A: 0.2}}
    result = run(greedy, StubModel(table), 0)
    assert result.tokens == [[B, C]]
    assert result.scores[0] == pytest.approx(math.log(0.5 * 0.7 * 0.8), abs=1e-4)


def test_beam_search_escapes_the_greedy_trap():
    assert run(greedy, StubModel(TRAP), 0).tokens == [[A]]
    result = run(beam_search, StubModel(TRAP), 0, beam_size=2, length_penalty=0.0)
    assert result.tokens == [[B]]
    assert result.scores[0] == pytest.approx(math.log(0.36), abs=1e-4)


def test_beam_search_lists_the_n_best_replies_with_their_scores():
    result = run(beam_search, StubModel(TRAP), 0, 1, beam_size=2, length_penalty=0.0, nbest=2)
    assert result.tokens == [[B], []]  # the best reply is unchanged by asking for more
    first, second = result.nbest
    assert [tokens for tokens, _ in first] == [[B], [A]]
    assert [score for _, score in first] == pytest.approx([math.log(0.36), math.log(0.24)],
                                                          abs=1e-4)
    assert first[0][1] == pytest.approx(result.scores[0], abs=1e-6)
    assert second == [([], pytest.approx(math.log(0.9), abs=1e-4)),
                      ([A], pytest.approx(math.log(0.1 * 0.9), abs=1e-4))]  # the stub's default
    assert run(beam_search, StubModel(TRAP), 0, beam_size=2).nbest is None  # only on request


def test_beam_search_reorders_the_state():
    # after step 1 both beams descend from beam 1 (B); a state left unreordered would look up
    # (A, C) instead of (B, C) at step 2 and score B C eos as 0.4 * 0.55 * 0.9
    table = {(0, ()): {A: 0.6, B: 0.4}, (0, (A,)): {B: 0.25, C: 0.25, D: 0.25, EOS: 0.25},
             (0, (B,)): {C: 0.55, D: 0.45}, (0, (B, C)): {EOS: 1.0}, (0, (B, D)): {EOS: 1.0}}
    model = StubModel(table)
    result = run(beam_search, model, 0, beam_size=2, length_penalty=0.0)
    assert result.tokens == [[B, C]]
    assert result.scores[0] == pytest.approx(math.log(0.4 * 0.55), abs=1e-4)
    assert model.reorders >= 2


def test_beam_search_length_penalty_prefers_longer_replies():
    table = {(0, ()): {EOS: 0.6, A: 0.4}, (0, (A,)): {B: 1.0}, (0, (A, B)): {EOS: 1.0}}
    # log 0.6 (eos at once) beats log 0.4 (A B eos) without normalisation ...
    plain = run(beam_search, StubModel(table), 0, beam_size=2, length_penalty=0.0)
    assert plain.tokens == [[]]
    # ... and loses to it when scores are averaged per token
    averaged = run(beam_search, StubModel(table), 0, beam_size=2, length_penalty=1.0)
    assert averaged.tokens == [[A, B]]
    assert averaged.scores[0] == pytest.approx(math.log(0.4) / 3, abs=1e-4)


def test_beam_of_one_without_length_penalty_never_scores_below_greedy():
    table = {**TRAP, (1, ()): {C: 0.5, D: 0.5 - 1e-3}, (1, (C,)): {D: 0.6, EOS: 0.4},
             (1, (C, D)): {A: 0.9, EOS: 0.1}}
    expected = run(greedy, StubModel(table), 0, 1)
    result = run(beam_search, StubModel(table), 0, 1, beam_size=1, length_penalty=0.0)
    assert result.tokens == expected.tokens == [[A], [C, D, A]]
    assert result.scores == pytest.approx(expected.scores, abs=1e-4)


def test_beam_search_batches_sources_independently():
    table = {**TRAP, (1, ()): {C: 0.9, D: 0.1}, (1, (C,)): {D: 0.9, EOS: 0.1}}
    result = run(beam_search, StubModel(table), 0, 1, beam_size=3, length_penalty=0.0)
    single = [run(beam_search, StubModel(table), i, beam_size=3, length_penalty=0.0).tokens[0]
              for i in (0, 1)]
    assert result.tokens == single == [[B], [C, D]]


def test_batched_greedy_stops_each_row_at_its_own_eos():
    table = {(0, ()): {EOS: 1.0}, (1, ()): {A: 1.0}, (1, (A,)): {EOS: 1.0},
             (2, ()): {A: 1.0}, (2, (A,)): {B: 1.0}, (2, (A, B)): {C: 1.0}}
    model = StubModel(table)
    result = run(greedy, model, 0, 1, 2, max_len=20)
    assert result.tokens == [[], [A], [A, B, C]]  # (2, (A, B, C)) is not in the table: eos
    assert model.steps == 4  # stopped once the longest row ended, not at max_len


def test_max_len_caps_the_reply():
    table = {(0, ()): {A: 1.0}, (0, (A,)): {A: 1.0}, (0, (A, A)): {A: 1.0}}
    for strategy in (greedy, beam_search):
        assert run(strategy, StubModel(table), 0, max_len=2).tokens == [[A, A]]


def test_without_min_len_greedy_ends_at_once():
    table = {(0, ()): {EOS: 0.9, A: 0.1}, (0, (A,)): {EOS: 0.9, B: 0.1}}
    assert run(greedy, StubModel(table), 0).tokens == [[]]


@pytest.mark.parametrize("strategy", [greedy, beam_search, sample])
def test_min_len_forbids_an_early_eos(strategy):
    table = {(0, ()): {EOS: 0.9, A: 0.1}, (0, (A,)): {EOS: 0.9, B: 0.1}, (0, (A, B)): {EOS: 1.0}}
    assert run(strategy, StubModel(table), 0, min_len=2).tokens == [[A, B]]


@pytest.mark.parametrize("strategy", [greedy, beam_search])
def test_no_repeat_ngram_blocks_repeats(strategy):
    # the model wants A B A B ...; bigram blocking forbids the second A B
    table = {(0, ()): {A: 0.9, C: 0.1}, (0, (A,)): {B: 0.9, C: 0.1},
             (0, (A, B)): {A: 0.9, C: 0.1}, (0, (A, B, A)): {B: 0.8, D: 0.2}}
    assert run(strategy, StubModel(table), 0, max_len=4).tokens == [[A, B, A, B]]
    blocked = run(strategy, StubModel(table), 0, max_len=4, no_repeat_ngram=2)
    assert blocked.tokens == [[A, B, A, D]]


def test_block_repeated_ngrams_marks_only_completions():
    logits = torch.zeros(2, VOCAB)
    history = torch.tensor([[A, B, C, A], [A, B, C, D]])
    blocked = block_repeated_ngrams(logits, history, 2)
    assert torch.isinf(blocked[0]).nonzero().view(-1).tolist() == [B]  # "A B" seen, ends in A
    assert not torch.isinf(blocked[1]).any()  # "D" never started a bigram
    assert torch.isinf(block_repeated_ngrams(logits, history, 1)[1]).sum() == 4


def test_repetition_penalty_divides_positive_and_multiplies_negative_logits():
    logits = torch.tensor([[2.0, -1.0, 3.0, 0.5]])
    out = penalize_repetition(logits, torch.tensor([[0, 1, 1]]), 2.0)
    assert out.tolist() == [[1.0, -2.0, 3.0, 0.5]]


@pytest.mark.parametrize("strategy", [greedy, beam_search])
def test_repetition_penalty_changes_the_choice(strategy):
    table = {(0, ()): {A: 0.9, B: 0.1}, (0, (A,)): {A: 0.5, C: 0.4, EOS: 0.1},
             (0, (A, C)): {EOS: 1.0}, (0, (A, A)): {EOS: 1.0}}
    assert run(strategy, StubModel(table), 0).tokens == [[A, A]]
    assert run(strategy, StubModel(table), 0, repetition_penalty=3.0).tokens == [[A, C]]


def test_top_k_and_top_p_keep_the_expected_sets():
    log_probs = torch.tensor([[0.05, 0.5, 0.25, 0.15, 0.05]]).log()

    def kept(top_k: int, top_p: float) -> Tensor:
        return torch.isfinite(filter_top_k_top_p(log_probs, top_k, top_p))[0].nonzero()

    assert kept(2, 1.0).view(-1).tolist() == [1, 2]
    assert kept(0, 0.5).view(-1).tolist() == [1]  # 0.5 alone reaches 0.5
    assert kept(0, 0.7).view(-1).tolist() == [1, 2]
    assert kept(0, 0.8).view(-1).tolist() == [1, 2, 3]
    assert kept(2, 0.9).view(-1).tolist() == [1, 2]


@pytest.mark.parametrize(("top_k", "top_p", "allowed"),
                         [(2, 1.0, {A, B}), (0, 0.6, {A, B}), (0, 0.3, {A}), (3, 0.85, {A, B, C})])
def test_sampling_never_leaves_the_allowed_set(top_k, top_p, allowed):
    table = {(0, ()): {A: 0.35, B: 0.3, C: 0.2, D: 0.1, EOS: 0.05}}
    src, mask = source(*[0] * 200)
    generator = torch.Generator().manual_seed(0)
    model = StubModel(table)
    result = sample(model, src, mask, settings(model, max_len=1, top_k=top_k, top_p=top_p),
                    generator=generator)
    first = {tokens[0] if tokens else EOS for tokens in result.tokens}
    assert first == allowed  # every allowed token drawn in 200 tries, nothing else


def test_sampling_is_reproducible_with_a_seeded_generator():
    table = {(0, ()): {A: 0.3, B: 0.3, C: 0.4}}
    src, mask = source(*[0] * 50)

    def draw(seed):
        generator = torch.Generator().manual_seed(seed)
        model = StubModel(table)
        return sample(model, src, mask, settings(model, max_len=3), generator=generator).tokens

    assert draw(1) == draw(1) != draw(2)


def test_low_temperature_sampling_is_greedy():
    table = {(0, ()): {A: 0.4, B: 0.35, C: 0.25}, (0, (A,)): {EOS: 0.6, D: 0.4}}
    result = run(sample, StubModel(table), *[0] * 20, temperature=0.01)
    assert result.tokens == [[A]] * 20


def test_generate_dispatches_on_the_strategy():
    model = StubModel(TRAP)
    src, mask = source(0)
    greedy_config = settings(model, max_len=5, length_penalty=0.0)
    beam_config = settings(model, strategy="beam", beam_size=2, max_len=5, length_penalty=0.0)
    assert generate(model, src, mask, greedy_config).tokens == [[A]]
    assert generate(model, src, mask, beam_config).tokens == [[B]]
    sample_config = settings(model, strategy="sample", top_k=1, max_len=5)
    assert generate(model, src, mask, sample_config).tokens == [[A]]


@pytest.mark.parametrize("strategy", ["greedy", "beam", "sample"])
def test_attention_is_trimmed_to_real_source_tokens(strategy):
    table = {(0, ()): {A: 1.0}, (0, (A,)): {B: 1.0}, (0, (A, B)): {EOS: 1.0},
             (1, ()): {C: 1.0}, (1, (C,)): {EOS: 1.0}}
    src = torch.tensor([[0, 5, 5, 5], [1, 5, PAD, PAD]])
    mask = torch.tensor([[True] * 4, [True, True, False, False]])
    model = StubModel(table)
    config = settings(model, strategy=strategy, max_len=6, beam_size=2)
    result = generate(model, src, mask, config, need_attention=True)
    assert result.tokens == [[A, B], [C]]
    assert [tuple(a.shape) for a in result.attention] == [(2, HEADS, 4), (1, HEADS, 2)]
    # the stub scales its attention by the step, so rows must come from the right steps
    assert result.attention[0][:, 0, 0].tolist() == pytest.approx([0.25, 0.5])
    assert result.attention[1][:, 0, 0].tolist() == pytest.approx([0.5])


def test_decoding_restores_training_mode():
    model = StubModel(TRAP).train()
    run(greedy, model, 0)
    assert model.training


# --- the real architectures -------------------------------------------------------------------

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def tiny_model(name: str) -> Seq2SeqModel:
    """An untrained tiny model (its config from configs/) over a 60-token vocabulary."""
    torch.manual_seed(0)
    config = load_config(CONFIGS / f"{name}.yaml")
    return build_model(config.model, SimpleNamespace(vocab_size=60, pad_id=PAD))


def padded_sources() -> tuple[Tensor, Tensor]:
    """Three sources of lengths 7, 4 and 2, right-padded: (3, 7) ids and mask."""
    generator = torch.Generator().manual_seed(1)
    src = torch.randint(EOS + 1, 60, (3, 7), generator=generator)
    mask = torch.arange(7)[None, :] < torch.tensor([7, 4, 2])[:, None]
    return src.masked_fill(~mask, PAD), mask


@pytest.mark.parametrize("name", ["tiny-transformer", "tiny-gru"])
@pytest.mark.parametrize("strategy", ["greedy", "beam"])
def test_batched_decoding_equals_one_source_at_a_time(name, strategy):
    model, (src, mask) = tiny_model(name), padded_sources()
    config = settings(model, strategy=strategy, max_len=12, beam_size=3)
    batched = generate(model, src, mask, config, need_attention=True)
    for i, length in enumerate(mask.sum(-1).tolist()):
        one = generate(model, src[i : i + 1, :length], mask[i : i + 1, :length], config,
                       need_attention=True)
        assert batched.tokens[i] == one.tokens[0]
        assert batched.scores[i] == pytest.approx(one.scores[0], abs=1e-4)
        assert torch.allclose(batched.attention[i], one.attention[0], atol=1e-5)
        assert batched.attention[i].shape[0] == len(one.tokens[0])
        assert batched.attention[i].shape[-1] == length


@functools.cache  # trained once per architecture and session; decoding leaves it as it is
def partly_trained(name: str) -> tuple[Seq2SeqModel, Tensor, Tensor]:
    """A tiny model trained a little on 16 random pairs (replies of 1 to 7 tokens), so that its
    replies end at various lengths; returns it with the (16, 7) sources and their mask.
    Shared: do not change it."""
    model, generator = tiny_model(name), torch.Generator().manual_seed(2)
    src = torch.randint(EOS + 1, 60, (16, 7), generator=generator)
    mask = torch.arange(7)[None, :] < torch.randint(2, 8, (16, 1), generator=generator)
    src = src.masked_fill(~mask, PAD)
    lengths = torch.randint(1, 8, (16,), generator=generator)
    tgt = torch.randint(EOS + 1, 60, (16, 8), generator=generator)
    tgt[torch.arange(16), lengths] = EOS
    tgt = tgt.masked_fill(torch.arange(8)[None, :] > lengths[:, None], PAD)
    shifted = tgt[:, :-1].masked_fill(tgt[:, :-1] == EOS, PAD)
    tgt_in = torch.cat([torch.full((16, 1), BOS), shifted], dim=1)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(40):
        logits = model(src, mask, tgt_in)
        loss = torch.nn.functional.cross_entropy(logits.transpose(1, 2), tgt, ignore_index=PAD)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval(), src, mask


@pytest.mark.parametrize("name", ["tiny-transformer", "tiny-gru"])
def test_beam_of_one_is_greedy_on_trained_models(name):
    model, src, mask = partly_trained(name)
    found = greedy(model, src, mask, settings(model, max_len=10))
    assert len({len(tokens) for tokens in found.tokens}) >= 3  # replies end at various steps
    one_beam = settings(model, max_len=10, beam_size=1, length_penalty=0.0)
    beam = beam_search(model, src, mask, one_beam)
    assert beam.tokens == found.tokens
    assert beam.scores == pytest.approx(found.scores, abs=1e-4)
    # with a length penalty a beam of one may go past greedy's eos, never to a worse score
    averaged = beam_search(model, src, mask, settings(model, max_len=10, beam_size=1))
    for tokens, summed, score in zip(found.tokens, found.scores, averaged.scores, strict=True):
        assert score >= summed / (len(tokens) + (len(tokens) < 10)) - 1e-5


def exhaustive_best(table, source_id: int, max_len: int, length_penalty: float):
    """The stub model's best reply and its score, by enumerating every token sequence.

    Tokens outside a table entry (logit -30) are left out: they can never be optimal."""
    best: tuple[float, list[int]] = (NEG_INF, [])

    def extend(prefix: tuple[int, ...], log_p: float) -> None:
        nonlocal best
        for token, p in table.get((source_id, prefix), {EOS: 0.9, A: 0.1}).items():
            total, length = log_p + math.log(p), len(prefix) + 1
            if token == EOS or length == max_len:  # ended, or alive at max_len
                reply = list(prefix) if token == EOS else [*prefix, token]
                best = max(best, (total / length**length_penalty, reply))
            else:
                extend((*prefix, token), total)

    extend((), 0.0)
    return best[1], best[0]


@pytest.mark.parametrize("length_penalty", [0.0, 1.0])
def test_wide_beam_finds_the_exhaustive_optimum(length_penalty):
    # eos is likely early but the best full replies are long: short-sighted search fails
    table = {(0, ()): {EOS: 0.5, A: 0.3, B: 0.2}, (0, (A,)): {EOS: 0.5, C: 0.25, D: 0.25},
             (0, (B,)): {C: 0.95, EOS: 0.05}, (0, (B, C)): {D: 0.95, EOS: 0.05},
             (0, (B, C, D)): {EOS: 0.99, A: 0.01}, (0, (A, C)): {EOS: 0.6, A: 0.4}}
    expected, score = exhaustive_best(table, 0, 4, length_penalty)
    result = run(beam_search, StubModel(table), 0, beam_size=5**4, max_len=4,
                 length_penalty=length_penalty)
    assert result.tokens == [expected]
    assert result.scores[0] == pytest.approx(score, abs=1e-4)


def test_an_eos_ranked_below_the_beam_finishes_nothing():
    # a beam of one is greedy: B C wins; the old rule finished "A eos" (0.6 * 0.4) ahead of it
    # because every hypothesis' eos became a candidate, whatever its rank
    table = {(0, ()): {A: 0.35, B: 0.65}, (0, (A,)): {EOS: 1.0},
             (0, (B,)): {C: 0.6, EOS: 0.4}, (0, (B, C)): {EOS: 0.6, D: 0.4}}
    assert run(greedy, StubModel(table), 0).tokens == [[B, C]]
    result = run(beam_search, StubModel(table), 0, beam_size=1, length_penalty=0.0)
    assert result.tokens == [[B, C]]


def test_token_scores_are_the_stub_probabilities_eos_last():
    src, mask = source(0)
    model = StubModel(TRAP)
    config = settings(model, strategy="beam", max_len=2, beam_size=2)
    scores = token_scores(model, src, mask, [[A], [B], [A, C]], config)
    assert scores[0] == pytest.approx([math.log(0.6), math.log(0.4)])
    assert scores[1] == pytest.approx([math.log(0.4), math.log(0.9)])
    assert scores[2] == pytest.approx([math.log(0.6), math.log(0.3)])  # cut at max_len: no eos


@pytest.mark.parametrize("name", ["tiny-transformer", "tiny-gru"])
def test_token_scores_add_up_to_the_n_best_scores(name):
    """Each hypothesis' positional scores, summed and length-penalised, are its beam score,
    with the repetition penalty and n-gram blocking on (they change the scores)."""
    model, src, mask = partly_trained(name)
    config = settings(model, strategy="beam", max_len=6, beam_size=4, length_penalty=1.0,
                      repetition_penalty=1.3, no_repeat_ngram=2)
    lengths = set()
    for row in range(4):
        result = beam_search(model, src[row : row + 1, :], mask[row : row + 1, :], config,
                             nbest=4)
        hypotheses = result.nbest[0]
        scores = token_scores(model, src[row : row + 1], mask[row : row + 1],
                              [tokens for tokens, _ in hypotheses], config)
        for (tokens, score), positional in zip(hypotheses, scores, strict=True):
            lengths.add(len(positional))
            assert len(positional) == min(len(tokens) + 1, 6)
            assert sum(positional) / len(positional) == pytest.approx(score, abs=1e-4)
    assert len(lengths) >= 2  # hypotheses of several lengths were checked


# the old stop rule compared the best finished reply with the live ones at their current
# length and returned [] (-0.693) here while B D (-0.540) was still in the beam
EARLY_STOP = {(0, ()): {EOS: 0.5, A: 0.3, B: 0.2}, (0, (A,)): {EOS: 0.6, C: 0.4},
              (0, (B,)): {D: 0.99, EOS: 0.01}, (0, (B, D)): {EOS: 0.99}}


def test_beam_search_does_not_stop_while_a_better_reply_is_live():
    result = run(beam_search, StubModel(EARLY_STOP), 0, beam_size=2, length_penalty=1.0)
    assert result.tokens == [[B, D]]
    # the stub renormalises its table row: after B D, eos has probability 1
    assert result.scores[0] == pytest.approx(math.log(0.2 * 0.99) / 3)


@pytest.mark.parametrize("nbest", [2, 3])
def test_the_first_reply_does_not_depend_on_nbest(nbest):
    one = run(beam_search, StubModel(EARLY_STOP), 0, beam_size=2, length_penalty=1.0)
    listed = run(beam_search, StubModel(EARLY_STOP), 0, beam_size=2, length_penalty=1.0,
                 nbest=nbest)
    assert listed.tokens == one.tokens and listed.scores == one.scores
    assert listed.nbest[0][0] == (one.tokens[0], pytest.approx(one.scores[0]))


def random_table(seed: int, max_len: int) -> dict[tuple[int, tuple[int, ...]], dict[int, float]]:
    """A peaked random next-token distribution over eos, A, B, C, D after every prefix."""
    generator = torch.Generator().manual_seed(seed)
    tokens = [EOS, A, B, C, D]
    table, prefixes = {}, [()]
    for _ in range(max_len):
        grown = []
        for prefix in prefixes:
            logits = torch.randn(len(tokens), generator=generator) * 3.0
            table[(0, prefix)] = dict(zip(tokens, torch.softmax(logits, 0).tolist(), strict=True))
            grown += [(*prefix, token) for token in tokens[1:]]
        prefixes = grown
    return table


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("length_penalty", [0.0, 1.0])
def test_stopping_early_never_changes_the_reply(seed, length_penalty):
    """The exact stop rule against the same search run to max_len (an n-best list longer than
    anything that can finish never stops early), and a beam wide enough to hold every prefix
    against the exhaustive optimum."""
    table = random_table(seed, 4)
    narrow = dict(max_len=4, length_penalty=length_penalty, beam_size=2)
    early = run(beam_search, StubModel(table), 0, **narrow)
    full = run(beam_search, StubModel(table), 0, **narrow, nbest=10_000)
    assert early.tokens == full.tokens and early.scores == full.scores
    expected, score = exhaustive_best(table, 0, 4, length_penalty)
    wide = run(beam_search, StubModel(table), 0, max_len=4, length_penalty=length_penalty,
               beam_size=4**3)
    assert wide.tokens == [expected]
    assert wide.scores[0] == pytest.approx(score, abs=1e-5)


def test_the_extreme_temperature_and_length_penalty_allowed_still_decode():
    limits = DecodeConfig(temperature=MIN_TEMPERATURE, length_penalty=MAX_LENGTH_PENALTY)
    limits.validate()
    table = {(0, ()): {A: 0.6, B: 0.4}, (0, (A,)): {C: 0.9, EOS: 0.1}}
    sampled = run(sample, StubModel(table), 0, temperature=limits.temperature, max_len=40)
    assert sampled.tokens == [[A, C]] and math.isfinite(sampled.scores[0])
    beam = run(beam_search, StubModel(table), 0, beam_size=3, max_len=40,
               length_penalty=limits.length_penalty)
    assert math.isfinite(beam.scores[0])
