"""The GT/RT reference rows: the models' reply statistics on hand-made replies."""

from __future__ import annotations

import pytest

from seq2seq.comparison.references import GOLD, RANDOM_TRAIN, reference_rows, reply_stats


def test_reply_statistics_of_hand_made_replies():
    replies = ["I don't know.", "i don't  know.", "Go home now", "yes"]
    stats = reply_stats("mine", replies)
    # Words: 3 + 3 + 3 + 1 = 10; unigrams: i, don't, know., go, home, now, yes = 7 distinct.
    # Bigrams: 2 + 2 + 2 + 0 = 6; distinct: (i don't), (don't know.), (go home), (home now).
    assert (stats.n_replies, stats.mean_length) == (4, 2.5)
    assert (stats.distinct_1, stats.distinct_2) == (None, None)  # below 100 n-grams: n/a
    assert (stats.distinct_1_ngrams, stats.distinct_2_ngrams) == (10, 6)
    assert stats.distinct_2_per_word == pytest.approx(4 / 10)  # Li et al.: over words
    assert stats.top1_share == 0.5  # the two "i don't know." are one reply
    assert stats.unique_share == 0.75


def test_distinct_n_is_given_from_one_hundred_ngrams():
    replies = [f"w{i} w{i + 1}" for i in range(100)]  # 200 words, 100 distinct bigrams
    stats = reply_stats("many", replies)
    assert stats.distinct_2 == 1.0 and stats.distinct_2_per_word == 0.5
    assert stats.distinct_1 == pytest.approx(101 / 200)


def test_gt_is_the_gold_replies_and_rt_one_training_reply_per_example_seeded():
    gold = ["a b", "c d", "e f"]
    train = ["what?", "no.", "x y z"]
    gt, rt = reference_rows(gold, train, seed=3)
    assert (gt.label, rt.label) == (GOLD, RANDOM_TRAIN)
    assert gt == reply_stats(GOLD, gold)
    assert rt.n_replies == 3 and rt == reference_rows(gold, train, seed=3)[1]
    drawn = {reference_rows(gold, train, seed=s)[1].mean_length for s in range(20)}
    assert drawn <= {1.0, 5 / 3, 7 / 3, 3.0} and len(drawn) > 1  # draws from `train` only
