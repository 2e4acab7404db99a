"""The distractor sets: never the gold reply, no two alike, fixed by the seed; the derangement
of the context gap; too few replies named."""

from __future__ import annotations

import numpy as np
import pytest

from seq2seq.diversity import reply_key
from seq2seq.errors import UserError
from seq2seq.relevance import derangement, draw_distractors, too_few_replies


def ids(*tokens: int) -> np.ndarray:
    return np.array(tokens, dtype=np.int64)


def corpus(n: int, seed: int = 0) -> tuple[list[str], list[str], list[np.ndarray]]:
    """n gold replies (some repeated, some differing from others only in case) and a training
    split whose most frequent replies include some of them."""
    rng = np.random.default_rng(seed)
    gold = [f"Reply {int(k)}" if k % 3 else f"reply {int(k)}" for k in rng.integers(0, 60, n)]
    gold[0] = "Reply 3"  # one of the frequent training replies, cased differently
    train = ["what?"] * 9 + ["I don't know."] * 8 + ["REPLY 3"] * 7 + [f"line {k}" for k in
                                                                     range(40)]
    return gold, train, [ids(k + 3) for k in range(len(train))]


def test_distractors_never_hold_the_gold_reply_and_are_fixed_by_the_seed():
    gold, train, train_ids = corpus(80)
    first = draw_distractors(gold, gold, train, train_ids, candidates=20, seed=5)
    again = draw_distractors(gold, gold, train, train_ids, candidates=20, seed=5)
    other = draw_distractors(gold, gold, train, train_ids, candidates=20, seed=6)
    for name in ("random", "generic", "derangement"):
        np.testing.assert_array_equal(getattr(first, name), getattr(again, name))
    assert not np.array_equal(first.random, other.random)
    assert first.random.shape == first.generic.shape == (80, 19)
    generic_keys = [reply_key(t) for t in first.generic_texts]
    for i, reply in enumerate(gold):
        randoms = [reply_key(gold[j]) for j in first.random[i]]
        generics = [generic_keys[j] for j in first.generic[i]]
        for chosen in (randoms, generics):
            assert reply_key(reply) not in chosen  # "Reply 3" is never "reply 3"
            assert len(set(chosen)) == len(chosen)
    # The most frequent training replies, in order, without the gold reply when it is one.
    assert generic_keys[:3] == ["what?", "i don't know.", "reply 3"]
    rows = [i for i, g in enumerate(gold) if reply_key(g) == "reply 3"]
    for row in rows:
        assert first.generic[row][:3].tolist() == [0, 1, 3]


def test_a_gold_reply_that_is_a_frequent_one_gets_the_next_frequent_instead():
    train = ["what?"] * 3 + ["no."] * 2 + ["yes."]
    gold = ["What?", "maybe", "no."]
    drawn = draw_distractors(gold, ["What?", "maybe", "no.", "sure"], train,
                             [ids(3)] * 6, candidates=3, seed=0)
    texts = [[drawn.generic_texts[j] for j in row] for row in drawn.generic]
    assert texts == [["no.", "yes."], ["what?", "no."], ["what?", "yes."]]


def test_derangement_leaves_nobody_their_own_prompt():
    rng = np.random.default_rng(0)
    for n in (2, 3, 10, 101):
        order = derangement(n, rng)
        assert sorted(order.tolist()) == list(range(n))
        assert (order != np.arange(n)).all()
    with pytest.raises(UserError, match="at least 2 examples"):
        derangement(1, rng)


def test_too_few_different_replies_are_named():
    assert too_few_replies(["a", "A", "b"], ["x", "y", "z"], 3) == (
        "only 2 different replies in the examples; hits@1/3 needs 3")
    assert too_few_replies(["a", "b", "c"], ["x", "x"], 3).startswith("only 1 different")
    assert too_few_replies(["a", "b", "c"], ["x", "y", "z"], 3) is None
    with pytest.raises(UserError, match="only 2 different replies"):
        draw_distractors(["a", "b"], ["a", "b"], ["x", "y", "z"], [ids(3)] * 3, 3, seed=0)
