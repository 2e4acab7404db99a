"""Turning a trained model into replies: greedy search, beam search and sampling.

Every strategy uses only the model interface (`encode`, `decode_step`, `reorder_state`), as
fairseq's `search.py` and OpenNMT-py's `DecodeStrategy` keep decoding apart from the models:

    result = generate(model, src, src_mask, config.decode, bos_id=tok.bos_id, eos_id=tok.eos_id)
    replies = [tok.decode(ids) for ids in result.tokens]

Three logits processors are shared by all strategies and applied before the log-softmax:
    - repetition penalty (CTRL, Keskar et al., 2019): a positive logit of an already generated
      token is divided by the penalty, a negative one multiplied by it;
    - no-repeat-n-gram blocking (Paulus et al., 2017): a token that would complete an n-gram
      already generated is forbidden;
    - minimum length: eos is forbidden until `min_len` tokens have been generated.
bos and pad are never generated: neither can be the next token of a reply.

Beam search divides a finished hypothesis' summed log-probability by `length ** length_penalty`,
where length counts the generated tokens including eos (0 turns the penalty off, 1 averages).

The caller's model is put in eval mode (no dropout) for the duration of a call and restored after.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from seq2seq.config import STRATEGIES, DecodeConfig
from seq2seq.errors import ConfigError
from seq2seq.models.base import Memory, Seq2SeqModel

NEG_INF = float("-inf")


@dataclass
class DecodeResult:
    """Replies for a batch of sources.

    Attributes:
        tokens: one list of token ids per source, without bos or eos.
        scores: one score per source: the summed log-probabilities of the chosen tokens (eos
            included) for greedy and sampling, the length-penalised score for beam search.
        attention: when requested, one (T_out, H, S_real) tensor per source on the CPU: the
            cross-attention of the step that produced each returned token, over the real
            (unpadded) source tokens; T_out == len(tokens[i]).
        nbest: beam search with `nbest` > 1 only: per source, the best finished hypotheses as
            (tokens, length-penalised score), best first; the first is `tokens[i]`.
    """

    tokens: list[list[int]]
    scores: list[float]
    attention: list[Tensor] | None = None
    nbest: list[list[tuple[list[int], float]]] | None = None


def generate(
    model: Seq2SeqModel,
    src: Tensor,
    src_mask: Tensor,
    config: DecodeConfig,
    *,
    bos_id: int,
    eos_id: int,
    generator: torch.Generator | None = None,
    need_attention: bool = False,
    nbest: int = 1,
) -> DecodeResult:
    """Decode a batch with the strategy and settings of a `DecodeConfig`.

    Args:
        model: any `Seq2SeqModel`.
        src: (B, S) source ids, right-padded; src_mask: (B, S) bool, True on real tokens.
        config: `config.strategy` picks greedy, beam or sample; its other fields are passed on
            (those a strategy does not use are ignored).
        bos_id, eos_id: the tokenizer's ids.
        generator: random numbers for sampling (None: torch's global generator).
        need_attention: also return the cross-attention of every generated token.
        nbest: with beam search, also return the `nbest` best hypotheses (ignored otherwise).
    """
    common = dict(
        bos_id=bos_id,
        eos_id=eos_id,
        max_len=config.max_len,
        min_len=config.min_len,
        repetition_penalty=config.repetition_penalty,
        no_repeat_ngram=config.no_repeat_ngram,
        need_attention=need_attention,
    )
    if config.strategy == "greedy":
        return greedy(model, src, src_mask, **common)
    if config.strategy == "beam":
        return beam_search(
            model, src, src_mask, beam_size=config.beam_size,
            length_penalty=config.length_penalty, nbest=nbest, **common,
        )
    if config.strategy == "sample":
        return sample(
            model, src, src_mask, temperature=config.temperature, top_k=config.top_k,
            top_p=config.top_p, generator=generator, **common,
        )
    raise ConfigError(f"decode.strategy: {config.strategy!r} is not one of {', '.join(STRATEGIES)}")


@dataclass(frozen=True)
class Rules:
    """What every strategy enforces at each step: the special tokens and the processors."""

    bos_id: int
    eos_id: int
    pad_id: int
    min_len: int
    repetition_penalty: float
    no_repeat_ngram: int


# --- logits processors shared by every strategy ---------------------------------------------


def penalize_repetition(logits: Tensor, history: Tensor, penalty: float) -> Tensor:
    """CTRL's repetition penalty on tokens already in `history`.

    Args:
        logits: (N, V) next-token logits.
        history: (N, t) tokens generated so far.
        penalty: >= 1; 1 leaves the logits unchanged.

    Returns:
        (N, V) logits: each generated token's logit divided by `penalty` when positive,
        multiplied by it when negative, once however often the token occurred.
    """
    if penalty == 1.0 or history.size(1) == 0:
        return logits
    seen = logits.gather(1, history)  # (N, t); repeated tokens gather the same value
    seen = torch.where(seen > 0, seen / penalty, seen * penalty)
    return logits.scatter(1, history, seen)


def block_repeated_ngrams(logits: Tensor, history: Tensor, n: int) -> Tensor:
    """Forbid every token that would repeat an n-gram of `history`.

    Args:
        logits: (N, V) next-token logits.
        history: (N, t) tokens generated so far.
        n: the n-gram size; 0 turns blocking off.

    Returns:
        (N, V) logits with -inf on each token that, appended to the last n - 1 tokens, would
        form an n-gram that already occurs in `history`.
    """
    if n == 0 or history.size(1) < n:
        return logits
    ngrams = history.unfold(1, n, 1)  # (N, t - n + 1, n)
    prefix = history[:, history.size(1) - n + 1 :]  # (N, n - 1)
    matches = (ngrams[:, :, :-1] == prefix[:, None, :]).all(-1)  # (N, t - n + 1)
    # scatter_add counts the matches per candidate token, so duplicates cannot overwrite a hit
    hits = torch.zeros_like(logits).scatter_add_(1, ngrams[:, :, -1], matches.to(logits.dtype))
    return logits.masked_fill(hits > 0, NEG_INF)


def forbid_tokens(logits: Tensor, token_ids: list[int]) -> Tensor:
    """-inf on the logits of `token_ids` for every row: (N, V) -> (N, V)."""
    logits = logits.clone()
    logits[:, token_ids] = NEG_INF
    return logits


def next_log_probs(
    logits: Tensor, history: Tensor, rules: Rules, temperature: float = 1.0
) -> Tensor:
    """Apply the shared processors and the temperature, then normalise.

    Args:
        logits: (N, V) raw logits from `decode_step`.
        history: (N, t) tokens generated so far (t is the step).

    Returns:
        (N, V) log-probabilities. A row whose every token is forbidden (possible with strict
        n-gram blocking on a tiny vocabulary) gets eos, so decoding always ends.
    """
    logits = penalize_repetition(logits.float(), history, rules.repetition_penalty)
    logits = block_repeated_ngrams(logits, history, rules.no_repeat_ngram)
    forbidden = [rules.bos_id, rules.pad_id]
    if history.size(1) < rules.min_len:
        forbidden.append(rules.eos_id)
    logits = forbid_tokens(logits, forbidden)
    dead = torch.isinf(logits).all(-1)  # (N,)
    logits[:, rules.eos_id] = torch.where(dead, 0.0, logits[:, rules.eos_id])
    return torch.log_softmax(logits / temperature, dim=-1)


# --- greedy search and sampling: one hypothesis per source ----------------------------------


Chooser = Callable[[Tensor], tuple[Tensor, Tensor]]


def greedy(
    model: Seq2SeqModel,
    src: Tensor,
    src_mask: Tensor,
    *,
    bos_id: int,
    eos_id: int,
    max_len: int,
    min_len: int = 0,
    repetition_penalty: float = 1.0,
    no_repeat_ngram: int = 0,
    need_attention: bool = False,
) -> DecodeResult:
    """The most probable token at every step, for a batch at once.

    Args:
        model: any `Seq2SeqModel`.
        src: (B, S) source ids, right-padded; src_mask: (B, S) bool, True on real tokens.
        bos_id, eos_id: the tokenizer's ids.
        max_len: new tokens at most (eos included); each row stops at its own eos.
        min_len, repetition_penalty, no_repeat_ngram: see the module docstring.
        need_attention: also return each step's cross-attention.
    """

    def choose(log_probs: Tensor) -> tuple[Tensor, Tensor]:
        scores, tokens = log_probs.max(-1)
        return tokens, scores

    rules = Rules(bos_id, eos_id, model.pad_id, min_len, repetition_penalty, no_repeat_ngram)
    return decode_one_path(model, src, src_mask, choose, rules, max_len, 1.0, need_attention)


def sample(
    model: Seq2SeqModel,
    src: Tensor,
    src_mask: Tensor,
    *,
    bos_id: int,
    eos_id: int,
    max_len: int,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    min_len: int = 0,
    repetition_penalty: float = 1.0,
    no_repeat_ngram: int = 0,
    generator: torch.Generator | None = None,
    need_attention: bool = False,
) -> DecodeResult:
    """Ancestral sampling with temperature, top-k (Fan et al., 2018) and nucleus (top-p,
    Holtzman et al., 2020) filtering.

    Arguments as for `greedy`, plus:
        temperature: > 0; divides the logits (below 1 sharpens, above 1 flattens).
        top_k: sample among the k most probable tokens only (0: all).
        top_p: sample among the smallest set of most probable tokens whose probability
            reaches top_p (1.0: all).
        generator: a seeded `torch.Generator` (on the model's device) for reproducible replies.

    Scores are log-probabilities under the distribution each token was drawn from (after
    temperature and filtering).
    """

    def choose(log_probs: Tensor) -> tuple[Tensor, Tensor]:
        log_probs = torch.log_softmax(filter_top_k_top_p(log_probs, top_k, top_p), dim=-1)
        tokens = torch.multinomial(log_probs.exp(), 1, generator=generator).squeeze(1)
        return tokens, log_probs.gather(1, tokens[:, None]).squeeze(1)

    rules = Rules(bos_id, eos_id, model.pad_id, min_len, repetition_penalty, no_repeat_ngram)
    return decode_one_path(
        model, src, src_mask, choose, rules, max_len, temperature, need_attention
    )


def filter_top_k_top_p(log_probs: Tensor, top_k: int, top_p: float) -> Tensor:
    """-inf outside the top-k tokens and outside the top-p nucleus: (N, V) -> (N, V)."""
    if 0 < top_k < log_probs.size(-1):
        kept = log_probs.topk(top_k, dim=-1).indices  # (N, k)
        keep = torch.zeros_like(log_probs, dtype=torch.bool).scatter_(1, kept, True)
        log_probs = log_probs.masked_fill(~keep, NEG_INF)
    if top_p < 1.0:
        sorted_log_probs, order = log_probs.sort(dim=-1, descending=True)
        probs = torch.softmax(sorted_log_probs, dim=-1)
        # keep a token while the mass before it is still short of top_p: the first always stays
        mass_before = probs.cumsum(-1) - probs
        drop_sorted = mass_before >= top_p
        drop = torch.zeros_like(drop_sorted).scatter_(1, order, drop_sorted)
        log_probs = log_probs.masked_fill(drop, NEG_INF)
    return log_probs


def decode_one_path(
    model: Seq2SeqModel,
    src: Tensor,
    src_mask: Tensor,
    choose: Chooser,
    rules: Rules,
    max_len: int,
    temperature: float,
    need_attention: bool,
) -> DecodeResult:
    """The loop shared by greedy search and sampling; `choose` maps (B, V) log-probabilities
    to the (B,) next tokens and their (B,) scores."""
    with eval_mode(model), torch.inference_mode():
        batch_size = src.size(0)
        memory = model.encode(src, src_mask)
        tokens = torch.full((batch_size,), rules.bos_id, dtype=torch.long, device=src.device)
        history = tokens.new_empty((batch_size, 0))  # (B, t) generated tokens
        scores = torch.zeros(batch_size, device=src.device)
        finished = torch.zeros(batch_size, dtype=torch.bool, device=src.device)
        state, attention = None, []
        for _ in range(max_len):
            logits, state = model.decode_step(tokens, memory, state, need_attention)
            log_probs = next_log_probs(logits, history, rules, temperature)
            tokens, token_scores = choose(log_probs)
            # a finished row keeps emitting eos, which adds nothing and is cut off below
            tokens = tokens.masked_fill(finished, rules.eos_id)
            scores += token_scores.masked_fill(finished, 0.0)
            history = torch.cat([history, tokens[:, None]], dim=1)
            if need_attention:
                attention.append(state.cross_attention)  # (B, H, S)
            finished |= tokens == rules.eos_id
            if finished.all():
                break
        steps = torch.stack(attention, dim=1) if need_attention else None  # (B, T, H, S)
        return make_result(history, scores, steps, src_mask, rules.eos_id)


def make_result(
    history: Tensor, scores: Tensor, attention: Tensor | None, src_mask: Tensor, eos_id: int
) -> DecodeResult:
    """Cut each row at its first eos and trim its attention to the real source tokens.

    Args:
        history: (B, T) generated tokens; scores: (B,); attention: (B, T, H, S) or None.
    """
    tokens = []
    for row in history.tolist():
        tokens.append(row[: row.index(eos_id)] if eos_id in row else row)
    trimmed = None
    if attention is not None:
        trimmed = [
            attention[i, : len(ids)][:, :, src_mask[i]].float().cpu()
            for i, ids in enumerate(tokens)
        ]
    return DecodeResult(tokens, scores.tolist(), trimmed)


@contextmanager
def eval_mode(model: Seq2SeqModel) -> Iterator[None]:
    """Decode without dropout, then give the model back in the mode it came in."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


# --- beam search -----------------------------------------------------------------------------


def beam_search(
    model: Seq2SeqModel,
    src: Tensor,
    src_mask: Tensor,
    *,
    bos_id: int,
    eos_id: int,
    max_len: int,
    beam_size: int = 5,
    length_penalty: float = 1.0,
    min_len: int = 0,
    repetition_penalty: float = 1.0,
    no_repeat_ngram: int = 0,
    need_attention: bool = False,
    nbest: int = 1,
) -> DecodeResult:
    """Beam search keeping `beam_size` unfinished hypotheses per source, as fairseq does.

    At every step the 2K best extensions of a source's K hypotheses are ranked. An eos among the
    first K of them finishes its hypothesis, scored as `log p / length ** length_penalty`
    (length counts eos); the best finished one is kept per source. An eos ranked lower finishes
    nothing (it would favour short replies whatever their rank), and the K best other
    extensions form the next beam. A source is done once K hypotheses have finished and the
    best of them scores above every live hypothesis as it stands (Hugging Face's rule), or
    when its best finished score cannot be beaten at all: log-probabilities only fall, so no
    live hypothesis can end above `its score / max_len ** length_penalty`. Hypotheses still
    alive after `max_len` steps compete as if finished there. A beam of one is greedy search.

    Arguments as for `greedy`, plus `beam_size` (>= 1) and `length_penalty` (>= 0); with
    `nbest` > 1 every finished candidate is kept, the search runs until the `nbest`-th best
    of each source cannot be beaten, and `DecodeResult.nbest` lists them.
    """
    rules = Rules(bos_id, eos_id, model.pad_id, min_len, repetition_penalty, no_repeat_ngram)
    finished = Finished(src.size(0)) if nbest > 1 else None
    with eval_mode(model), torch.inference_mode():
        beams = Beams(model.encode(src, src_mask), src.size(0), beam_size, max_len, rules)
        for step in range(max_len):
            logits, beams.state = model.decode_step(
                beams.tokens, beams.memory, beams.state, need_attention
            )
            log_probs = next_log_probs(logits, beams.history, rules)
            total = beams.scores.view(-1, 1) + log_probs  # (B * K, V)
            vocab_size = total.size(1)
            scores, flat = total.view(-1, beam_size * vocab_size).topk(2 * beam_size, dim=-1)
            beam, tokens = flat // vocab_size, flat % vocab_size  # (B, 2K) each
            ends = (tokens == eos_id) & torch.isfinite(scores)
            ends[:, beam_size:] = False  # only an eos among the K best finishes a hypothesis
            ends &= ~beams.done[:, None]
            candidates = torch.where(ends, scores / (step + 1) ** length_penalty, NEG_INF)
            beams.keep_best_finished(candidates, beam)
            if finished is not None:
                finished.add(beams.history, candidates, beam, beams.first_rows)
            beams.finished += ends.sum(-1)
            if need_attention:
                beams.record_attention(beams.state.cross_attention)
            # at most K of the 2K are eos, so K other extensions always remain
            scores = scores.masked_fill(tokens == eos_id, NEG_INF)
            beams.advance(model, scores, beam, tokens)
            live = beams.scores.max(-1).values  # (B,)
            # with an n-best list, the n-th best finished hypothesis must be safe, not the best
            kept = beams.best_scores if finished is None else finished.nth_best(nbest).to(
                live.device
            )
            ahead = kept >= live / (step + 1) ** length_penalty
            unbeatable = kept >= live / max_len**length_penalty
            beams.done |= ((beams.finished >= beam_size) & ahead) | unbeatable
            if beams.done.all():
                break
        else:
            last = beams.scores.masked_fill(beams.done[:, None], NEG_INF)
            beams.keep_best_finished(last / max_len**length_penalty, beams.own_rows)
            if finished is not None:
                finished.add(beams.history, last / max_len**length_penalty, beams.own_rows,
                              beams.first_rows)
        attention = beams.best_attention if need_attention else None
        result = make_result(beams.best_history, beams.best_scores, attention, src_mask, eos_id)
        if finished is not None:
            result.nbest = finished.best(nbest)
        return result



def token_scores(
    model: Seq2SeqModel,
    src: Tensor,
    src_mask: Tensor,
    hypotheses: list[list[int]],
    config: DecodeConfig,
    *,
    bos_id: int,
    eos_id: int,
) -> list[list[float]]:
    """Each token's log-probability in replies to one source, as beam search scored it.

    fairseq-interactive's positional scores (its P lines): the hypotheses are fed back one
    token at a time through `decode_step`, under the same processors (repetition penalty,
    n-gram blocking, minimum length) and without temperature, as `beam_search` does. A reply
    shorter than `config.max_len` ended with eos, whose score comes last; their sum is the
    reply's log-probability before the length penalty.

    Args:
        src: (1, S) one source; src_mask: (1, S).
        hypotheses: token ids without bos or eos, e.g. `DecodeResult.nbest[0]`'s.

    Returns:
        one list per hypothesis: len(tokens) + 1 scores (the last for eos), or len(tokens)
        for a reply cut at `config.max_len`.
    """
    if not hypotheses:
        return []
    rules = Rules(bos_id, eos_id, model.pad_id, config.min_len, config.repetition_penalty,
                  config.no_repeat_ngram)
    lengths = [len(tokens) + (len(tokens) < config.max_len) for tokens in hypotheses]
    steps = max(lengths)
    # each row: its tokens, then eos repeated (scores past a row's end are cut off below)
    fed = torch.full((len(hypotheses), steps), eos_id, device=src.device)
    for row, tokens in enumerate(hypotheses):
        fed[row, : len(tokens)] = torch.tensor(tokens, dtype=torch.long)
    with eval_mode(model), torch.inference_mode():
        memory = model.encode(src, src_mask).index_select(
            torch.zeros(len(hypotheses), dtype=torch.long, device=src.device)
        )
        tokens = torch.full((len(hypotheses),), bos_id, device=src.device)
        state, scores = None, []
        for step in range(steps):
            logits, state = model.decode_step(tokens, memory, state, False)
            log_probs = next_log_probs(logits, fed[:, :step], rules)
            tokens = fed[:, step]
            scores.append(log_probs.gather(1, tokens[:, None]).squeeze(1))
        table = torch.stack(scores, dim=1).tolist()  # (N, steps)
    return [row[:length] for row, length in zip(table, lengths, strict=True)]

class Finished:
    """Every finished hypothesis of each of B sources with its score, for n-best lists."""

    def __init__(self, batch_size: int) -> None:
        self.hypotheses: list[list[tuple[list[int], float]]] = [[] for _ in range(batch_size)]

    def add(
        self, history: Tensor, candidates: Tensor, beams: Tensor, first_rows: Tensor
    ) -> None:
        """Keep the finite (B, C) candidate scores; candidate (b, c) is hypothesis
        `beams[b, c]`, row first_rows[b] + beams[b, c] of the (B * K, t) `history` (then eos)."""
        for b, c in candidates.isfinite().nonzero().tolist():
            tokens = history[int(first_rows[b] + beams[b, c])].tolist()
            self.hypotheses[b].append((tokens, float(candidates[b, c])))

    def nth_best(self, n: int) -> Tensor:
        """(B,) the n-th best score of each source so far (-inf with fewer than n)."""
        return torch.tensor([
            sorted((score for _, score in kept), reverse=True)[n - 1] if len(kept) >= n
            else NEG_INF
            for kept in self.hypotheses
        ])

    def best(self, n: int) -> list[list[tuple[list[int], float]]]:
        """The n best (tokens, score) of each source, best first."""
        return [sorted(kept, key=lambda pair: -pair[1])[:n] for kept in self.hypotheses]


class Beams:
    """The live hypotheses of B sources with K beams each, flattened to B * K rows, and the
    best finished hypothesis of each source."""

    def __init__(
        self, memory: Memory, batch_size: int, beam_size: int, max_len: int, rules: Rules
    ) -> None:
        device = memory.states.device
        self.beam_size = beam_size
        self.first_rows = torch.arange(batch_size, device=device) * beam_size  # (B,)
        # each live hypothesis' own beam index, to finish all of them at max_len: (B, K)
        self.own_rows = torch.arange(beam_size, device=device).expand(batch_size, -1)
        # encode once, then repeat each source's memory for its K beams
        sources = torch.arange(batch_size, device=device).repeat_interleave(beam_size)
        self.memory = memory.index_select(sources)  # (B * K, S, D)
        self.state: Any = None
        self.tokens = torch.full((batch_size * beam_size,), rules.bos_id, device=device)
        self.history = self.tokens.new_empty((batch_size * beam_size, 0))  # (B * K, t)
        self.scores = torch.full((batch_size, beam_size), NEG_INF, device=device)  # (B, K)
        self.scores[:, 0] = 0.0  # the K beams start identical: only one may expand at first
        self.attention: Tensor | None = None  # (B * K, t, H, S)
        self.best_history = torch.full((batch_size, max_len), rules.eos_id, device=device)
        self.best_scores = torch.full((batch_size,), NEG_INF, device=device)  # (B,)
        self.best_attention: Tensor | None = None  # (B, max_len, H, S)
        self.finished = torch.zeros(batch_size, dtype=torch.long, device=device)  # (B,)
        self.done = torch.zeros(batch_size, dtype=torch.bool, device=device)  # (B,)

    def record_attention(self, step_attention: Tensor) -> None:
        """Append the (B * K, H, S) cross-attention of the current step to each hypothesis."""
        step_attention = step_attention[:, None]
        if self.attention is None:
            batch_size, max_len = self.best_history.shape
            self.best_attention = step_attention.new_zeros(
                (batch_size, max_len, *step_attention.shape[2:])
            )
            self.attention = step_attention
        else:
            self.attention = torch.cat([self.attention, step_attention], dim=1)

    def keep_best_finished(self, candidates: Tensor, beams: Tensor) -> None:
        """Adopt, per source, the best of (B, C) finished candidate scores when it beats the
        best so far; candidate c is hypothesis `beams[:, c]`'s tokens so far (then eos)."""
        best, column = candidates.max(-1)  # (B,)
        better = best > self.best_scores
        rows = self.first_rows + beams.gather(1, column[:, None]).squeeze(1)  # (B,)
        t = self.history.size(1)
        chosen = self.history.index_select(0, rows)  # (B, t)
        self.best_history[:, :t] = torch.where(better[:, None], chosen, self.best_history[:, :t])
        self.best_scores = torch.where(better, best, self.best_scores)
        if self.attention is not None:
            chosen = self.attention.index_select(0, rows)  # (B, t, H, S)
            self.best_attention[:, :t] = torch.where(
                better[:, None, None, None], chosen, self.best_attention[:, :t]
            )

    def advance(self, model: Seq2SeqModel, scores: Tensor, beams: Tensor, tokens: Tensor) -> None:
        """Keep the K best of each source's (B, 2K) ranked extensions.

        Args:
            scores: (B, 2K) hypothesis score plus next-token log-probability (eos at -inf).
            beams, tokens: (B, 2K) the hypothesis each extends and the token it appends.
        """
        scores, order = scores.topk(self.beam_size, dim=-1)  # (B, K)
        beam, tokens = beams.gather(1, order), tokens.gather(1, order)
        rows = (self.first_rows[:, None] + beam).view(-1)  # (B * K,) the parent of each
        self.tokens = tokens.reshape(-1)
        self.history = torch.cat([self.history[rows], self.tokens[:, None]], dim=1)
        self.scores = scores
        self.state = model.reorder_state(self.state, rows)
        if self.attention is not None:
            self.attention = self.attention[rows]
