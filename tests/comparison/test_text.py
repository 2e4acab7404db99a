import pytest

from seq2seq.comparison.text import (
    corpus_bleu,
    distinct_n,
    mean_length,
    reference_words,
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


def test_reference_words_add_one_per_reply_for_eos():
    assert reference_words(["hello there", "", "a b c"]) == 3 + 1 + 4


def test_corpus_bleu_is_100_for_identical_text_and_reports_its_signature():
    refs = ["where are you going ?", "i am going home now ."]
    assert corpus_bleu(refs, refs).score == pytest.approx(100.0)
    assert corpus_bleu([r.upper() for r in refs], refs).score == pytest.approx(100.0)
    assert corpus_bleu(["nothing alike at all"] * 2, refs).score < 1.0
    signature = corpus_bleu(refs, refs).signature
    assert "tok:13a" in signature and "case:lc" in signature
