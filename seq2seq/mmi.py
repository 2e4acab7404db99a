"""Decoding against generic replies: MMI-antiLM, MMI-bidi and sample-and-rank.

Li, Galley, Brockett, Gao, Dolan (2016), "A Diversity-Promoting Objective Function for Neural
Conversation Models", NAACL; Adiwardana et al. (2020), "Towards a Human-like Open-Domain
Chatbot" (Meena's sample-and-rank). For a prompt S and a reply T:

    antilm (eq. 4, 9)   log p(T|S) - lambda * sum_{k <= gamma} log p_LM(t_k | t_<k)
                        at every step of greedy and beam search (`AntiLM`)
    bidi (eq. 6, 10)    log p(T|S) + lambda * log p(S|T) + length_bonus * |T|
                        over beam search's n-best (n = beam_size) or num_samples samples
    sample-and-rank     num_samples samples at decode.temperature, the most likely kept:
                        log p(T|S) + length_bonus * |T| (bidi's score when mmi=bidi)

p_LM is a reply language model (a `data.direction: reply_lm` run) or, with `mmi_lm=empty_source`,
the forward model reading the empty source; p(S|T) is a backward model (`data.direction:
backward`). Every model shares the forward model's tokenizer (`check_tokenizers`), and only
the model interface (`encode`, `decode_step`, `reorder_state`) is used.

In beam search the anti-LM's next-token scores are renormalised at every step (the
distribution proportional to p(t|S) p_LM(t)^-lambda): beam search's finishing rule needs scores
that only fall. Greedy search picks the same token either way. Reranking scores every
candidate anew, with the plain model probabilities (no temperature, no processors).

    scorers = Scorers(backward=..., reply_lm=...)        # the extra models, or None
    result = generate(model, src, src_mask, decoding, scorers=scorers)  # as decoding.generate
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from seq2seq.batching import collate
from seq2seq.checkpoint import Trained
from seq2seq.config import DecodeConfig
from seq2seq.decoding import DecodeResult, Decoding, eval_mode
from seq2seq.decoding import generate as decoding_generate
from seq2seq.errors import UserError
from seq2seq.models.base import Memory, Seq2SeqModel
from seq2seq.tokenizer import empty_source

SCORE_ROWS = 256  # candidates scored per forward pass: bounds the (N, T, V) logits' memory
FLAGS = {"backward": "--backward", "reply_lm": "--reply-lm"}  # the extra models, by role
ROLES = {"backward": "the backward model p(prompt | reply) of mmi=bidi",
         "reply_lm": "the reply language model p(reply) of mmi=antilm"}


@dataclass(frozen=True)
class Scorers:
    """The extra models MMI reads, on the forward model's device and with its tokenizer."""

    backward: Seq2SeqModel | None = None  # p(prompt | reply)
    reply_lm: Seq2SeqModel | None = None  # p(reply), trained with the empty source


def check_tokenizers(forward: Trained, extra: dict[str, Trained]) -> None:
    """Refuse an extra model whose token ids mean something else than the forward model's.

    Args:
        extra: by role ("backward", "reply_lm").

    Raises:
        UserError: one line naming the model and its flag.
    """
    for role, trained in extra.items():
        if trained.tokenizer.fingerprint() != forward.tokenizer.fingerprint():
            raise UserError(
                f"{FLAGS[role]} {trained.path}: its tokenizer differs from the forward model's "
                f"({forward.path}); train it with the forward run's data config (docs/mmi.md)"
            )


def missing_model(decode: DecodeConfig, scorers: Scorers) -> str | None:
    """The flag of the model `decode` needs and `scorers` lacks, or None."""
    if decode.mmi == "bidi" and scorers.backward is None:
        return FLAGS["backward"]
    if decode.mmi == "antilm" and decode.mmi_lm == "reply_lm" and scorers.reply_lm is None:
        return FLAGS["reply_lm"]
    return None


def missing_note(decode: DecodeConfig, scorers: Scorers) -> str | None:
    """One line saying that `decode.mmi` is off for want of a model (None when it is not)."""
    flag = missing_model(decode, scorers)
    if flag is None:
        return None
    other = " or mmi_lm=empty_source" if flag == FLAGS["reply_lm"] else ""
    return (f"note: mmi={decode.mmi} needs a model given with {flag} RUN{other}; decoding "
            "without MMI")


def effective(decode: DecodeConfig, scorers: Scorers) -> DecodeConfig:
    """`decode` as it can run with `scorers`: MMI off where its model is missing."""
    if missing_model(decode, scorers) is None:
        return decode
    return dataclasses.replace(decode, mmi="none")


# --- MMI-antiLM: a model that scores each step against the reply LM --------------------------


@dataclass(frozen=True)
class PairedMemory:
    """The forward model's memory of the sources and the LM's of the empty source, row by row."""

    forward: Memory
    lm: Memory

    @property
    def states(self) -> Tensor:
        """(B, S, D) the forward encoder's outputs (beam search reads their device)."""
        return self.forward.states

    def index_select(self, index: Tensor) -> PairedMemory:
        return PairedMemory(self.forward.index_select(index), self.lm.index_select(index))


@dataclass
class AntiLMState:
    """Both decoders' states and the number of steps taken; the LM's is None after gamma."""

    forward: Any
    lm: Any
    step: int

    @property
    def cross_attention(self) -> Tensor | None:
        """(B, H, S) the forward model's, for attention heat-maps."""
        return self.forward.cross_attention


class AntiLM(nn.Module):
    """The forward model with `lambda * log p_LM(t | t_<k)` taken off its logits for the first
    `gamma` steps (Li et al.'s eq. 9); greedy and beam search use it as any model."""

    def __init__(
        self, forward: Seq2SeqModel, lm: Seq2SeqModel, lm_source: list[int],
        mmi_lambda: float, mmi_gamma: int,
    ) -> None:
        super().__init__()
        self.forward_model, self.lm = forward, lm
        self.lm_source, self.mmi_lambda, self.mmi_gamma = lm_source, mmi_lambda, mmi_gamma
        self.train(forward.training)  # decoding restores this mode on both models afterwards

    def encode(self, src: Tensor, src_mask: Tensor) -> PairedMemory:
        """(B, S), (B, S) -> the forward memory and the LM's, encoded once and repeated."""
        empty = torch.as_tensor(self.lm_source, dtype=torch.long, device=src.device)[None]
        lm = self.lm.encode(empty, torch.ones_like(empty, dtype=torch.bool))
        rows = torch.zeros(src.size(0), dtype=torch.long, device=src.device)
        return PairedMemory(self.forward_model.encode(src, src_mask), lm.index_select(rows))

    def decode_step(
        self, tokens: Tensor, memory: PairedMemory, state: AntiLMState | None,
        need_attention: bool = False,
    ) -> tuple[Tensor, AntiLMState]:
        """(B,) previous tokens -> (B, V) logits minus lambda * the LM's log-probabilities."""
        step = 0 if state is None else state.step
        logits, forward = self.forward_model.decode_step(
            tokens, memory.forward, None if state is None else state.forward, need_attention
        )
        if step >= self.mmi_gamma:
            return logits, AntiLMState(forward, None, step + 1)
        lm_logits, lm = self.lm.decode_step(tokens, memory.lm, None if state is None else state.lm)
        logits = logits.float() - self.mmi_lambda * torch.log_softmax(lm_logits.float(), dim=-1)
        return logits, AntiLMState(forward, lm, step + 1)

    def reorder_state(self, state: AntiLMState, index: Tensor) -> AntiLMState:
        forward = self.forward_model.reorder_state(state.forward, index)
        lm = None if state.lm is None else self.lm.reorder_state(state.lm, index)
        return AntiLMState(forward, lm, state.step)


# --- reranking: MMI-bidi and sample-and-rank -------------------------------------------------


def sequence_log_probs(
    model: Seq2SeqModel, sources: list[list[int]], targets: list[list[int]], decoding: Decoding
) -> Tensor:
    """log p(target | source) of each pair, eos included: the targets fed back one token at a
    time through `decode_step`, in chunks of `SCORE_ROWS` pairs.

    Args:
        sources, targets: N id lists without bos/eos; an empty source reads `empty_source`.
        decoding: gives the special ids (its settings are not used: plain probabilities).

    Returns:
        (N,) float32 summed log-probabilities, on the CPU.
    """
    empty = np.array(empty_source(decoding.eos_id), dtype=np.int64)
    specials = dict(pad_id=decoding.pad_id, bos_id=decoding.bos_id, eos_id=decoding.eos_id)
    sums = []
    with eval_mode(model), torch.inference_mode():
        for start in range(0, len(sources), SCORE_ROWS):
            src = [np.asarray(ids, dtype=np.int64) if len(ids) else empty
                   for ids in sources[start : start + SCORE_ROWS]]
            tgt = [np.asarray(ids, dtype=np.int64) for ids in targets[start : start + SCORE_ROWS]]
            batch = collate(src, tgt, **specials).to(model.device)
            memory, state = model.encode(batch.src, batch.src_mask), None
            total = torch.zeros(len(src), device=batch.src.device)
            for t in range(batch.tgt_in.size(1)):  # rows past their eos read pad: not counted
                logits, state = model.decode_step(batch.tgt_in[:, t], memory, state)
                gold = batch.tgt_out[:, t]
                log_probs = torch.log_softmax(logits.float(), dim=-1)
                total += log_probs.gather(1, gold[:, None]).squeeze(1).masked_fill(
                    gold == decoding.pad_id, 0.0
                )
            sums.append(total.cpu())
    return torch.cat(sums) if sums else torch.zeros(0)


def generate(
    model: Seq2SeqModel, src: Tensor, src_mask: Tensor, decoding: Decoding, *,
    scorers: Scorers | None = None, generator: torch.Generator | None = None,
    need_attention: bool = False, nbest: int = 1,
) -> DecodeResult:
    """`seq2seq.decoding.generate` reading `decoding.config`'s num_samples and mmi settings too.

    MMI is off where its model is missing from `scorers` (see `missing_note`). Reranked replies
    come without attention, and with `nbest` > 1 their list is the reranked candidates, best
    first, with their reranking scores.
    """
    scorers = scorers or Scorers()
    config = effective(decoding.config, scorers)
    decoding = dataclasses.replace(decoding, config=config)
    if config.reranks():
        return rerank(model, src, src_mask, decoding, scorers, generator, nbest)
    if config.mmi == "antilm":
        lm = scorers.reply_lm if config.mmi_lm == "reply_lm" else model
        model = AntiLM(model, lm, empty_source(decoding.eos_id), config.mmi_lambda,
                       config.mmi_gamma)
    return decoding_generate(model, src, src_mask, decoding, generator=generator,
                             need_attention=need_attention, nbest=nbest)


def candidates(
    model: Seq2SeqModel, src: Tensor, src_mask: Tensor, decoding: Decoding,
    generator: torch.Generator | None,
) -> list[list[list[int]]]:
    """Per source, the replies to rerank: beam search's n-best (n = beam_size) or num_samples
    samples, in the order they came."""
    config = decoding.config
    if config.strategy == "beam":
        result = decoding_generate(model, src, src_mask, decoding, nbest=config.beam_size)
        if result.nbest is None:  # a beam of one
            return [[tokens] for tokens in result.tokens]
        return [[tokens for tokens, _ in kept] for kept in result.nbest]
    n = config.num_samples
    rows = torch.arange(src.size(0), device=src.device).repeat_interleave(n)
    drawn = decoding_generate(model, src[rows], src_mask[rows], decoding, generator=generator)
    return [drawn.tokens[i * n : (i + 1) * n] for i in range(src.size(0))]


def rerank_scores(
    model: Seq2SeqModel, sources: list[list[int]], replies: list[list[int]], decoding: Decoding,
    scorers: Scorers,
) -> Tensor:
    """(N,) each (source, reply) pair's score: log p(T|S) + length_bonus * |T|, plus
    mmi_lambda * log p(S|T) with mmi=bidi."""
    config = decoding.config
    total = sequence_log_probs(model, sources, replies, decoding)
    if config.mmi == "bidi":
        total = total + config.mmi_lambda * sequence_log_probs(
            scorers.backward, replies, sources, decoding
        )
    lengths = torch.tensor([len(reply) for reply in replies], dtype=torch.float32)
    return total + config.mmi_length_bonus * lengths


def rerank(
    model: Seq2SeqModel, src: Tensor, src_mask: Tensor, decoding: Decoding, scorers: Scorers,
    generator: torch.Generator | None, nbest: int,
) -> DecodeResult:
    """The best-scoring candidate of each source; a tie keeps the earlier one (beam order)."""
    lists = candidates(model, src, src_mask, decoding, generator)
    sources = [row[mask].tolist() for row, mask in zip(src, src_mask, strict=True)]
    pairs = [(source, reply) for source, kept in zip(sources, lists, strict=True)
             for reply in kept]
    flat = rerank_scores(
        model, [source for source, _ in pairs], [reply for _, reply in pairs], decoding, scorers
    ).tolist()
    ranked, start = [], 0
    for kept in lists:
        scores = flat[start : start + len(kept)]
        start += len(kept)
        order = sorted(range(len(kept)), key=lambda i: -scores[i])  # stable: ties keep order
        ranked.append([(kept[i], scores[i]) for i in order])
    return DecodeResult(
        tokens=[kept[0][0] for kept in ranked], scores=[kept[0][1] for kept in ranked],
        nbest=[kept[:nbest] for kept in ranked] if nbest > 1 else None,
    )
