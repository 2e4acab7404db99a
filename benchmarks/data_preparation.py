"""Data preparation throughput (cold and cached) and the padding of the training batches.

Preparation is `seq2seq.data.prepare_data` on the run's corpus (`--corpus`, else the test
fixture tests/fixtures/exchanges.tsv): parsing, building (context, reply) examples, splitting,
training the sentencepiece tokenizer on the training split and encoding every split.
- cold: an empty cache folder every time, so all of the above runs;
- warm: the folder the first build wrote, so the tokenizer and encoded splits are loaded.
Throughput is the examples the splits hold (after the length filters) per second.

Padding: the share of pad positions in the padded src and tgt_out tensors of every batch of an
epoch of the training split, for `seq2seq.batching`'s length-sorted batches under the training
config's token budget against the same number of fixed-size batches of shuffled examples.
"""

from __future__ import annotations

import itertools

import numpy as np

from benchmarks.harness import Figure, throughput_figure, time_in_turns
from benchmarks.workload import FIXTURE_CORPUS, Settings
from seq2seq.batching import collate, epoch_batches
from seq2seq.data import PreparedData, prepare_data


def run(settings: Settings) -> list[Figure]:
    """Cold vs warm preparation, and the pad share of bucketed vs random batches."""
    config = settings.transformer_config()
    corpus = settings.corpus or FIXTURE_CORPUS
    cache = settings.work_dir / "cache"
    counter = itertools.count()

    def cold() -> PreparedData:
        return prepare_data(config.data, corpus, settings.work_dir / f"cold-{next(counter)}",
                            progress=False)

    def warm() -> PreparedData:
        data = prepare_data(config.data, corpus, cache, progress=False)
        if not data.cached:
            raise RuntimeError(f"the warm preparation found no cache in {cache}")
        return data

    prepare_data(config.data, corpus, cache, progress=False)  # warm-up; fills warm()'s cache
    timing = time_in_turns({"cold": cold, "warm": warm}, settings.device, settings.repeats,
                           settings.budget_s, measure_memory=True)
    data = warm()
    count = sum(len(split) for split in data.splits.values())
    source = "" if settings.corpus else " (no --corpus: the test fixture)"
    figures = [
        throughput_figure(
            "data.prepare", "Data preparation, warm cache", count, "examples/s",
            timing.times["warm"], "cold (no cache)", reference_times=timing.times["cold"],
            note=f"{corpus.name}{source}: {count} examples; cold = parse, build examples, "
                 "split, train the tokenizer, encode",
        ),
        Figure(
            "memory.data.prepare", "Data preparation peak memory, cold", timing.peak_mib["cold"],
            "MiB", "warm (cache)", timing.peak_mib["warm"], note=timing.memory_method,
        ),
    ]
    return figures + [pad_share(data, config.train.max_tokens, config.train.batch_size, settings)]


def pad_share(data: PreparedData, max_tokens: int, batch_size: int, settings: Settings) -> Figure:
    """Pad share of the training split's bucketed batches vs as many random fixed-size ones."""
    train, tokenizer = data.splits["train"], data.tokenizer
    specials = dict(pad_id=tokenizer.pad_id, bos_id=tokenizer.bos_id, eos_id=tokenizer.eos_id)

    def share(batches: list[np.ndarray]) -> float:
        collated = [collate([train.src[i] for i in b], [train.tgt[i] for i in b], **specials)
                    for b in batches]
        real = sum(b.num_tokens for b in collated)
        return 100.0 * (1.0 - real / sum(b.num_padded for b in collated))

    bucketed = epoch_batches(
        [len(s) for s in train.src], [len(t) for t in train.tgt], max_tokens=max_tokens,
        batch_size=batch_size, seed=settings.seed, epoch=0,
    )
    order = np.random.default_rng(settings.seed).permutation(len(train))
    shuffled = np.array_split(order, len(bucketed))
    return Figure(
        "data.pad_share", "Pad share of training batches, bucketed", share(bucketed), "%",
        "random fixed-size batches", share(shuffled),
        note=f"{len(bucketed)} batches over {len(train)} training examples "
             f"(max_tokens {max_tokens}, batch_size {batch_size}); lower is better",
    )
