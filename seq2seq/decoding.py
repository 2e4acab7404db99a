"""Turning a trained model into replies: greedy search, beam search and sampling.

Every strategy uses only the model interface (`encode`, `decode_step`, `reorder_state`), as
fairseq's `search.py` and OpenNMT-py's `DecodeStrategy` keep decoding apart from the models:

    decoding = Decoding.of(config.decode, tokenizer)      # once: the settings as one value
    result = generate(model, src, src_mask, decoding)      # the one door: decode.strategy picks
    replies = [tokenizer.decode(ids) for ids in result.tokens]

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


@dataclass(frozen=True)
class Decoding:
    """The decoding settings as one value: a `DecodeConfig` (the strategy, its knobs and the
    shared processors' settings) with the tokenizer's special ids. Built once, with
    `Decoding.of(config.decode, tokenizer)`, and handed to every strategy."""

    config: DecodeConfig
    bos_id: int
    eos_id: int
    pad_id: int

    @classmethod
    def of(cls, config: DecodeConfig, tokenizer: Any) -> Decoding:
        """`tokenizer`: anything with `bos_id`, `eos_id` and `pad_id` (a `Tokenizer`)."""
        return cls(config, tokenizer.bos_id, tokenizer.eos_id, tokenizer.pad_id)

    @classmethod
    def plain_greedy(cls, max_len: int, tokenizer: Any) -> Decoding:
        """Greedy search of at most `max_len` new tokens without any processor: the decoding of
        validation's diversity replies and of the comparison, whatever `decode` says."""
        return cls.of(DecodeConfig(strategy="greedy", max_len=max_len), tokenizer)


def generate(
    model: Seq2SeqModel,
    src: Tensor,
    src_mask: Tensor,
    decoding: Decoding,
    *,
    generator: torch.Generator | None = None,
    need_attention: bool = False,
    nbest: int = 1,
) -> DecodeResult:
    """Decode a batch with the strategy its `decoding.config.strategy` names: the one door
    that the chat, validation, comparison and benchmarks all use.

    Args:
        model: any `Seq2SeqModel`.
        src: (B, S) source ids, right-padded; src_mask: (B, S) bool, True on real tokens.
        decoding: the settings (those a strategy does not use are ignored).
        generator: random numbers for sampling (None: torch's global generator).
        need_attention: also return the cross-attention of every generated token.
        nbest: with beam search, also return the `nbest` best hypotheses (ignored otherwise).
    """
    strategy = decoding.config.strategy
    if strategy == "greedy":
        return greedy(model, src, src_mask, decoding, need_attention=need_attention)
    if strategy == "beam":
        return beam_search(
            model, src, src_mask, decoding, nbest=nbest, need_attention=need_attention
        )
    if strategy == "sample":
        return sample(
            model, src, src_mask, decoding, generator=generator, need_attention=need_attention
        )
    raise ConfigError(f"decode.strategy: {strategy!r} is not one of {', '.join(STRATEGIES)}")


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
    logits: Tensor, history: Tensor, decoding: Decoding, temperature: float = 1.0
) -> Tensor:
    """Apply the shared processors and the temperature, then normalise.

    Args:
        logits: (N, V) raw logits from `decode_step`.
        history: (N, t) tokens generated so far (t is the step).

    Returns:
        (N, V) log-probabilities. A row whose every token is forbidden (possible with strict
        n-gram blocking on a tiny vocabulary) gets eos, so decoding always ends.
    """
    config = decoding.config
    logits = penalize_repetition(logits.float(), history, config.repetition_penalty)
    logits = block_repeated_ngrams(logits, history, config.no_repeat_ngram)
    forbidden = [decoding.bos_id, decoding.pad_id]
    if history.size(1) < config.min_len:
        forbidden.append(decoding.eos_id)
    logits = forbid_tokens(logits, forbidden)
    dead = torch.isinf(logits).all(-1)  # (N,)
    logits[:, decoding.eos_id] = torch.where(dead, 0.0, logits[:, decoding.eos_id])
    return torch.log_softmax(logits / temperature, dim=-1)


# --- greedy search and sampling: one hypothesis per source ----------------------------------


Chooser = Callable[[Tensor], tuple[Tensor, Tensor]]


def greedy(
    model: Seq2SeqModel,
    src: Tensor,
    src_mask: Tensor,
    decoding: Decoding,
    *,
    need_attention: bool = False,
) -> DecodeResult:
    """The most probable token at every step, for a batch at once.

    Args:
        model: any `Seq2SeqModel`.
        src: (B, S) source ids, right-padded; src_mask: (B, S) bool, True on real tokens.
        decoding: the settings; `config.max_len` new tokens at most (eos included), each row
            stopping at its own eos; min_len, repetition_penalty, no_repeat_ngram: see the
            module docstring.
        need_attention: also return each step's cross-attention.
    """

    def choose(log_probs: Tensor) -> tuple[Tensor, Tensor]:
        scores, tokens = log_probs.max(-1)
        return tokens, scores

    return decode_one_path(model, src, src_mask, choose, decoding, 1.0, need_attention)


def sample(
    model: Seq2SeqModel, src: Tensor, src_mask: Tensor, decoding: Decoding, *,
    generator: torch.Generator | None = None, need_attention: bool = False,
) -> DecodeResult:
    """Ancestral sampling with temperature, top-k (Fan et al., 2018) and nucleus (top-p,
    Holtzman et al., 2020) filtering.

    Arguments as for `greedy`, where `decoding.config` also gives
        temperature: > 0; divides the logits (below 1 sharpens, above 1 flattens);
        top_k: sample among the k most probable tokens only (0: all);
        top_p: sample among the smallest set of most probable tokens whose probability
            reaches top_p (1.0: all);
    and generator: a seeded `torch.Generator` (on the model's device) for reproducible replies.

    Scores are log-probabilities under the distribution each token was drawn from (after
    temperature and filtering).
    """
    config = decoding.config

    def choose(log_probs: Tensor) -> tuple[Tensor, Tensor]:
        log_probs = torch.log_softmax(
            filter_top_k_top_p(log_probs, config.top_k, config.top_p), dim=-1
        )
        tokens = torch.multinomial(log_probs.exp(), 1, generator=generator).squeeze(1)
        return tokens, log_probs.gather(1, tokens[:, None]).squeeze(1)

    return decode_one_path(
        model, src, src_mask, choose, decoding, config.temperature, need_attention
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
    decoding: Decoding,
    temperature: float,
    need_attention: bool,
) -> DecodeResult:
    """The loop shared by greedy search and sampling; `choose` maps (B, V) log-probabilities
    to the (B,) next tokens and their (B,) scores."""
    with eval_mode(model), torch.inference_mode():
        batch_size = src.size(0)
        memory = model.encode(src, src_mask)
        tokens = torch.full((batch_size,), decoding.bos_id, dtype=torch.long, device=src.device)
        history = tokens.new_empty((batch_size, 0))  # (B, t) generated tokens
        scores = torch.zeros(batch_size, device=src.device)
        finished = torch.zeros(batch_size, dtype=torch.bool, device=src.device)
        state, attention = None, []
        for _ in range(decoding.config.max_len):
            logits, state = model.decode_step(tokens, memory, state, need_attention)
            log_probs = next_log_probs(logits, history, decoding, temperature)
            tokens, token_scores = choose(log_probs)
            # a finished row keeps emitting eos, which adds nothing and is cut off below
            tokens = tokens.masked_fill(finished, decoding.eos_id)
            scores += token_scores.masked_fill(finished, 0.0)
            history = torch.cat([history, tokens[:, None]], dim=1)
            if need_attention:
                attention.append(state.cross_attention)  # (B, H, S)
            finished |= tokens == decoding.eos_id
            if finished.all():
                break
        steps = torch.stack(attention, dim=1) if need_attention else None  # (B, T, H, S)
        return make_result(history, scores, steps, src_mask, decoding.eos_id)


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
    decoding: Decoding,
    *,
    nbest: int = 1,
    need_attention: bool = False,
) -> DecodeResult:
    """Beam search keeping `beam_size` unfinished hypotheses per source, as fairseq does.

    At every step the 2K best extensions of a source's K hypotheses are ranked. An eos among the
    first K of them finishes its hypothesis, scored as `log p / length ** length_penalty`
    (length counts eos); the best finished one is kept per source. An eos ranked lower finishes
    nothing (it would favour short replies whatever their rank), and the K best other
    extensions form the next beam. Hypotheses still alive after `max_len` steps compete as if
    finished there. A beam of one without length penalty is greedy search; with one, it goes on
    past the first eos while a longer reply can still score higher.

    The search stops early only where it cannot change the result (the exact bound, not
    Hugging Face's `early_stopping=False` heuristic, which compares the live scores at the
    current length and can miss a better reply still in the beam): log-probabilities only
    fall and a reply has at most `max_len` tokens, so a live hypothesis of summed score
    s <= 0 can finish at best at `s / max_len ** length_penalty`. A source is done once its
    kept finished score reaches that bound for its best live hypothesis. With a length
    penalty this often means running to `max_len`; without one it stops as soon as the best
    finished reply beats every live one.

    Arguments as for `greedy`, where `decoding.config` also gives `beam_size` (>= 1) and
    `length_penalty` (>= 0); with `nbest` > 1 every finished candidate is kept, the search runs
    until the `nbest`-th best of each source cannot be beaten, and `DecodeResult.nbest` lists
    them. The first reply does not depend on `nbest`: running longer cannot displace a best
    reply that no live hypothesis can beat. `Beams` keeps the hypotheses' books; this function
    is the loop.
    """
    finished = Finished(src.size(0)) if nbest > 1 else None
    with eval_mode(model), torch.inference_mode():
        beams = Beams(model.encode(src, src_mask), src.size(0), decoding)
        for step in range(decoding.config.max_len):
            logits, beams.state = model.decode_step(
                beams.tokens, beams.memory, beams.state, need_attention
            )
            log_probs = next_log_probs(logits, beams.history, decoding)
            scores, beam, tokens = beams.rank(log_probs)  # (B, 2K) each
            candidates = beams.finish(scores, beam, tokens, step)
            if finished is not None:
                finished.add(beams.history, candidates, beam, beams.first_rows)
            if need_attention:
                beams.record_attention(beams.state.cross_attention)
            beams.advance(model, scores, beam, tokens)
            # with an n-best list, the n-th best finished hypothesis must be safe, not the best
            kept = beams.best_scores if finished is None else finished.nth_best(nbest).to(
                beams.scores.device
            )
            if beams.settle(kept):
                break
        else:
            last = beams.finish_at_max_len()
            if finished is not None:
                finished.add(beams.history, last, beams.own_rows, beams.first_rows)
        attention = beams.best_attention if need_attention else None
        result = make_result(
            beams.best_history, beams.best_scores, attention, src_mask, decoding.eos_id
        )
        if finished is not None:
            result.nbest = finished.best(nbest)
        return result


def token_scores(
    model: Seq2SeqModel,
    src: Tensor,
    src_mask: Tensor,
    hypotheses: list[list[int]],
    decoding: Decoding,
) -> list[list[float]]:
    """Each token's log-probability in replies to one source, as beam search scored it.

    fairseq-interactive's positional scores (its P lines): the hypotheses are fed back one
    token at a time through `decode_step`, under the same processors (repetition penalty,
    n-gram blocking, minimum length) and without temperature, as `beam_search` does. A reply
    shorter than `decoding.config.max_len` ended with eos, whose score comes last; their sum is
    the reply's log-probability before the length penalty.

    Args:
        src: (1, S) one source; src_mask: (1, S).
        hypotheses: token ids without bos or eos, e.g. `DecodeResult.nbest[0]`'s.

    Returns:
        one list per hypothesis: len(tokens) + 1 scores (the last for eos), or len(tokens)
        for a reply cut at `config.max_len`.
    """
    if not hypotheses:
        return []
    max_len = decoding.config.max_len
    lengths = [len(tokens) + (len(tokens) < max_len) for tokens in hypotheses]
    steps = max(lengths)
    # each row: its tokens, then eos repeated (scores past a row's end are cut off below)
    fed = torch.full((len(hypotheses), steps), decoding.eos_id, device=src.device)
    for row, tokens in enumerate(hypotheses):
        fed[row, : len(tokens)] = torch.tensor(tokens, dtype=torch.long)
    with eval_mode(model), torch.inference_mode():
        memory = model.encode(src, src_mask).index_select(
            torch.zeros(len(hypotheses), dtype=torch.long, device=src.device)
        )
        tokens = torch.full((len(hypotheses),), decoding.bos_id, device=src.device)
        state, scores = None, []
        for step in range(steps):
            logits, state = model.decode_step(tokens, memory, state, False)
            log_probs = next_log_probs(logits, fed[:, :step], decoding)
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

    def __init__(self, memory: Memory, batch_size: int, decoding: Decoding) -> None:
        device = memory.states.device
        beam_size, max_len = decoding.config.beam_size, decoding.config.max_len
        self.beam_size, self.max_len = beam_size, max_len
        self.length_penalty = decoding.config.length_penalty
        self.eos_id = decoding.eos_id
        self.first_rows = torch.arange(batch_size, device=device) * beam_size  # (B,)
        # each live hypothesis' own beam index, to finish all of them at max_len: (B, K)
        self.own_rows = torch.arange(beam_size, device=device).expand(batch_size, -1)
        # encode once, then repeat each source's memory for its K beams
        sources = torch.arange(batch_size, device=device).repeat_interleave(beam_size)
        self.memory = memory.index_select(sources)  # (B * K, S, D)
        self.state: Any = None
        self.tokens = torch.full((batch_size * beam_size,), decoding.bos_id, device=device)
        self.history = self.tokens.new_empty((batch_size * beam_size, 0))  # (B * K, t)
        self.scores = torch.full((batch_size, beam_size), NEG_INF, device=device)  # (B, K)
        self.scores[:, 0] = 0.0  # the K beams start identical: only one may expand at first
        self.attention: Tensor | None = None  # (B * K, t, H, S)
        self.best_history = torch.full((batch_size, max_len), decoding.eos_id, device=device)
        self.best_scores = torch.full((batch_size,), NEG_INF, device=device)  # (B,)
        self.best_attention: Tensor | None = None  # (B, max_len, H, S)
        self.done = torch.zeros(batch_size, dtype=torch.bool, device=device)  # (B,)

    def rank(self, log_probs: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The 2K best extensions of each source's K hypotheses, from the (B * K, V) next-token
        log-probabilities: their (B, 2K) scores, the beam each extends and the token it adds."""
        total = self.scores.view(-1, 1) + log_probs  # (B * K, V)
        vocab_size = total.size(1)
        scores, flat = total.view(-1, self.beam_size * vocab_size).topk(2 * self.beam_size, dim=-1)
        return scores, flat // vocab_size, flat % vocab_size

    def finish(self, scores: Tensor, beams: Tensor, tokens: Tensor, step: int) -> Tensor:
        """Finish the hypotheses whose eos is among the K best extensions of a source not yet
        done and keep each source's best finished one.

        Returns:
            (B, 2K) the finished ones' length-penalised scores, -inf elsewhere.
        """
        ends = (tokens == self.eos_id) & torch.isfinite(scores)
        ends[:, self.beam_size :] = False  # only an eos among the K best finishes a hypothesis
        ends &= ~self.done[:, None]
        candidates = torch.where(ends, scores / (step + 1) ** self.length_penalty, NEG_INF)
        self.keep_best_finished(candidates, beams)
        return candidates

    def settle(self, kept: Tensor) -> bool:
        """Mark the sources done whose finished score `kept` (B,) no live hypothesis can reach
        any more: at best one ends at `its score / max_len ** length_penalty` (see
        `beam_search`); True when every source is done."""
        live = self.scores.max(-1).values  # (B,) summed log-probabilities, <= 0
        self.done |= kept >= live / self.max_len**self.length_penalty
        return bool(self.done.all())

    def finish_at_max_len(self) -> Tensor:
        """After max_len steps the live hypotheses of the sources not done compete as if
        finished there; returns their (B, K) length-penalised scores (-inf for done sources)."""
        last = self.scores.masked_fill(self.done[:, None], NEG_INF)
        last = last / self.max_len**self.length_penalty
        self.keep_best_finished(last, self.own_rows)
        return last

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
            scores: (B, 2K) hypothesis score plus next-token log-probability.
            beams, tokens: (B, 2K) the hypothesis each extends and the token it appends.
        """
        # eos never extends a hypothesis; at most K of the 2K are eos, so K others remain
        scores = scores.masked_fill(tokens == self.eos_id, NEG_INF)
        scores, order = scores.topk(self.beam_size, dim=-1)  # (B, K)
        beam, tokens = beams.gather(1, order), tokens.gather(1, order)
        rows = (self.first_rows[:, None] + beam).view(-1)  # (B * K,) the parent of each
        self.tokens = tokens.reshape(-1)
        self.history = torch.cat([self.history[rows], self.tokens[:, None]], dim=1)
        self.scores = scores
        self.state = model.reorder_state(self.state, rows)
        if self.attention is not None:
            self.attention = self.attention[rows]
