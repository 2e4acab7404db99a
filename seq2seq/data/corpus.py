"""Where the corpus is and which reader reads it.

A corpus path is either a folder in the corpus's raw format (the folder holding movie_lines.txt,
or one holding the zip's "cornell movie-dialogs corpus/" folder) or a file of prompt<TAB>reply
rows. It comes from `--corpus PATH`, else $CORNELL_CORPUS, else ./corpora/cornell/, the only
place the corpus is downloaded to when missing.
"""

from __future__ import annotations

import os
from pathlib import Path

from seq2seq.data.cornell import LINES_FILE, OPTIONAL_FILES, REQUIRED_FILES, read_cornell
from seq2seq.data.dialogues import Dialogues
from seq2seq.data.download import CORPUS_SHA256, CORPUS_URLS, RAW_SUBFOLDER, download_corpus
from seq2seq.data.tsv import read_tsv
from seq2seq.errors import UserError
from seq2seq.paths import what_it_is

ENV_VAR = "CORNELL_CORPUS"
DEFAULT_CORPUS = Path("corpora/cornell")
HOW_TO_CHOOSE = f"pass --corpus PATH (a raw-format folder or a .tsv) or set {ENV_VAR}"


def find_raw_folder(folder: Path) -> Path | None:
    """The folder holding movie_lines.txt: `folder` itself or its unzipped subfolder."""
    for candidate in (folder, folder / RAW_SUBFOLDER):
        if (candidate / LINES_FILE).is_file():
            return candidate
    return None


def locate_corpus(path: str | Path) -> Path:
    """An existing corpus path -> the TSV file or the folder holding movie_lines.txt."""
    path = Path(path)
    if path.is_file():
        return path.parent if path.name == LINES_FILE else path
    if path.is_dir():
        raw = find_raw_folder(path)
        if raw is None:
            raise UserError(
                f"corpus folder {path} holds neither {LINES_FILE} nor '{RAW_SUBFOLDER}/': "
                + HOW_TO_CHOOSE
            )
        return raw
    if not path.exists() and not path.is_symlink():
        raise UserError(f"corpus {path} does not exist: {HOW_TO_CHOOSE}")
    raise UserError(f"corpus {path} {what_it_is(path)}, not a file or a folder: {HOW_TO_CHOOSE}")


def resolve_corpus(
    path: str | Path | None = None,
    download: bool = True,
    progress: bool = True,
    urls: tuple[str, ...] | list[str] = CORPUS_URLS,
    sha256: str = CORPUS_SHA256,
) -> Path:
    """The corpus to use: `path` > $CORNELL_CORPUS > ./corpora/cornell/ (downloaded if missing).

    Args:
        path: the `--corpus` value, or None.
        download: fetch the corpus into the default folder when it is missing there.
        progress: show a download progress bar.
        urls, sha256: where to download from and what the zip must hash to.

    Returns:
        A TSV file or the folder holding movie_lines.txt.
    """
    if path is None or str(path) == "":
        path = os.environ.get(ENV_VAR) or None
    if path is not None:
        return locate_corpus(path)
    raw = find_raw_folder(DEFAULT_CORPUS)
    if raw is not None:
        return raw
    if not download:
        raise UserError(
            f"no corpus in {DEFAULT_CORPUS}/: put the unzipped Cornell corpus there, or "
            + HOW_TO_CHOOSE
        )
    return download_corpus(DEFAULT_CORPUS, urls, sha256, progress)


def read_corpus(path: str | Path) -> Dialogues:
    """Parse a corpus path with the reader its format needs."""
    path = locate_corpus(path)
    return read_tsv(path) if path.is_file() else read_cornell(path)


def corpus_files(path: str | Path) -> dict[str, Path]:
    """The files a corpus's content comes from, by role (what the cache key hashes).

    A TSV's role is "tsv" whatever its name, so a renamed copy shares its cache.
    """
    path = locate_corpus(path)
    if path.is_file():
        return {"tsv": path}
    names = REQUIRED_FILES + OPTIONAL_FILES
    return {name: path / name for name in names if (path / name).is_file()}
