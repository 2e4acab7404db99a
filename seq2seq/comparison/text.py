"""Reply-level text statistics: BLEU, distinct-n, reply length and the most frequent replies.

All statistics split replies on whitespace and lowercase them, so they mean the same for every
tokenizer; BLEU uses sacrebleu's own tokenizer ("13a") and reports its signature.

References:
    Papineni et al., 2002, "BLEU: a Method for Automatic Evaluation of Machine Translation".
    Post, 2018, "A Call for Clarity in Reporting BLEU Scores" (sacrebleu).
    Li et al., 2016, "A Diversity-Promoting Objective Function for Neural Conversation Models"
        (distinct-1 / distinct-2).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sacrebleu.metrics import BLEU

TOP_REPLIES = 10  # the "i don't know" problem is visible in the ten most frequent replies


def words(text: str) -> list[str]:
    """Lowercased whitespace-separated words of a reply."""
    return text.lower().split()


def distinct_n(replies: list[str], n: int) -> float:
    """Unique n-grams / total n-grams over all replies (n-grams never cross replies).

    0.0 when the replies hold no n-gram at all (e.g. all shorter than n words).
    """
    total = 0
    unique: set[tuple[str, ...]] = set()
    for reply in replies:
        tokens = words(reply)
        grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
        total += len(grams)
        unique.update(grams)
    return len(unique) / total if total else 0.0


def mean_length(replies: list[str]) -> float:
    """Mean number of whitespace-separated words per reply (0.0 for no replies)."""
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
    counts = Counter(" ".join(words(r)) for r in replies)
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


def reference_words(references: list[str]) -> int:
    """Word count for word-level perplexity: whitespace words of each reference + 1 for eos.

    Counting the end of each reply as one more "word" follows word-level language-model
    practice (Penn Treebank perplexities count <eos>); the model is charged for predicting it
    in the token-level NLL too, so the two perplexities rest on the same events. The same NLL
    over a tokenizer-independent count makes runs with different subword vocabularies
    comparable (given the same text normalisation).
    """
    return sum(len(r.split()) + 1 for r in references)


@dataclass(frozen=True)
class BleuScore:
    """Corpus BLEU with the sacrebleu signature needed to reproduce it."""

    score: float
    signature: str
    detail: str  # sacrebleu's one-line summary: n-gram precisions, brevity penalty, lengths


def corpus_bleu(hypotheses: list[str], references: list[str], lowercase: bool = True) -> BleuScore:
    """Corpus-level BLEU of one hypothesis per reference (a single reference each).

    Lowercased by default: chat replies differ in casing more than in content, and a tokenizer
    with the tutorial's normalisation generates lowercase text only.
    """
    metric = BLEU(lowercase=lowercase)
    result = metric.corpus_score(hypotheses, [references])
    return BleuScore(result.score, str(metric.get_signature()), str(result))
