"""The on-disk cache of prepared data: one folder per (corpus content, data config).

The key hashes the SHA-256 of every corpus file's bytes (about a tenth of a second for the full
corpus's ~40 MB; unlike size + mtime it survives copies and catches edits), the data config, the
sentencepiece version and `PIPELINE_VERSION`. A folder only ever appears whole: it is written
under a temporary name and renamed into place.

Layout of a folder:
    tokenizer.model          the sentencepiece model
    {train,valid,test}.npz   src / tgt: all ids of a split in one flat int32 array, plus offsets
    {train,valid,test}.json  {"src_text": [...], "tgt_text": [...]}
    stats.json               what `prepare_data` reports
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import sentencepiece as spm

from seq2seq.config import DataConfig
from seq2seq.data.download import file_sha256
from seq2seq.data.examples import Split
from seq2seq.errors import WriteError
from seq2seq.leftovers import remove_leftovers
from seq2seq.tokenizer import Tokenizer

ENV_VAR = "SEQ2SEQ_CACHE"
DEFAULT_CACHE = Path(".cache/seq2seq")
PIPELINE_VERSION = 6  # bump when a change to seq2seq/data changes what it produces
TOKENIZER_FILE = "tokenizer.model"
STATS_FILE = "stats.json"
KEY_LENGTH = 24  # hex digits of the key that name a cache folder
# A folder `write_folder` is writing: `.<key>.<pid>.` then mkdtemp's 8 characters. Only this
# exact shape is cleaned up, so that nothing else a user keeps in the cache folder is touched.
TEMPORARY = re.compile(rf"\.[0-9a-f]{{{KEY_LENGTH}}}\.(?P<pid>\d+)\.[a-z0-9_]{{8}}")


def default_cache_dir() -> Path:
    """$SEQ2SEQ_CACHE, else ./.cache/seq2seq."""
    return Path(os.environ.get(ENV_VAR) or DEFAULT_CACHE)


def cache_key(files: dict[str, Path], config: DataConfig) -> str:
    """A hex digest naming what `prepare_data` would build from these files and this config."""
    description = {
        "pipeline": PIPELINE_VERSION,
        "sentencepiece": spm.__version__,
        "data": dataclasses.asdict(config),
        "files": {role: file_sha256(path) for role, path in files.items()},
    }
    return hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()


def pack(arrays: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Arrays -> (flat, offsets) with arrays[i] == flat[offsets[i]:offsets[i + 1]]."""
    offsets = np.zeros(len(arrays) + 1, dtype=np.int64)
    np.cumsum([len(a) for a in arrays], out=offsets[1:])
    flat = np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.int32)
    return flat.astype(np.int32, copy=False), offsets


def unpack(flat: np.ndarray, offsets: np.ndarray) -> list[np.ndarray]:
    bounds = offsets.tolist()  # slicing with Python ints is several times faster than numpy's
    return [flat[start:end] for start, end in zip(bounds[:-1], bounds[1:], strict=True)]


def write_folder(
    folder: Path, tokenizer: Tokenizer, splits: dict[str, Split], stats: dict[str, Any]
) -> None:
    """Write a cache folder atomically (a concurrent writer of the same key may win instead).

    Raises:
        WriteError: it could not be written (a full disk, a read-only place); the cache is as
            it was and no temporary folder is left.
    """
    temporary = None
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        remove_leftovers(folder.parent, TEMPORARY)  # of builds killed before their rename
        temporary = Path(
            tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.{os.getpid()}.")
        )
        tokenizer.save(temporary / TOKENIZER_FILE)
        for name, split in splits.items():
            src, src_offsets = pack(split.src)
            tgt, tgt_offsets = pack(split.tgt)
            np.savez(
                temporary / f"{name}.npz",
                src=src,
                src_offsets=src_offsets,
                tgt=tgt,
                tgt_offsets=tgt_offsets,
            )
            texts = {"src_text": split.src_text, "tgt_text": split.tgt_text}
            (temporary / f"{name}.json").write_text(json.dumps(texts), encoding="utf-8")
        (temporary / STATS_FILE).write_text(json.dumps(stats, indent=1), encoding="utf-8")
        if folder.exists():
            shutil.rmtree(folder)  # a damaged folder being replaced
        try:
            temporary.rename(folder)
        except OSError:
            if not folder.is_dir():
                raise  # otherwise a concurrent run wrote the same key first: keep theirs
    except OSError as error:
        raise WriteError(
            f"cannot write the data cache in {folder.parent} ({error.strerror or error}); it "
            "was left as it was (free some space, or choose another place: --cache-dir or "
            f"${ENV_VAR})"
        ) from None
    finally:
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)


def read_folder(
    folder: Path, normalize: str, names: tuple[str, ...]
) -> tuple[Tokenizer, dict[str, Split], dict[str, Any]]:
    """Load what `write_folder` wrote; raises (OSError, ValueError, KeyError, ...) if damaged."""
    tokenizer = Tokenizer.from_bytes((folder / TOKENIZER_FILE).read_bytes(), normalize)
    splits = {}
    for name in names:
        with np.load(folder / f"{name}.npz") as arrays:
            src = unpack(arrays["src"], arrays["src_offsets"])
            tgt = unpack(arrays["tgt"], arrays["tgt_offsets"])
        texts = json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))
        splits[name] = Split(name, src, tgt, texts["src_text"], texts["tgt_text"])
        if not len(src) == len(tgt) == len(splits[name].src_text) == len(splits[name].tgt_text):
            raise ValueError(f"{folder / name}: lengths disagree")
    stats = json.loads((folder / STATS_FILE).read_text(encoding="utf-8"))
    return tokenizer, splits, stats
