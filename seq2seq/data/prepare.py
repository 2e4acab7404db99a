"""Corpus -> examples -> splits -> tokenizer (trained on train only) -> encoded splits, cached.

    prepared = prepare_data(config.data, resolve_corpus(args.corpus))
    prepared.tokenizer, prepared.splits["train"].src[0], prepared.stats["dropped"]

Only the training split is filtered by `data.filter` (seq2seq/data/entropy.py).

The second call with the same corpus content and data config loads everything from the cache
(see cache.py); a changed config builds anew under a different key.
"""

from __future__ import annotations

import sys
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from seq2seq.config import DataConfig
from seq2seq.data.cache import ENV_VAR as CACHE_ENV_VAR
from seq2seq.data.cache import (
    KEY_LENGTH,
    cache_key,
    default_cache_dir,
    read_folder,
    write_folder,
)
from seq2seq.data.corpus import corpus_files, locate_corpus, read_corpus
from seq2seq.data.dialogues import Dialogues, count_summary
from seq2seq.data.direction import orient
from seq2seq.data.entropy import FilterResult, filter_examples
from seq2seq.data.examples import (
    Encoded,
    Example,
    Split,
    build_examples,
    check_not_emptied,
    encode_examples,
    training_texts,
)
from seq2seq.data.splits import SPLITS, TooFewGroups, duplicate_responses, split_examples
from seq2seq.errors import UserError
from seq2seq.paths import check_writable_folder
from seq2seq.tokenizer import Tokenizer

PERCENTILES = (50, 90, 99)


@dataclass
class PreparedData:
    """Everything training needs from the data, plus the statistics behind it."""

    tokenizer: Tokenizer
    splits: dict[str, Split]  # "train", "valid", "test"
    stats: dict[str, Any]  # plain JSON-able values, see `describe`
    key: str  # the cache key: equal keys, equal data
    corpus: Path  # the TSV file or the folder holding movie_lines.txt
    cached: bool = False  # loaded from the cache rather than built


# What `describe` returns, as far as its readers rely on it: a key's value is its type, or the
# keys it holds in turn. A cached stats.json that does not fit is damaged and rebuilt.
LENGTHS_SHAPE = {**{f"p{q}": int for q in PERCENTILES}, "max": int}
STATS_SHAPE: dict[str, Any] = {
    "format": str,
    "corpus": dict,
    "skipped": dict,
    "examples_before_filtering": int,
    "dropped": dict,
    "examples": dict.fromkeys(SPLITS, int),
    "entropy_filter": {
        "filter": str, "threshold": (int, float), "pairs": int, "dropped": int,
        "top_dropped": list, "distribution": {"would_drop": dict, "highest": dict},
    },
    "groups": dict.fromkeys(SPLITS, int),
    "duplicate_responses": dict,
    "lengths": {"context": LENGTHS_SHAPE, "response": LENGTHS_SHAPE},
    "tokenizer": {
        "type": str, "vocab_size": int, "requested_vocab_size": int, "normalize": str,
        "fingerprint": str,
    },
}


def fits(value: Any, shape: Any) -> bool:
    """Whether `value` has `shape` (a type, a tuple of types, or a dict of keys' shapes)."""
    if isinstance(shape, dict):
        return isinstance(value, dict) and all(
            key in value and fits(value[key], inner) for key, inner in shape.items()
        )
    return isinstance(value, shape)


def length_percentiles(lengths: list[int]) -> dict[str, int]:
    """{"p50": .., "p90": .., "p99": .., "max": ..} in tokens (zeros when there are none)."""
    if not lengths:
        return {**{f"p{q}": 0 for q in PERCENTILES}, "max": 0}
    values = np.percentile(lengths, PERCENTILES, method="nearest")
    return {
        **{f"p{q}": int(v) for q, v in zip(PERCENTILES, values, strict=True)},
        "max": max(lengths),
    }


def describe(
    dialogues_format: str,
    counts: dict[str, int],
    skipped: Counter[str],
    examples: dict[str, list[Example]],
    encoded: dict[str, Encoded],
    tokenizer: Tokenizer,
    config: DataConfig,
    filtered: FilterResult,
) -> dict[str, Any]:
    """The statistics `python -m seq2seq.data` prints and runs record."""
    dropped: Counter[str] = Counter(filtered.dropped)
    for result in encoded.values():
        dropped.update(result.dropped)
    splits = {name: result.split for name, result in encoded.items()}
    context_lengths = [n for result in encoded.values() for n in result.context_lengths]
    response_lengths = [n for result in encoded.values() for n in result.response_lengths]
    return {
        "format": dialogues_format,
        "corpus": dict(counts),
        "skipped": dict(skipped),
        "examples_before_filtering": sum(len(group) for group in examples.values()),
        "dropped": dict(dropped),
        "examples": {name: len(split) for name, split in splits.items()},
        "entropy_filter": filtered.stats,
        "groups": {name: len({e.group for e in group}) for name, group in examples.items()},
        "duplicate_responses": duplicate_responses(splits),
        # Before the length filters, so that they show what data.max_*_len cuts off.
        "lengths": {
            "context": length_percentiles(context_lengths),
            "response": length_percentiles(response_lengths),
        },
        "tokenizer": {
            "type": config.tokenizer,
            "vocab_size": tokenizer.vocab_size,
            "requested_vocab_size": config.vocab_size,
            "normalize": config.normalize,
            "fingerprint": tokenizer.fingerprint(),
        },
    }


def what_was_read(dialogues: Dialogues) -> str:
    """What reading a corpus gave, e.g. "read 0 rows, 0 chains, 0 utterances; skipped 3
    malformed row (expected prompt<TAB>reply)"."""
    skipped = count_summary(dialogues.skipped, largest_first=True)
    return f"read {count_summary(dialogues.counts) or 'nothing'}; " + (
        f"skipped {skipped}" if skipped else "nothing was skipped"
    )


def build(
    corpus: Path, config: DataConfig, progress: bool
) -> tuple[Tokenizer, dict[str, Split], dict[str, Any]]:
    """Run the whole pipeline (no cache)."""
    with tqdm(total=3 + len(SPLITS), desc="data", disable=None if progress else True) as bar:
        bar.set_postfix_str("reading corpus")
        dialogues = read_corpus(corpus)
        bar.update()
        try:
            examples = split_examples(build_examples(dialogues, config.context_turns), config)
        except TooFewGroups as error:
            unit = "movies" if dialogues.format == "raw" else "conversation chains"
            raise UserError(
                f"corpus {corpus} gives only {error.groups} {unit} with an exchange, and train, "
                f"valid and test need at least {len(SPLITS)}: {what_was_read(dialogues)}"
            ) from None
        bar.update()
        bar.set_postfix_str("training tokenizer")
        tokenizer = Tokenizer.train(
            training_texts(examples["train"]), config.vocab_size, config.tokenizer, config.normalize
        )
        bar.update()
        # After the tokenizer, which thus learns from the whole training split whatever the
        # filter: runs with and without it share a tokenizer (and valid/test are never touched).
        filtered = filter_examples(
            examples["train"], tokenizer.normalize_text, config.filter, config.filter_threshold
        )
        encoded = {}
        for name in SPLITS:
            bar.set_postfix_str(f"encoding {name}")
            kept = filtered.kept if name == "train" else examples[name]
            encoded[name] = encode_examples(kept, tokenizer, config, name)
            check_not_emptied(encoded[name], config)
            bar.update()
    splits = {name: result.split for name, result in encoded.items()}
    stats = describe(
        dialogues.format, dialogues.counts, dialogues.skipped, examples, encoded, tokenizer,
        config, filtered,
    )
    return tokenizer, splits, stats


def prepare_data(
    data_config: DataConfig,
    corpus: str | Path,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> PreparedData:
    """Tokenizer and encoded train/valid/test splits for a corpus, from the cache when possible.

    The cache holds the forward splits; `data.direction` is applied to what it gives.

    Args:
        data_config: the `data` section of the config.
        corpus: a path as `resolve_corpus` returns (or any path it accepts).
        cache_dir: where prepared data is kept; default $SEQ2SEQ_CACHE or ./.cache/seq2seq.
        progress: show a progress bar while building.
    """
    prepared = prepare_forward(data_config.stored_view(), corpus, cache_dir, progress)
    prepared.splits = {
        name: orient(split, data_config.direction, prepared.tokenizer)
        for name, split in prepared.splits.items()
    }
    return prepared


def prepare_forward(
    data_config: DataConfig, corpus: str | Path, cache_dir: str | Path | None, progress: bool
) -> PreparedData:
    """`prepare_data` for a forward config: read from the cache, or built and cached."""
    corpus = locate_corpus(corpus)
    key = cache_key(corpus_files(corpus), data_config)
    folder = Path(cache_dir if cache_dir is not None else default_cache_dir()) / key[:KEY_LENGTH]
    if folder.is_dir():
        try:
            tokenizer, splits, stats = read_folder(folder, data_config.normalize, SPLITS)
            if not fits(stats, STATS_SHAPE):
                raise ValueError(f"{folder}: stats.json lacks what describe() writes")
            return PreparedData(tokenizer, splits, stats, key, corpus, cached=True)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, UserError):
            print(f"warning: cached data in {folder} is damaged; rebuilding it", file=sys.stderr)
    check_writable_folder(  # before building: what is built must be kept
        folder.parent,
        f"data cache {folder.parent}",
        "choose another with --cache-dir" if cache_dir is not None
        else f"point ${CACHE_ENV_VAR} at another folder",
    )
    tokenizer, splits, stats = build(corpus, data_config, progress)
    write_folder(folder, tokenizer, splits, stats)
    return PreparedData(tokenizer, splits, stats, key, corpus)


def encode_corpus(corpus: str | Path, data_config: DataConfig, tokenizer: Tokenizer) -> Split:
    """Every example of a corpus (no split), normalised and filtered as in training.

    For evaluating a trained model on other data: the split is named "all", read in
    `data.direction`.
    """
    examples = build_examples(read_corpus(corpus), data_config.context_turns)
    split = encode_examples(examples, tokenizer, data_config, "all").split
    return orient(split, data_config.direction, tokenizer)
