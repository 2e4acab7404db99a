"""Does the reply answer the prompt? The candidates, their scores and the gold reply's rank:
what training's validation and `compare.py` share (`seq2seq.comparison.relevance` adds the
bootstrap intervals and the report's figures).

hits@k / MRR (ConvAI2's hits@1/20, ParlAI's `--rank-candidates`): each example's gold reply and
N-1 distractors are scored under teacher forcing given the example's prompt, ranked by mean NLL
per token (eos included; lower ranks first), and the gold reply's rank r gives hits@k = [r <= k]
and the reciprocal rank 1/r; ties count against the gold reply. Two distractor sets, drawn once
with a seed, so every model ranks the same candidates:

    random    replies of other examples, never one equal to the gold reply (compared
              lowercased, whitespace collapsed: `diversity.reply_key`) and no two alike
    generic   the N-1 most frequent replies of the training split other than the gold reply:
              does the model prefer the real reply to "what?" and "i don't know."?

PMI variant: the score is NLL(c | prompt) - NLL(c | empty prompt), both per token: what the
prompt adds to the reply's likelihood, which removes the plain score's preference for short,
frequent replies (Li et al., 2016's MMI-antiLM objective as a ranking score). The empty prompt
is a source of no tokens, scored in batches of empty sources only (so padding cannot differ).

Context gap (Sankar et al., 2019): the gold reply's NLL per token given another example's prompt
(a fixed derangement: nobody keeps their own) and given the empty prompt, minus the NLL given
its own prompt, pooled over tokens. Near 0: the model ignores its source.

References:
    Dinan et al., 2019, "The Second Conversational Intelligence Challenge (ConvAI2)" (hits@1/20).
    Miller et al., 2017, "ParlAI: A Dialog Research Software Platform".
    Sankar et al., 2019, "Do Neural Dialog Systems Use the Conversation History Effectively?
        An Empirical Study" (ACL).
    Li et al., 2016, "A Diversity-Promoting Objective Function for Neural Conversation Models".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from seq2seq.batching import make_batches
from seq2seq.diversity import reply_key
from seq2seq.errors import UserError
from seq2seq.models import Seq2SeqModel
from seq2seq.teacher_forcing import example_sums
from seq2seq.tokenizer import Tokenizer

CANDIDATES = 20  # ConvAI2's hits@1/20: the gold reply and 19 distractors
EMPTY = np.zeros(0, dtype=np.int64)
MAX_TOKENS = 8192  # padded src + target tokens per scoring batch: bounds the (B, T, V) logits


@dataclass(frozen=True)
class Distractors:
    """The candidates of every evaluated example, fixed before any model is scored.

    Attributes:
        random: (n, N-1) indices into the pool of replies (the evaluated examples' own).
        generic: (n, N-1) indices into `generic_replies`.
        generic_replies: the most frequent training replies (ids without bos/eos), most
            frequent first; generic_texts: the same as text.
        derangement: (n,) the example whose prompt each gold reply is given for the context gap
            (never its own).
    """

    random: np.ndarray
    generic: np.ndarray
    generic_replies: list[np.ndarray]
    generic_texts: list[str]
    derangement: np.ndarray

    @property
    def candidates(self) -> int:
        return self.random.shape[1] + 1


def derangement(n: int, rng: np.random.Generator) -> np.ndarray:
    """A random permutation of range(n) without fixed points: one cycle through every index."""
    if n < 2:
        raise UserError(f"the context gap needs at least 2 examples (got {n})")
    order = rng.permutation(n)
    result = np.empty(n, dtype=np.int64)
    result[order] = np.roll(order, -1)  # each index takes the next one's prompt on the cycle
    return result


def too_few_replies(
    pool_texts: Sequence[str], train_texts: Sequence[str], candidates: int
) -> str | None:
    """Why `candidates` candidates cannot be drawn from these replies (None: they can)."""
    for texts, where in ((pool_texts, "the examples"), (train_texts, "the training split")):
        different = len({reply_key(t) for t in texts})
        if different < candidates:
            return (f"only {different} different replies in {where}; hits@1/{candidates} "
                    f"needs {candidates}")
    return None


def random_distractors(
    gold_keys: Sequence[str], pool_keys: Sequence[str], count: int, rng: np.random.Generator
) -> np.ndarray:
    """For each gold reply, `count` indices into the pool whose replies differ from it and from
    each other (the pool holds at least count + 1 different replies: `too_few_replies`)."""
    out = np.empty((len(gold_keys), count), dtype=np.int64)
    for row, gold in enumerate(gold_keys):
        chosen: list[int] = []
        seen = {gold}
        while len(chosen) < count:
            # A few more than needed: most draws are kept, so one or two rounds suffice.
            for index in rng.choice(len(pool_keys), size=min(2 * count, len(pool_keys)),
                                    replace=False):
                if pool_keys[index] not in seen and len(chosen) < count:
                    seen.add(pool_keys[index])
                    chosen.append(int(index))
        out[row] = chosen
    return out


def frequent_replies(
    texts: Sequence[str], replies: Sequence[np.ndarray], count: int
) -> tuple[list[str], list[np.ndarray]]:
    """The `count` most frequent replies (compared by `reply_key`; ties in order of first
    appearance) as text and as the ids of their first occurrence."""
    keys = [reply_key(t) for t in texts]
    first = {}
    for i, key in enumerate(keys):
        first.setdefault(key, i)
    top = [key for key, _ in Counter(keys).most_common(count)]
    return [texts[first[k]] for k in top], [replies[first[k]] for k in top]


def generic_distractors(gold_keys: Sequence[str], pool_keys: Sequence[str], count: int
                        ) -> np.ndarray:
    """For each gold reply, the first `count` of the frequent replies (at least count + 1)
    that differ from it."""
    return np.array([[i for i, key in enumerate(pool_keys) if key != gold][:count]
                     for gold in gold_keys], dtype=np.int64).reshape(len(gold_keys), count)


def draw_distractors(
    gold_texts: Sequence[str],
    pool_texts: Sequence[str],
    train_texts: Sequence[str],
    train_replies: Sequence[np.ndarray],
    candidates: int,
    seed: int,
) -> Distractors:
    """Both distractor sets and the derangement, a pure function of the texts and `seed`.

    Args:
        gold_texts: the n evaluated examples' replies.
        pool_texts: the replies `random` draws from (the evaluated examples' own in a
            comparison, the whole validation split in training).
        train_texts, train_replies: the training split's replies (text, ids): `generic`.
        candidates: N, the gold reply included.

    Raises:
        UserError: fewer than 2 candidates, or too few different replies to draw them from.
    """
    if candidates < 2:
        raise UserError(f"ranking needs at least 2 candidates (got {candidates})")
    reason = too_few_replies(pool_texts, train_texts, candidates)
    if reason is not None:
        raise UserError(reason)
    rng = np.random.default_rng(seed)
    count = candidates - 1
    gold_keys = [reply_key(t) for t in gold_texts]
    random = random_distractors(gold_keys, [reply_key(t) for t in pool_texts], count, rng)
    texts, replies = frequent_replies(train_texts, train_replies, candidates)
    generic = generic_distractors(gold_keys, [reply_key(t) for t in texts], count)
    return Distractors(random, generic, replies, texts, derangement(len(gold_texts), rng))


def mean_nll(
    model: Seq2SeqModel, tokenizer: Tokenizer, src: Sequence[np.ndarray],
    tgt: Sequence[np.ndarray], batch_size: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(summed NLL, tokens, eos included) of each (src[i], tgt[i]) pair under teacher forcing,
    in length-sorted batches: two (P,) arrays."""
    batches = make_batches([len(s) for s in src], [len(t) for t in tgt], max_tokens=MAX_TOKENS,
                           batch_size=batch_size)
    nll_sum, _, n_tokens = example_sums(model, tokenizer, src, tgt, batches)
    return nll_sum, n_tokens


@dataclass
class CandidateScores:
    """Mean NLL per token of every candidate; column 0 is the gold reply.

    Attributes:
        random, generic: (n, N) given the example's prompt.
        random_empty, generic_empty: (n, N) the same candidates given the empty prompt (None
            when not scored).
        own, deranged, empty: (n,) summed NLL of the gold reply given its own prompt, the
            deranged prompt and the empty prompt (None when not scored); tokens: (n,) its tokens.
    """

    random: np.ndarray
    generic: np.ndarray
    random_empty: np.ndarray | None
    generic_empty: np.ndarray | None
    own: np.ndarray
    deranged: np.ndarray
    empty: np.ndarray | None
    tokens: np.ndarray


def score_candidates(
    model: Seq2SeqModel,
    tokenizer: Tokenizer,
    src: Sequence[np.ndarray],
    gold: Sequence[np.ndarray],
    pool: Sequence[np.ndarray],
    distractors: Distractors,
    batch_size: int,
    with_empty: bool = True,
) -> CandidateScores:
    """Score every candidate of every example (the model in eval mode).

    Args:
        src, gold: the n examples' prompts and replies (ids without bos/eos).
        pool: the replies `distractors.random` indexes.
        with_empty: also score the empty prompt (the PMI variant and the empty context gap):
            once per distinct reply, since it does not depend on the example.
    """
    n, count = distractors.random.shape
    pairs_src = [s for s in src for _ in range(count)]
    random_sum, random_tokens = mean_nll(
        model, tokenizer, pairs_src, [pool[j] for row in distractors.random for j in row],
        batch_size,
    )
    generic_sum, generic_tokens = mean_nll(
        model, tokenizer, pairs_src,
        [distractors.generic_replies[j] for row in distractors.generic for j in row], batch_size,
    )
    own, tokens = mean_nll(model, tokenizer, src, gold, batch_size)
    deranged, _ = mean_nll(model, tokenizer, [src[j] for j in distractors.derangement], gold,
                           batch_size)
    gold_mean = (own / tokens)[:, None]
    scores = CandidateScores(
        random=np.hstack([gold_mean, (random_sum / random_tokens).reshape(n, count)]),
        generic=np.hstack([gold_mean, (generic_sum / generic_tokens).reshape(n, count)]),
        random_empty=None, generic_empty=None, own=own, deranged=deranged, empty=None,
        tokens=tokens,
    )
    if with_empty:
        replies = [*gold, *pool, *distractors.generic_replies]
        sums, counts = mean_nll(model, tokenizer, [EMPTY] * len(replies), replies, batch_size)
        means = sums / counts
        gold_empty, pool_empty = means[:n], means[n : n + len(pool)]
        generic_empty = means[n + len(pool) :]
        scores.empty = sums[:n]
        scores.random_empty = np.hstack([gold_empty[:, None], pool_empty[distractors.random]])
        scores.generic_empty = np.hstack([gold_empty[:, None],
                                          generic_empty[distractors.generic]])
    return scores


def gold_ranks(scores: np.ndarray) -> np.ndarray:
    """(n,) rank of column 0 among the (n, N) scores, lower first: 1 + the distractors scoring
    at most as well (ties count against the gold reply)."""
    return 1 + (scores[:, 1:] <= scores[:, :1]).sum(axis=1)


def headline(scores: CandidateScores) -> dict[str, float]:
    """The figures without intervals (what validation logs): hits1_random, hits1_generic (by
    mean NLL per token) and context_gap (deranged - own prompt, nats per token)."""
    return {"hits1_random": float((gold_ranks(scores.random) == 1).mean()),
            "hits1_generic": float((gold_ranks(scores.generic) == 1).mean()),
            "context_gap": float((scores.deranged - scores.own).sum() / scores.tokens.sum())}
