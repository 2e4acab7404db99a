"""The prepared data as the training loop reads it.

Training batches are example indices, recomputed per epoch (`seq2seq.batching.epoch_batches`:
a pure function of seed and epoch) and collated one step at a time. Validation batches and the
sample prompts never change, so they are collated once.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from seq2seq.batching import Batch, collate, epoch_batches, make_batches, padding_share
from seq2seq.config import Config
from seq2seq.data import PreparedData, Split, prepare_data, resolve_corpus
from seq2seq.data.dialogues import count_summary
from seq2seq.data.entropy import filter_summary
from seq2seq.errors import UserError
from seq2seq.training.distributed import Distributed
from seq2seq.training.validation import relevance_probe, sample_indices


def prepare_on_main_first(
    config: Config, corpus: str | Path | None, cache_dir: Path | None, world: Distributed
) -> PreparedData:
    """Prepare (or load) the data; with several processes the main one builds the cache first
    and the others then read it, instead of all building it at once."""
    if world.enabled and not world.is_main:
        torch.distributed.barrier()
    data = prepare_data(
        config.data, resolve_corpus(corpus), cache_dir=cache_dir, progress=world.is_main
    )
    if world.enabled and world.is_main:
        torch.distributed.barrier()
    return data


class TrainingData:
    """Training batches for any epoch, plus the fixed validation batches and prompts."""

    def __init__(
        self, prepared: PreparedData, config: Config, world: Distributed, pin_memory: bool
    ) -> None:
        self.tokenizer = prepared.tokenizer
        self.filtered = filter_summary(prepared.stats["entropy_filter"])  # None when off
        self.skipped = count_summary(prepared.stats["skipped"], largest_first=True)
        self.train, self.valid = prepared.splits["train"], prepared.splits["valid"]
        self.settings, self.world, self.pin_memory = config.train, world, pin_memory
        self.src_lengths = np.array([len(ids) for ids in self.train.src], dtype=np.int64)
        self.tgt_lengths = np.array([len(ids) for ids in self.train.tgt], dtype=np.int64)
        self.latest: tuple[int, list[np.ndarray]] | None = None  # (epoch, its batches)
        if not self.batches(0):
            raise UserError(
                f"the training split ({len(self.train)} examples) is too small for "
                f"train.grad_accum={self.settings.grad_accum} on {world.world_size} process(es)"
            )
        valid_batches = make_batches(
            [len(ids) for ids in self.valid.src], [len(ids) for ids in self.valid.tgt],
            max_tokens=self.settings.max_tokens, batch_size=self.settings.batch_size,
        )
        self.valid_batches = [self.collate(self.valid, indices) for indices in valid_batches]
        chosen = sample_indices(self.settings.num_sample_prompts, len(self.valid))
        self.prompts = self.collate(self.valid, np.array(chosen, dtype=np.int64))
        self.prompt_texts = [self.valid.src_text[i] for i in chosen]
        self.gold_texts = [self.valid.tgt_text[i] for i in chosen]
        # The diversity prompts: spread over the split, the same at every validation and, for
        # one data config, the same for every model; batched like validation.
        spread = np.array(
            sample_indices(self.settings.diversity_prompts, len(self.valid)), dtype=np.int64
        )
        groups = make_batches(
            [len(self.valid.src[i]) for i in spread], [len(self.valid.tgt[i]) for i in spread],
            max_tokens=self.settings.max_tokens, batch_size=self.settings.batch_size,
        ) if len(spread) else []
        self.diversity_batches = [self.collate(self.valid, spread[group]) for group in groups]
        # Seeded by the data config, like the split: every model of one data config is ranked
        # on the same examples and candidates.
        self.relevance = relevance_probe(self.valid, self.train, self.settings.relevance_examples,
                                         config.data.split_seed)

    def batches(self, epoch: int) -> list[np.ndarray]:
        """This process's batches of `epoch` (example indices), a whole number of steps:
        the last `len % grad_accum` batches are left out so every step has grad_accum.

        The latest epoch's are kept: the loop asks for them at every step, and cutting a big
        corpus into batches takes a noticeable fraction of a second.
        """
        if self.latest is not None and self.latest[0] == epoch:
            return self.latest[1]
        batches = epoch_batches(
            self.src_lengths, self.tgt_lengths,
            max_tokens=self.settings.max_tokens, batch_size=self.settings.batch_size,
            seed=self.settings.seed, epoch=epoch,
            rank=self.world.rank, world_size=self.world.world_size,
        )
        batches = batches[: len(batches) - len(batches) % self.settings.grad_accum]
        self.latest = (epoch, batches)
        return batches

    def collate(self, split: Split, indices: np.ndarray) -> Batch:
        return collate(
            [split.src[i] for i in indices], [split.tgt[i] for i in indices],
            pad_id=self.tokenizer.pad_id, bos_id=self.tokenizer.bos_id,
            eos_id=self.tokenizer.eos_id, pin_memory=self.pin_memory,
        )

    def describe(self, epoch: int) -> str:
        batches = self.batches(epoch)
        share = padding_share(batches, self.src_lengths, self.tgt_lengths)
        line = (
            f"data: {len(self.train):,} training / {len(self.valid):,} validation examples, "
            f"{len(batches):,} batches per epoch per process ({share:.1%} padding), "
            f"vocabulary {self.tokenizer.vocab_size:,}"
        )
        if self.skipped:
            line += (
                f"\nskipped while reading the corpus: {self.skipped} "
                "(python -m seq2seq.data shows what was read and dropped)"
            )
        return line if self.filtered is None else f"{line}\n{self.filtered}"
