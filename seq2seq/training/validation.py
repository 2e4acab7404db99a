"""Validation: teacher-forced loss, perplexity and token accuracy, the diversity of greedy
replies to fixed prompts, whether the model prefers the gold reply to distractors given the
prompt (hits@1, the context gap: `seq2seq.relevance`), and a few decoded replies to
read.

The validation loss is plain NLL per real target token whatever `train.label_smoothing` is, and
the GRU is scored with full teacher forcing whatever its training ratio: the numbers of the two
architectures measure the same thing. The diversity replies are plain greedy (whatever
`decode.strategy` says), like the comparison's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from seq2seq.batching import Batch
from seq2seq.data import Split
from seq2seq.decoding import Decoding, eval_mode, generate
from seq2seq.device import Precision
from seq2seq.metrics import Accumulator
from seq2seq.models import Seq2SeqModel
from seq2seq.relevance import (
    CANDIDATES,
    Distractors,
    draw_distractors,
    headline,
    score_candidates,
    too_few_replies,
)
from seq2seq.tokenizer import Tokenizer


@torch.no_grad()
def validate(
    model: Seq2SeqModel, batches: list[Batch], precision: Precision, pad_id: int
) -> dict[str, float]:
    """{"loss", "ppl", "token_acc"} of `model` over `batches` (eval mode, no gradients)."""
    totals = Accumulator()
    with eval_mode(model):
        for batch in batches:
            batch = batch.to(precision.device)
            with precision.autocast():
                logits = model(batch.src, batch.src_mask, batch.tgt_in)  # (B, T, V)
            totals.add(logits, batch.tgt_out, pad_id)
    return totals.result()


@torch.no_grad()
def diversity_replies(
    model: Seq2SeqModel, batches: list[Batch], tokenizer: Tokenizer, decoding: Decoding,
    precision: Precision,
) -> list[str]:
    """Replies (text) to the sources of `batches`, in batch order, decoded with `decoding`
    (`Decoding.plain_greedy` in training)."""
    replies: list[str] = []
    for batch in batches:
        batch = batch.to(precision.device)
        with precision.autocast():
            result = generate(model, batch.src, batch.src_mask, decoding)
        replies.extend(tokenizer.decode(ids) for ids in result.tokens)
    return replies


@dataclass(frozen=True)
class RelevanceProbe:
    """Fixed validation examples and their candidates, drawn once per run."""

    src: list[np.ndarray]  # the sampled examples' prompts
    gold: list[np.ndarray]  # and replies
    pool: list[np.ndarray]  # every validation reply: the random distractors' source
    distractors: Distractors


def relevance_probe(
    valid: Split, train: Split, count: int, seed: int
) -> RelevanceProbe | None:
    """`count` validation examples spread over the split with CANDIDATES - 1 random distractors
    (other validation replies) and generic ones (the training split's most frequent replies),
    fixed by `seed`; None when count is 0 or the splits hold too few different replies."""
    chosen = sample_indices(count, len(valid))
    if len(chosen) < 2 or too_few_replies(valid.tgt_text, train.tgt_text, CANDIDATES):
        return None
    distractors = draw_distractors(
        [valid.tgt_text[i] for i in chosen], valid.tgt_text, train.tgt_text, train.tgt,
        CANDIDATES, seed,
    )
    return RelevanceProbe([valid.src[i] for i in chosen], [valid.tgt[i] for i in chosen],
                          list(valid.tgt), distractors)


@torch.no_grad()
def relevance_scalars(
    model: Seq2SeqModel, probe: RelevanceProbe, tokenizer: Tokenizer, batch_size: int
) -> dict[str, float]:
    """{"hits1_random", "hits1_generic", "context_gap"} on the probe, by mean NLL per token
    (no empty prompt, no intervals: the cheap part of what compare.py reports)."""
    with eval_mode(model):
        scores = score_candidates(model, tokenizer, probe.src, probe.gold, probe.pool,
                                  probe.distractors, batch_size, with_empty=False)
    return headline(scores)


def sample_indices(count: int, available: int) -> list[int]:
    """`count` validation examples spread evenly over the split: the same ones every time."""
    if count == 0 or available == 0:
        return []
    return sorted({int(i) for i in np.linspace(0, available - 1, num=min(count, available))})


@torch.no_grad()
def sample_replies(
    model: Seq2SeqModel,
    prompts: Batch,
    prompt_texts: list[str],
    gold_texts: list[str],
    tokenizer: Tokenizer,
    decoding: Decoding,
    precision: Precision,
    seed: int,
) -> list[tuple[str, str, str]]:
    """Decode replies to fixed validation prompts with `decoding` (the config's `decode`).

    Returns:
        (prompt, reply, gold reply) per prompt.
    """
    if not prompt_texts:
        return []
    batch = prompts.to(precision.device)
    # A fixed generator makes `strategy: sample` show comparable replies from eval to eval.
    generator = torch.Generator(precision.device).manual_seed(seed)
    with precision.autocast():
        result = generate(model, batch.src, batch.src_mask, decoding, generator=generator)
    replies = [tokenizer.decode(ids) for ids in result.tokens]
    return list(zip(prompt_texts, replies, gold_texts, strict=True))
