"""MMI-antiLM, MMI-bidi and sample-and-rank against stub models with known probabilities (the
hand computation written out beside each), and on untrained tiny models: lambda 0 is plain
decoding bit for bit, reranking never leaves the candidates, a seeded draw repeats."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from test_decoding import EOS, A, B, C, D, StubModel, padded_sources, settings, tiny_model

from seq2seq import mmi
from seq2seq.decoding import generate as plain_generate
from seq2seq.errors import UserError

# The forward model after the prompt D; rows sum to one (the stub's -30 logits elsewhere).
FORWARD = {
    (D, ()): {A: 0.5, B: 0.3, C: 0.2},
    (D, (B,)): {EOS: 0.6, C: 0.4},
}  # any other prefix: eos 0.9, A 0.1
# The reply LM reads the empty source, eos alone: its rows are keyed by EOS.
LM = {
    (EOS, ()): {A: 0.8, B: 0.1, C: 0.1},
    (EOS, (B,)): {EOS: 0.9, C: 0.1},
}
# The backward model reads a reply (its first token is the stub's source id) and scores D.
BACKWARD = {
    (A, ()): {D: 0.1, EOS: 0.9},
    (B, ()): {D: 0.2, EOS: 0.8},
    (C, ()): {D: 0.6, EOS: 0.4},
}
DEFAULT = {EOS: 0.9, A: 0.1}


def prob(table: dict, source: int, tokens: list[int]) -> float:
    """p(tokens, eos | source) under a stub table, by hand."""
    total = 1.0
    for k, token in enumerate([*tokens, EOS]):
        total *= table.get((source, tuple(tokens[:k])), DEFAULT).get(token, 0.0)
    return total


def decode(model, scorers=None, ids=(D,), generator=None, nbest=1, **config):
    src = torch.tensor(ids)[:, None]
    decoding = settings(model, **{"max_len": 10, **config})
    return mmi.generate(model, src, torch.ones_like(src, dtype=torch.bool), decoding,
                        scorers=scorers, generator=generator, nbest=nbest)


# --- MMI-antiLM ------------------------------------------------------------------------------


def test_antilm_greedy_takes_the_token_the_formula_prefers():
    # step 1: log p - 0.5 log p_LM: A log .5 - .5 log .8 = -0.58, B log .3 - .5 log .1 = -0.05,
    # C log .2 - .5 log .1 = -0.46 -> B (plain greedy: A, then eos).
    # step 2 after B: eos log .6 - .5 log .9 = -0.46, C log .4 - .5 log .1 = +0.24 -> C, then eos
    # (step 3 is past gamma = 2: the forward model alone, eos 0.9).
    forward, lm = StubModel(FORWARD), StubModel(LM)
    scorers = mmi.Scorers(reply_lm=lm)
    assert decode(forward).tokens == [[A]]
    assert decode(forward, scorers, mmi="antilm", mmi_gamma=2).tokens == [[B, C]]
    # with gamma = 1 only the first token is judged against the LM: B, then eos (0.6 > 0.4)
    assert decode(forward, scorers, mmi="antilm", mmi_gamma=1).tokens == [[B]]


def test_antilm_reads_the_forward_model_with_an_empty_source_when_asked():
    both = StubModel({**FORWARD, **LM})  # its rows for the source eos are the LM's above
    result = decode(both, mmi="antilm", mmi_gamma=2, mmi_lm="empty_source")
    assert result.tokens == [[B, C]]


def test_antilm_beam_search_ranks_the_renormalised_scores():
    # Per step the beam reads p(t) p_LM(t)^-0.5, renormalised:
    # step 1: A .5/.894 = .559, B .3/.316 = .949, C .2/.316 = .632 -> A .261, B .443, C .295
    # after B: eos .6/.949 = .632, C .4/.316 = 1.265 -> eos .333, C .667
    # after A or C (LM default eos .9, A .1): eos .9/.949 = .949, A .1/.316 = .316 -> eos .75
    # finished, score log p / length: A eos log(.261 * .75) / 2 = -0.84, B eos log(.443 * .333)
    # / 2 = -1.09, C eos log(.295 * .75) / 2 = -0.76, B C eos log(.443 * .667 * .9) / 3 = -0.51
    # Plain beam: A eos log .45 / 2 = -0.40 beats B C eos log .108 / 3 = -0.74.
    forward, scorers = StubModel(FORWARD), mmi.Scorers(reply_lm=StubModel(LM))
    assert decode(forward, strategy="beam", beam_size=3).tokens == [[A]]
    result = decode(forward, scorers, strategy="beam", beam_size=3, mmi="antilm", mmi_gamma=2)
    assert result.tokens == [[B, C]]
    assert result.scores[0] == pytest.approx(math.log(0.443 * 0.667 * 0.9) / 3, abs=2e-3)


@pytest.mark.parametrize("name", ["tiny-transformer", "tiny-gru"])
@pytest.mark.parametrize("strategy", ["greedy", "beam"])
@pytest.mark.parametrize("lm", ["reply_lm", "empty_source"])
def test_antilm_with_lambda_zero_is_plain_decoding_bit_for_bit(name, strategy, lm):
    model, (src, mask) = tiny_model(name), padded_sources()
    scorers = mmi.Scorers(reply_lm=tiny_model("tiny-gru" if name == "tiny-transformer"
                                              else "tiny-transformer"))
    plain = settings(model, strategy=strategy, max_len=12, beam_size=3)
    anti = settings(model, strategy=strategy, max_len=12, beam_size=3, mmi="antilm",
                    mmi_lambda=0.0, mmi_lm=lm)
    expected = plain_generate(model, src, mask, plain, nbest=3, need_attention=True)
    got = mmi.generate(model, src, mask, anti, scorers=scorers, nbest=3, need_attention=True)
    assert got.tokens == expected.tokens and got.scores == expected.scores
    assert got.nbest == expected.nbest
    assert all(torch.equal(a, b) for a, b in zip(got.attention, expected.attention, strict=True))
    # and a lambda above zero does change something on these models
    changed = settings(model, strategy=strategy, max_len=12, beam_size=3, mmi="antilm",
                       mmi_lambda=2.0, mmi_lm=lm)
    assert mmi.generate(model, src, mask, changed, scorers=scorers).scores != expected.scores


def test_antilm_leaves_the_models_in_the_mode_they_came_in():
    forward, lm = StubModel(FORWARD).eval(), StubModel(LM).eval()
    decode(forward, mmi.Scorers(reply_lm=lm), mmi="antilm")
    assert not forward.training and not lm.training


# --- MMI-bidi and sample-and-rank ------------------------------------------------------------


def bidi_score(reply: list[int], mmi_lambda: float, bonus: float = 0.0) -> float:
    """log p(T|S) + lambda log p(S|T) + bonus |T| for the prompt D, by hand."""
    return (math.log(prob(FORWARD, D, reply))
            + mmi_lambda * math.log(prob(BACKWARD, reply[0], [D])) + bonus * len(reply))


@pytest.mark.parametrize(("mmi_lambda", "expected"), [(1.0, [C]), (0.2, [A])])
def test_bidi_reranks_beam_search_n_best_by_the_formula(mmi_lambda, expected):
    # n-best of beam 4: A eos (.45), B C eos (.108), B eos (.18), C eos (.18); p(D | reply) is
    # .1 after A, .2 after B, .6 after C (then eos .9):
    # lambda 1:  log .45 + log .09 = -3.21, log .108 + log .18 = -3.94, log .18 + log .18 = -3.43,
    #            log .18 + log .54 = -2.33 -> C
    # lambda .2: log .45 + .2 log .09 = -1.28, -2.57, -2.06, -1.84 -> A
    forward, scorers = StubModel(FORWARD), mmi.Scorers(backward=StubModel(BACKWARD))
    config = dict(strategy="beam", beam_size=4, mmi="bidi", mmi_lambda=mmi_lambda)
    result = decode(forward, scorers, nbest=4, **config)
    assert result.tokens == [expected]
    hand = {tuple(reply): bidi_score(reply, mmi_lambda) for reply in ([A], [B, C], [B], [C])}
    assert max(hand, key=hand.get) == tuple(expected)
    assert result.scores[0] == pytest.approx(hand[tuple(expected)], abs=1e-5)
    listed = [(tuple(tokens), score) for tokens, score in result.nbest[0]]
    assert [tokens for tokens, _ in listed] == sorted(hand, key=lambda reply: -hand[reply])
    assert [score for _, score in listed] == pytest.approx(sorted(hand.values(), reverse=True))


def test_the_length_bonus_adds_gamma_per_reply_token():
    # The forward model prefers A eos (.45) to B C eos (.3 * .4 * .9 = .108), but the bonus
    # pays 2 per token: log .45 + 2 = 1.20 against log .108 + 4 = 1.77.
    forward, scorers = StubModel(FORWARD), mmi.Scorers(backward=StubModel(BACKWARD))
    config = dict(strategy="beam", beam_size=4, mmi="bidi", mmi_lambda=0.0)
    assert decode(forward, scorers, **config).tokens == [[A]]
    assert decode(forward, scorers, mmi_length_bonus=2.0, **config).tokens == [[B, C]]


def test_without_its_model_mmi_is_off_and_says_so():
    forward = StubModel(FORWARD)
    beam = dict(strategy="beam", beam_size=3)
    assert decode(forward, None, mmi="bidi", **beam).tokens == decode(forward, **beam).tokens
    assert decode(forward, None, mmi="antilm").tokens == [[A]]
    config = settings(forward, mmi="bidi", **beam).config
    assert mmi.missing_note(config, mmi.Scorers()) == (
        "note: mmi=bidi needs a model given with --backward RUN; decoding without MMI"
    )
    antilm = settings(forward, mmi="antilm").config
    assert "--reply-lm RUN or mmi_lm=empty_source" in mmi.missing_note(antilm, mmi.Scorers())
    assert mmi.missing_note(antilm, mmi.Scorers(reply_lm=forward)) is None


@pytest.mark.parametrize("strategy", ["beam", "sample"])
@pytest.mark.parametrize(("mmi_lambda", "bonus"), [(0.0, 0.0), (0.5, -1.0), (3.0, 1.0)])
def test_reranking_never_leaves_the_candidates(strategy, mmi_lambda, bonus):
    model, (src, mask) = tiny_model("tiny-transformer"), padded_sources()
    scorers = mmi.Scorers(backward=tiny_model("tiny-gru"))
    decoding = settings(model, strategy=strategy, max_len=8, beam_size=4, num_samples=6,
                        mmi="bidi", mmi_lambda=mmi_lambda, mmi_length_bonus=bonus)
    drawn = mmi.candidates(model, src, mask, decoding, torch.Generator().manual_seed(3))
    result = mmi.generate(model, src, mask, decoding, scorers=scorers,
                          generator=torch.Generator().manual_seed(3), nbest=10)
    for reply, kept, listed in zip(result.tokens, drawn, result.nbest, strict=True):
        assert len(kept) == (4 if strategy == "beam" else 6)
        assert reply in kept
        assert sorted(map(tuple, kept)) == sorted(tuple(tokens) for tokens, _ in listed)


def test_sample_and_rank_repeats_with_a_seed_and_keeps_the_most_likely():
    model, (src, mask) = tiny_model("tiny-gru"), padded_sources()
    decoding = settings(model, strategy="sample", max_len=8, num_samples=5, temperature=1.5)

    def draw(seed: int):
        generator = torch.Generator().manual_seed(seed)
        return mmi.generate(model, src, mask, decoding, generator=generator)

    first, again, other = draw(11), draw(11), draw(12)
    assert first.tokens == again.tokens and first.scores == again.scores
    assert first.tokens != other.tokens  # the seed matters: these are draws
    samples = mmi.candidates(model, src, mask, decoding, torch.Generator().manual_seed(11))
    sources = [row[keep].tolist() for row, keep in zip(src, mask, strict=True)]
    for i, kept in enumerate(samples):
        likelihoods = mmi.sequence_log_probs(model, [sources[i]] * len(kept), kept, decoding)
        assert first.tokens[i] == kept[int(likelihoods.argmax())]


def test_sequence_log_probs_are_the_stub_probabilities():
    forward = StubModel(FORWARD)
    decoding = settings(forward)
    got = mmi.sequence_log_probs(forward, [[D], [D], [D]], [[A], [B, C], [A, A]], decoding)
    hand = [prob(FORWARD, D, reply) for reply in ([A], [B, C], [A, A])]
    assert got.tolist() == pytest.approx([math.log(p) for p in hand], abs=1e-5)
    # an empty source (an empty reply scored backward) reads eos alone
    lm = StubModel(LM)
    assert mmi.sequence_log_probs(lm, [[]], [[B]], decoding).item() == pytest.approx(
        math.log(0.1 * 0.9), abs=1e-5
    )


# --- the extra models' tokenizers ------------------------------------------------------------


def trained_with(fingerprint: str, path: str) -> SimpleNamespace:
    return SimpleNamespace(tokenizer=SimpleNamespace(fingerprint=lambda: fingerprint),
                           path=Path(path))


def test_an_extra_model_with_another_tokenizer_is_refused_in_one_line():
    forward = trained_with("abc", "runs/fwd/best.pt")
    mmi.check_tokenizers(forward, {"backward": trained_with("abc", "runs/bwd/best.pt")})
    with pytest.raises(UserError, match=r"^--reply-lm runs/lm/best.pt: its tokenizer differs "
                       r"from the forward model's \(runs/fwd/best.pt\)") as caught:
        mmi.check_tokenizers(forward, {"reply_lm": trained_with("xyz", "runs/lm/best.pt")})
    assert "\n" not in str(caught.value)
