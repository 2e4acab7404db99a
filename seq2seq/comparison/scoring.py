"""Scoring one trained model on a fixed list of examples: teacher-forced NLL and greedy replies.

Both use the training code's own pieces, so a comparison measures exactly what training
reports: length-sorted batches from `seq2seq.batching`, the masked loss and accuracy of
`seq2seq.metrics`, and `seq2seq.decoding.greedy` (always greedy here, whatever the run's own
decode config, so every model is compared under the same search).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from seq2seq.batching import collate, make_batches
from seq2seq.decoding import Decoding, generate
from seq2seq.device import synchronize
from seq2seq.models import Seq2SeqModel
from seq2seq.teacher_forcing import example_sums
from seq2seq.tokenizer import Tokenizer

# Padded src + target tokens per evaluation batch: bounds the (B, T, V) logits' memory.
EVAL_MAX_TOKENS = 8192


@dataclass
class TeacherForced:
    """Per-example sums, so that any subset (a bootstrap resample) can be re-aggregated.

    Attributes:
        nll_sum: (N,) summed NLL of each example's target tokens (eos included).
        n_tokens: (N,) target tokens of each example (eos included).
        correct: (N,) argmax predictions that match the target.
    """

    nll_sum: np.ndarray
    n_tokens: np.ndarray
    correct: np.ndarray

    @property
    def loss(self) -> float:
        """Mean NLL per target token over all examples."""
        return float(self.nll_sum.sum() / self.n_tokens.sum())

    @property
    def accuracy(self) -> float:
        return float(self.correct.sum() / self.n_tokens.sum())


def eval_batches(
    src: Sequence[np.ndarray], tgt: Sequence[np.ndarray] | None, batch_size: int
) -> list[np.ndarray]:
    """Example indices in length-sorted batches (little padding), in a fixed order."""
    tgt_lengths = [len(ids) for ids in tgt] if tgt is not None else [0] * len(src)
    return make_batches(
        [len(ids) for ids in src], tgt_lengths, max_tokens=EVAL_MAX_TOKENS,
        batch_size=batch_size,
    )


def teacher_forced(
    model: Seq2SeqModel,
    tokenizer: Tokenizer,
    src: Sequence[np.ndarray],
    tgt: Sequence[np.ndarray],
    batches: list[np.ndarray],
    desc: str = "",
) -> TeacherForced:
    """Plain NLL (no label smoothing) and token accuracy of every example under teacher forcing.

    Args:
        src, tgt: N context and response id arrays (without bos/eos).
        batches: index arrays covering every example once (`eval_batches`).
    """
    nll_sum, correct, n_tokens = example_sums(model, tokenizer, src, tgt, batches, desc)
    return TeacherForced(nll_sum, n_tokens, correct)


@dataclass
class Replies:
    """Greedy replies in example order and the time spent generating them."""

    tokens: list[list[int]]  # without bos/eos
    seconds: float  # wall time inside `greedy` only (batching and collation excluded)

    @property
    def per_second(self) -> float:
        return len(self.tokens) / self.seconds if self.seconds > 0 else float("inf")


def source_batch(
    src: Sequence[np.ndarray], tokenizer: Tokenizer, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Padded sources for decoding: (B, S) ids and (B, S) mask, True on real tokens."""
    no_targets = [np.zeros(0, dtype=np.int64)] * len(src)
    batch = collate(src, no_targets, pad_id=tokenizer.pad_id, bos_id=tokenizer.bos_id,
                    eos_id=tokenizer.eos_id)
    return batch.src.to(device), batch.src_mask.to(device)


def timed_replies(
    model: Seq2SeqModel,
    tokenizer: Tokenizer,
    src: Sequence[np.ndarray],
    batches: list[np.ndarray],
    decoding: Decoding,
    desc: str = "",
) -> Replies:
    """Batched decoding of every source with `decoding` (the comparison's is plain greedy),
    timed with `time.perf_counter`.

    Args:
        src: N context id arrays.
        batches: index arrays covering every example once.
        decoding: the settings; `decoding.config.max_len` new tokens at most (eos included).
    """
    device = model.device
    replies: list[list[int]] = [[] for _ in src]
    # One untimed step first: lazy initialisation (kernels, allocator) is not decoding speed.
    one_step = dataclasses.replace(
        decoding, config=dataclasses.replace(decoding.config, max_len=1)
    )
    generate(model, *source_batch([src[batches[0][0]]], tokenizer, device), one_step)
    seconds = 0.0
    for index in tqdm(batches, desc=f"{decoding.config.strategy} {desc}", disable=None,
                      leave=False):
        sources, mask = source_batch([src[i] for i in index], tokenizer, device)
        synchronize(device)
        start = time.perf_counter()
        result = generate(model, sources, mask, decoding)
        synchronize(device)
        seconds += time.perf_counter() - start
        for i, ids in zip(index, result.tokens, strict=True):
            replies[i] = ids
    return Replies(replies, seconds)
