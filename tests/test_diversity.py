import pytest

from seq2seq.diversity import (
    MIN_NGRAMS,
    distinct_n,
    distinct_n_per_word,
    distinct_or_none,
    diversity_scalars,
    mean_length,
    ngram_counts,
    reply_counts,
)

REPLIES = ["I don't know", "i don't know .", "Where is he ?", "I know"]


def test_distinct_n_on_known_replies():
    # unigrams: i don't know | i don't know . | where is he ? | i know -> 13 total,
    # unique {i, don't, know, ., where, is, he, ?} = 8
    assert distinct_n(REPLIES, 1) == pytest.approx(8 / 13)
    # bigrams: 2 + 3 + 3 + 1 = 9 total; unique: (i don't) (don't know) (know .) (where is)
    # (is he) (he ?) (i know) = 7
    assert distinct_n(REPLIES, 2) == pytest.approx(7 / 9)


def test_li_et_al_distinct_n_divides_by_words():
    # Same replies: 13 words; for n = 1 the two definitions agree, for n = 2 Li et al.'s is
    # 7 distinct bigrams over 13 words, not over 9 bigrams.
    assert distinct_n_per_word(REPLIES, 1) == distinct_n(REPLIES, 1)
    assert distinct_n_per_word(REPLIES, 2) == pytest.approx(7 / 13)
    assert distinct_n_per_word([], 2) == 0.0


def test_distinct_n_ignores_case_and_never_crosses_replies():
    assert distinct_n(["a b", "A B"], 2) == pytest.approx(1 / 2)
    assert distinct_n(["a", "b"], 2) == 0.0  # no bigram inside any reply
    assert distinct_n([], 1) == 0.0


def test_mean_length_counts_whitespace_words():
    assert mean_length(REPLIES) == pytest.approx((3 + 4 + 4 + 2) / 4)
    assert mean_length([]) == 0.0


def test_reply_counts_find_the_generic_reply():
    counts = reply_counts(["I don't know", "i  don't know", "yes", "no", "I don't know"], k=2)
    assert counts.top == [("i don't know", 3), ("yes", 1)]
    assert counts.top1_share == pytest.approx(3 / 5)
    assert counts.top10_share == pytest.approx(4 / 5)
    assert counts.unique_share == pytest.approx(3 / 5)


def test_ngram_counts_say_what_distinct_n_rests_on():
    assert ngram_counts(REPLIES, 1) == (8, 13)
    assert ngram_counts(REPLIES, 2) == (7, 9)
    # One 5-word reply among one-word replies: distinct-2 is 1.0 over only 4 bigrams.
    replies = ["yes"] * 50 + ["what are you doing here"]
    assert distinct_n(replies, 2) == 1.0
    assert ngram_counts(replies, 2)[1] == 4 < MIN_NGRAMS
    assert distinct_or_none(replies, 2) == (None, 4)  # reports say n/a, not 1.0000
    assert distinct_or_none(replies * 30, 1) == (6 / 1650, 1650)


def test_diversity_scalars_on_hand_made_replies():
    replies = ["I'm not sure.", "i'm not sure.", "I'm not sure.", "Where is he?", "no"]
    scalars = diversity_scalars(replies)
    # unigrams: 3+3+3+3+1 = 13, unique {i'm, not, sure., where, is, he?, no} = 7
    assert scalars["distinct_1"] == pytest.approx(7 / 13)
    assert scalars["distinct_1_ngrams"] == 13
    # bigrams: 2+2+2+2+0 = 8, unique {i'm not, not sure., where is, is he?} = 4
    assert scalars["distinct_2"] == pytest.approx(4 / 8)
    assert scalars["distinct_2_ngrams"] == 8
    assert scalars["distinct_bigrams"] == 4
    assert scalars["distinct_replies"] == pytest.approx(3 / 5)
    assert scalars["top_reply_share"] == pytest.approx(3 / 5)
    assert scalars["reply_length"] == pytest.approx(13 / 5)


def test_diversity_scalars_of_no_replies_are_zero():
    assert set(diversity_scalars([]).values()) == {0.0}


def test_chinese_replies_count_characters_as_words():
    replies = ["我不知道。", "我不知道", "你好吗？"]
    assert mean_length(replies) == (5 + 4 + 4) / 3
    assert ngram_counts(replies, 2) == (7, 10)  # 我不 不知 知道 道。 你好 好吗 吗？
    counts = reply_counts(replies)
    assert counts.top == [("我不知道。", 1), ("我不知道", 1), ("你好吗？", 1)]  # as written
