"""How generic a set of replies is: distinct-n, reply length and the most frequent replies.

One owner for the reply statistics that both training (every validation decodes a fixed sample
of prompts greedily) and `compare.py` (the test split) report, so `valid/distinct_2` in
TensorBoard and "distinct-2" in a comparison report are the same number on different prompts.

All statistics count lowercased words as `seq2seq.words` defines them (whitespace-separated, and
each CJK character one word), so they mean the same for every tokenizer and language.
distinct-n is reported with the n-gram count it rests on: a handful of n-grams makes any ratio
meaningless, so below `MIN_NGRAMS` the tables say "n/a".

Two definitions of distinct-n are in use. This repo's `distinct_n` divides the distinct n-grams
by all n-grams of the replies (a share: 1.0 when no n-gram repeats, whatever the length); Li et
al. (2016: "the number of distinct unigrams and bigrams ... scaled by total number
of generated tokens") divide by the generated words (`distinct_n_per_word`). They agree for
n = 1; for n = 2 Li et al.'s is smaller by the factor bigrams / words (one bigram fewer than
words per reply), so short replies lower it. Reports give both for n = 2.

References:
    Li et al., 2016, "A Diversity-Promoting Objective Function for Neural Conversation Models"
        (distinct-1 / distinct-2).
    Csáky et al., 2019, "Improving Neural Conversational Models with Entropy-Based Data
        Filtering" (the most frequent reply's share at the validation-loss minimum).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from seq2seq.words import words

TOP_REPLIES = 10  # the "i don't know" problem is visible in the ten most frequent replies
MIN_NGRAMS = 100  # fewer n-grams than this and distinct-n is shown as "n/a"


def reply_key(text: str) -> str:
    """What makes two replies the same reply: their text, lowercased, whitespace collapsed."""
    return " ".join(text.lower().split())


def ngram_counts(replies: list[str], n: int) -> tuple[int, int]:
    """(unique n-grams, total n-grams) over all replies; n-grams never cross replies."""
    total = 0
    unique: set[tuple[str, ...]] = set()
    for reply in replies:
        tokens = words(reply)
        grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
        total += len(grams)
        unique.update(grams)
    return len(unique), total


def distinct_n(replies: list[str], n: int) -> float:
    """Unique n-grams / total n-grams over all replies (n-grams never cross replies).

    0.0 when the replies hold no n-gram at all (e.g. all shorter than n words).
    """
    unique, total = ngram_counts(replies, n)
    return unique / total if total else 0.0


def distinct_n_per_word(replies: list[str], n: int) -> float:
    """Li et al. (2016)'s distinct-n: unique n-grams / generated words (0.0 without words)."""
    unique, _ = ngram_counts(replies, n)
    total_words = sum(len(words(r)) for r in replies)
    return unique / total_words if total_words else 0.0


def distinct_or_none(replies: list[str], n: int) -> tuple[float | None, int]:
    """(distinct-n, its n-gram count) as reports show it: None below `MIN_NGRAMS` n-grams."""
    unique, total = ngram_counts(replies, n)
    return (unique / total if total >= MIN_NGRAMS else None), total


def mean_length(replies: list[str]) -> float:
    """Mean number of words per reply (0.0 for no replies)."""
    return sum(len(words(r)) for r in replies) / len(replies) if replies else 0.0


@dataclass(frozen=True)
class ReplyCounts:
    """How concentrated the replies are on a few generic answers.

    Attributes:
        top: the `TOP_REPLIES` most frequent replies (lowercased, whitespace-normalised) with
            their counts, most frequent first (ties in order of first appearance).
        top1_share: share of all replies that are the single most frequent one.
        top10_share: share of all replies that are one of the `top` replies.
        unique_share: distinct replies / replies.
    """

    top: list[tuple[str, int]]
    top1_share: float
    top10_share: float
    unique_share: float


def reply_counts(replies: list[str], k: int = TOP_REPLIES) -> ReplyCounts:
    """Count identical replies (compared lowercased with whitespace collapsed)."""
    counts = Counter(reply_key(r) for r in replies)
    top = counts.most_common(k)
    n = len(replies)
    if n == 0:
        return ReplyCounts([], 0.0, 0.0, 0.0)
    return ReplyCounts(
        top=top,
        top1_share=top[0][1] / n,
        top10_share=sum(c for _, c in top) / n,
        unique_share=len(counts) / n,
    )


def diversity_scalars(replies: list[str]) -> dict[str, float]:
    """The reply-diversity numbers logged at every validation, under `valid/<key>`.

    Keys: distinct_1, distinct_2 and the n-gram counts they rest on (distinct_1_ngrams,
    distinct_2_ngrams), distinct_bigrams (how many different bigrams: distinct-2 times its
    count), distinct_replies (share of distinct replies), top_reply_share (the most frequent
    reply's share) and reply_length (mean words per reply).
    """
    counts = reply_counts(replies, k=1)
    scalars: dict[str, float] = {}
    for n in (1, 2):
        unique, total = ngram_counts(replies, n)
        scalars[f"distinct_{n}"] = unique / total if total else 0.0
        scalars[f"distinct_{n}_ngrams"] = float(total)
        if n == 2:
            scalars["distinct_bigrams"] = float(unique)
    scalars["distinct_replies"] = counts.unique_share
    scalars["top_reply_share"] = counts.top1_share
    scalars["reply_length"] = mean_length(replies)
    return scalars
