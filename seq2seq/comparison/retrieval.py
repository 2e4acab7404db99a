"""Prompt retrieval@1/20: does a generated reply point back to its own prompt?

An evaluator, a backward model p(prompt | reply) trained on other data with another seed
(configs/protocol-cpu-evaluator.yaml) and never used for decoding, judges the replies of every
compared decoding alike. The examples are shuffled with the comparison's seed and cut into
blocks of `CANDIDATES`; within a block each reply T_i ranks the block's prompts S_j by

    PMI(i, j) = log p(S_j | T_i) - log mean_k p(S_j | T_k)       (k over the block's replies)

and scores a hit when its own prompt ranks first; prompts tied first (within `TIE` nats: the
same prompt twice, or a reply that is the same everywhere) share the hit. The subtracted term
estimates log p(S_j), so a prompt that is likely after any reply (short, common) does not win
every ranking: the "shuffled prompt" normalisation of the relevance metrics, averaged over the
block. A reply given to every prompt of a block ("I don't know.") is equally close to all of
them, so it retrieves its own at chance (1/20). Examples beyond the last whole block are left
out; `n` says how many counted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from seq2seq.checkpoint import Trained
from seq2seq.config import DecodeConfig
from seq2seq.decoding import Decoding
from seq2seq.errors import UserError
from seq2seq.mmi import sequence_log_probs
from seq2seq.relevance import CANDIDATES  # the same 1-in-20 as hits@1/20
from seq2seq.tokenizer import SEP_PIECE

TIE = 1e-4  # nats: float32 sums of log-probabilities agree to about this much


@dataclass(frozen=True)
class Retrieval:
    """The share of replies whose own prompt ranks first among `CANDIDATES`, over `n`."""

    hits: float
    n: int


def prompt_retrieval(
    evaluator: Trained, prompts: list[str], replies: list[str], seed: int
) -> Retrieval:
    """Prompt retrieval@1/`CANDIDATES` of `replies` to `prompts` (texts) by `evaluator`.

    Texts are encoded with the evaluator's own tokenizer: a prompt keeps its last
    `data.max_src_len` tokens and a reply its first `data.max_tgt_len`, the forward lengths of
    the evaluator's data config (a backward model reads replies and writes prompts).

    Raises:
        UserError: fewer examples than one block.
    """
    if len(prompts) < CANDIDATES:
        raise UserError(
            f"--evaluator ranks each prompt among {CANDIDATES}: it needs at least {CANDIDATES} "
            f"examples, not {len(prompts)}"
        )
    tokenizer, data = evaluator.tokenizer, evaluator.config.data
    decoding = Decoding.of(DecodeConfig(), tokenizer)
    order = np.random.default_rng(seed).permutation(len(prompts))
    blocks = order[: len(order) - len(order) % CANDIDATES].reshape(-1, CANDIDATES)
    hits = 0.0
    for block in blocks:
        targets = [tokenizer.encode_context(prompts[i].split(f" {SEP_PIECE} "))
                   [-data.max_src_len :] for i in block]
        sources = [tokenizer.encode(replies[i])[: data.max_tgt_len] for i in block]
        pairs = [(source, target) for source in sources for target in targets]
        scores = sequence_log_probs(
            evaluator.model, [s for s, _ in pairs], [t for _, t in pairs], decoding
        ).view(CANDIDATES, CANDIDATES)  # (reply i, prompt j)
        prior = torch.logsumexp(scores, dim=0) - math.log(CANDIDATES)  # (prompt j,)
        pmi = scores - prior
        first = pmi >= pmi.max(dim=1, keepdim=True).values - TIE  # (reply i, prompt j) tied first
        hits += float((first.diagonal() / first.sum(dim=1)).sum())
    return Retrieval(hits / blocks.size, int(blocks.size))
