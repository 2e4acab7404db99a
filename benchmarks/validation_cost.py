"""What reply diversity and relevance add to a validation: the greedy decoding of
`train.diversity_prompts` prompts and the ranking of `train.relevance_examples` examples'
candidates (valid/hits1_*, valid/context_gap) against the teacher-forced validation loss, timed
in turns in one process.

    python -m benchmarks.validation_cost runs/protocol-cpu-transformer runs/protocol-cpu-gru \
        --corpus ../shared/corpora/cornell/exchanges-25k.tsv --threads 1

For each run folder (its offered checkpoint, on the CPU) it rebuilds the run's validation data
exactly as training does and prints the median seconds of each and their ratios to the loss.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from seq2seq.checkpoint import load_trained
from seq2seq.data import prepare_data, resolve_corpus
from seq2seq.decoding import Decoding
from seq2seq.device import Precision, set_threads
from seq2seq.errors import run_cli
from seq2seq.training.data import TrainingData
from seq2seq.training.distributed import Distributed
from seq2seq.training.validation import diversity_replies, relevance_scalars, validate


def validation_cost(run: str, corpus: str | None, repeats: int) -> tuple[float, float, float]:
    """Median seconds of (the validation loss, the diversity decoding, the relevance ranking;
    0.0 when the run ranks nothing) of one run."""
    trained = load_trained(run)
    config = trained.config
    prepared = prepare_data(config.data, resolve_corpus(corpus))
    data = TrainingData(prepared, config, Distributed(), pin_memory=False)
    precision = Precision("fp32", torch.device("cpu"))
    decoding = Decoding.plain_greedy(config.decode.max_len, prepared.tokenizer)
    loss_seconds, diversity_seconds, relevance_seconds = [], [], []
    for _ in range(repeats):
        start = time.perf_counter()
        validate(trained.model, data.valid_batches, precision, prepared.tokenizer.pad_id)
        loss_seconds.append(time.perf_counter() - start)
        start = time.perf_counter()
        diversity_replies(trained.model, data.diversity_batches, prepared.tokenizer,
                          decoding, precision)
        diversity_seconds.append(time.perf_counter() - start)
        start = time.perf_counter()
        if data.relevance is not None:
            relevance_scalars(trained.model, data.relevance, prepared.tokenizer,
                              config.train.batch_size)
        relevance_seconds.append(time.perf_counter() - start if data.relevance else 0.0)
    return (statistics.median(loss_seconds), statistics.median(diversity_seconds),
            statistics.median(relevance_seconds))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run folders or .pt checkpoints")
    parser.add_argument("--corpus", help="the runs' corpus (default: as train.py)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, help="CPU threads for torch")
    args = parser.parse_args(argv)
    set_threads(args.threads)
    for run in args.runs:
        loss, diversity, relevance = validation_cost(run, args.corpus, max(args.repeats, 1))
        print(f"{run}: validation loss {loss:.2f} s, diversity decoding {diversity:.2f} s, "
              f"ratio {diversity / loss:.2f}; relevance ranking {relevance:.2f} s, ratio "
              f"{relevance / loss:.2f}")
    return 0


if __name__ == "__main__":
    run_cli(main)
