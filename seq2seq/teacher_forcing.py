"""Per-example sums of a model's teacher-forced scores over a fixed list of (src, tgt) pairs: the
one loop behind the comparison's perplexities (`comparison.scoring.teacher_forced`) and the
relevance scores of candidate replies (`seq2seq.relevance`), so both measure the same NLL."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from tqdm import tqdm

from seq2seq.batching import collate
from seq2seq.metrics import example_scores
from seq2seq.models import Seq2SeqModel
from seq2seq.tokenizer import Tokenizer


def example_sums(
    model: Seq2SeqModel,
    tokenizer: Tokenizer,
    src: Sequence[np.ndarray],
    tgt: Sequence[np.ndarray],
    batches: list[np.ndarray],
    desc: str | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Plain NLL (no label smoothing), correct argmax predictions and target tokens (eos
    included) of every pair under teacher forcing.

    Args:
        src, tgt: N context and response id arrays (without bos/eos).
        batches: index arrays covering every pair once.
        desc: the progress bar's label (shown on a terminal); None: no bar.

    Returns:
        Three (N,) arrays: summed NLL, correct predictions, target tokens.
    """
    n = len(src)
    nll_sum, n_tokens, correct = np.zeros(n), np.zeros(n, dtype=np.int64), np.zeros(n, np.int64)
    specials = dict(pad_id=tokenizer.pad_id, bos_id=tokenizer.bos_id, eos_id=tokenizer.eos_id)
    with torch.inference_mode():
        for index in tqdm(batches, desc=f"score {desc}", disable=None if desc is not None
                          else True, leave=False):
            batch = collate([src[i] for i in index], [tgt[i] for i in index], **specials)
            batch = batch.to(model.device)
            logits = model(batch.src, batch.src_mask, batch.tgt_in)  # (B, T, V)
            # Per-example sums, copied to the host once per batch.
            sums = example_scores(logits, batch.tgt_out, tokenizer.pad_id)
            nll_sum[index], correct[index], n_tokens[index] = (s.cpu().numpy() for s in sums)
    return nll_sum, correct, n_tokens
