"""The settings of a benchmark run and the examples every model benchmark runs on.

With `--corpus` the examples are the training split of that corpus, prepared by the project's
own pipeline (`seq2seq.data.prepare_data`, cached in the run's temporary folder). Without it
they are synthetic: random token ids whose lengths are drawn from a fixed distribution shaped
like the Cornell exchanges (see `SYNTHETIC_MEDIAN`), so the batches look like real ones
without touching any data. Either way batches are cut by `seq2seq.batching` with the
Transformer training config's token budget, exactly as training cuts them, and every model
(the GRU too) is timed on the same batches.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from seq2seq.batching import Batch, collate, epoch_batches
from seq2seq.config import Config, load_config
from seq2seq.tokenizer import BOS_ID, EOS_ID, PAD_ID

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_CORPUS = ROOT / "tests" / "fixtures" / "exchanges.tsv"

# Lengths in tokens of a context and of a reply, drawn independently from log-normals fitted to
# ../shared/corpora/cornell/exchanges-25k.tsv under configs/transformer.yaml's 8k unigram
# tokenizer: the 10th to 99th percentiles of the training split match within 2 tokens. As in
# the data pipeline, a length over the data config's limit is dropped (drawn again), not cut.
SYNTHETIC_MEDIAN = {"src": 11.0, "tgt": 10.0}
SYNTHETIC_SIGMA = 0.85
SYNTHETIC_EXAMPLES = 4096


@dataclass(frozen=True)
class Settings:
    """Everything a benchmark needs to know about this run (frozen, so it can key a cache)."""

    device: torch.device
    quick: bool
    corpus: Path | None  # None: synthetic examples (models), the test fixture (data pipeline)
    run_dir: Path | None  # a trained run for the chat benchmark; None: train a throwaway one
    work_dir: Path  # a temporary folder for caches and throwaway runs, removed afterwards
    repeats: int  # timed rounds at most ...
    budget_s: float | None  # ... and none started after this many seconds of a measurement
    train_batches: int  # batches per timed training pass
    new_tokens: int  # tokens generated per source by the decoding benchmark
    precisions: tuple[str, ...]  # ("fp32",) on CPU, ("fp32", "bf16") on CUDA
    peak_tflops: float | None  # the GPU's dense bf16 peak, overriding the built-in table
    seed: int = 1234

    @property
    def transformer_config_path(self) -> Path:
        return ROOT / "configs" / ("tiny-transformer.yaml" if self.quick else "transformer.yaml")

    @property
    def gru_config_path(self) -> Path:
        return ROOT / "configs" / ("tiny-gru.yaml" if self.quick else "gru.yaml")

    def transformer_config(self) -> Config:
        return load_config(self.transformer_config_path)

    def gru_config(self) -> Config:
        return load_config(self.gru_config_path)


@dataclass(frozen=True)
class Vocabulary:
    """What `build_model` needs from a tokenizer, for synthetic examples."""

    vocab_size: int
    pad_id: int = PAD_ID
    bos_id: int = BOS_ID
    eos_id: int = EOS_ID


@dataclass(frozen=True)
class Examples:
    """Tokenized (context, reply) examples without bos/eos, and where they came from."""

    src: list[np.ndarray]
    tgt: list[np.ndarray]
    vocab: Vocabulary
    source: str  # "synthetic ..." or the corpus path

    def collate(self, indices: np.ndarray | list[int]) -> Batch:
        """The padded batch of examples `indices`."""
        return collate(
            [self.src[i] for i in indices],
            [self.tgt[i] for i in indices],
            pad_id=self.vocab.pad_id,
            bos_id=self.vocab.bos_id,
            eos_id=self.vocab.eos_id,
        )


def synthetic_examples(config: Config, count: int, seed: int) -> Examples:
    """`count` examples of random ids with Cornell-like lengths (see `SYNTHETIC_MEDIAN`)."""
    rng = np.random.default_rng(seed)
    vocab = Vocabulary(config.data.vocab_size)
    limits = {"src": config.data.max_src_len, "tgt": config.data.max_tgt_len}

    def draw(side: str) -> list[np.ndarray]:
        lengths = np.empty(0, dtype=int)
        while len(lengths) < count:
            drawn = np.rint(rng.lognormal(np.log(SYNTHETIC_MEDIAN[side]), SYNTHETIC_SIGMA, count))
            lengths = np.concatenate([lengths, drawn[(drawn >= 1) & (drawn <= limits[side])]])
        # any ids but the special ones (pad, unk, bos, eos); their values do not matter
        return [rng.integers(EOS_ID + 1, vocab.vocab_size, n, dtype=np.int32)
                for n in lengths[:count].astype(int)]

    medians = f"{SYNTHETIC_MEDIAN['src']:g} / {SYNTHETIC_MEDIAN['tgt']:g}"
    source = f"synthetic: {count} examples of log-normal lengths (medians {medians} tokens)"
    return Examples(draw("src"), draw("tgt"), vocab, source)


def corpus_examples(config: Config, corpus: Path, cache_dir: Path) -> Examples:
    """The training split of `corpus`, through the project's data pipeline."""
    from seq2seq.data import prepare_data

    prepared = prepare_data(config.data, corpus, cache_dir=cache_dir, progress=False)
    tokenizer = prepared.tokenizer
    vocab = Vocabulary(tokenizer.vocab_size, tokenizer.pad_id, tokenizer.bos_id, tokenizer.eos_id)
    train = prepared.splits["train"]
    return Examples(train.src, train.tgt, vocab, f"{corpus} (training split)")


@functools.cache
def examples(settings: Settings) -> Examples:
    """The examples of this run: the corpus's training split, or synthetic ones."""
    config = settings.transformer_config()
    if settings.corpus is None:
        return synthetic_examples(config, SYNTHETIC_EXAMPLES, settings.seed)
    return corpus_examples(config, settings.corpus, settings.work_dir / "cache")


def training_batches(settings: Settings, count: int) -> list[Batch]:
    """`count` training batches of representative shapes, cut with the training config's budget.

    The epoch's batches are sorted by padded size and taken at evenly spaced quantiles, so a
    few batches span short and long ones instead of depending on the luck of the draw.
    """
    data = examples(settings)
    train = settings.transformer_config().train
    groups = epoch_batches(
        [len(s) for s in data.src], [len(t) for t in data.tgt],
        max_tokens=train.max_tokens, batch_size=train.batch_size, seed=settings.seed, epoch=0,
    )
    batches = sorted((data.collate(group) for group in groups), key=lambda b: b.num_padded)
    picks = [int((i + 0.5) * len(batches) / count) for i in range(min(count, len(batches)))]
    return [batches[i] for i in picks]


def decoding_sources(settings: Settings, batch_size: int) -> Batch:
    """`batch_size` examples drawn at random (fixed seed); only their sources are decoded."""
    data = examples(settings)
    rng = np.random.default_rng(settings.seed + batch_size)
    return data.collate(rng.choice(len(data.src), size=batch_size, replace=False))
