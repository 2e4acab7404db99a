"""Reference-based text statistics: BLEU and the word count of word-level perplexity.

The reply-diversity statistics (distinct-n, reply length, the most frequent replies) live in
`seq2seq.diversity`, shared with training. Words are `seq2seq.words`' (each CJK character one
word); BLEU uses sacrebleu's tokenizer for the text's script ("13a", or "zh" for text with CJK
characters) and reports its signature.

References:
    Papineni et al., 2002, "BLEU: a Method for Automatic Evaluation of Machine Translation".
    Post, 2018, "A Call for Clarity in Reporting BLEU Scores" (sacrebleu).
"""

from __future__ import annotations

from dataclasses import dataclass

from sacrebleu.metrics import BLEU

from seq2seq.words import bleu_tokenizer, words


def reference_words(references: list[str]) -> int:
    """Word count for word-level perplexity: the words of each reference + 1 for eos.

    Counting the end of each reply as one more "word" follows word-level language-model
    practice (Penn Treebank perplexities count <eos>); the model is charged for predicting it
    in the token-level NLL too, so the two perplexities rest on the same events. The same NLL
    over a tokenizer-independent count makes runs with different subword vocabularies
    comparable (given the same text normalisation).
    """
    return sum(len(words(r)) + 1 for r in references)


@dataclass(frozen=True)
class BleuScore:
    """Corpus BLEU with the sacrebleu signature needed to reproduce it."""

    score: float
    signature: str
    detail: str  # sacrebleu's one-line summary: n-gram precisions, brevity penalty, lengths


def corpus_bleu(hypotheses: list[str], references: list[str], lowercase: bool = True) -> BleuScore:
    """Corpus-level BLEU of one hypothesis per reference (a single reference each).

    Lowercased by default: chat replies differ in casing more than in content, and a tokenizer
    with the tutorial's normalisation generates lowercase text only. Tokenised by
    `seq2seq.words.bleu_tokenizer`: "zh" when any text holds a CJK character.
    """
    metric = BLEU(lowercase=lowercase, tokenize=bleu_tokenizer(hypotheses + references))
    result = metric.corpus_score(hypotheses, [references])
    return BleuScore(result.score, str(metric.get_signature()), str(result))
