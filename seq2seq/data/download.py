"""Fetch the Cornell corpus zip, verify it, and unpack it without ever leaving half a corpus.

The zip is streamed to a temporary file beside its destination and moved into place only once its
SHA-256 matches; it is unpacked into a temporary folder that is renamed into place only once
every member has been checked to stay inside it. An interrupted run leaves nothing half-made.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from tqdm import tqdm

from seq2seq.data.cornell import LINES_FILE
from seq2seq.errors import UserError

CORPUS_URLS = (
    "https://www.cs.cornell.edu/~cristian/data/cornell_movie_dialogs_corpus.zip",
    "https://s3.amazonaws.com/pytorch-tutorial-assets/cornell_movie_dialogs_corpus.zip",
)
CORPUS_SHA256 = "3bde8a571f615201bc2d2453e22878090719638592f774720eddec739de8c900"
ZIP_NAME = "cornell_movie_dialogs_corpus.zip"
RAW_SUBFOLDER = "cornell movie-dialogs corpus"  # the folder inside the zip
TIMEOUT_S = 30
CHUNK_BYTES = 1 << 16


class DownloadError(Exception):
    """One URL did not deliver the expected file (the next mirror may)."""


def file_sha256(path: Path) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def fetch(url: str, destination: Path, sha256: str, progress: bool = True) -> None:
    """Download `url` to `destination` if its SHA-256 is `sha256`; otherwise leave nothing.

    Raises:
        DownloadError: unreachable, interrupted, or a different file.
    """
    fd, temporary = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.")
    try:
        with os.fdopen(fd, "wb") as file, urllib.request.urlopen(url, timeout=TIMEOUT_S) as reply:
            length = reply.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            digest, received = hashlib.sha256(), 0
            with tqdm(
                total=total,
                unit="B",
                unit_scale=True,
                desc=ZIP_NAME,
                disable=None if progress else True,
            ) as bar:
                while chunk := reply.read(CHUNK_BYTES):
                    file.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
        if total is not None and received != total:
            raise DownloadError(f"transfer interrupted after {received} of {total} bytes")
        if digest.hexdigest() != sha256:
            raise DownloadError(f"SHA-256 is {digest.hexdigest()}, expected {sha256}")
        os.replace(temporary, destination)
    except (OSError, ValueError, http.client.HTTPException) as error:  # URLError is an OSError
        reason = getattr(error, "reason", None) or str(error) or type(error).__name__
        raise DownloadError(str(reason)) from None
    finally:
        Path(temporary).unlink(missing_ok=True)  # gone already when the download succeeded


def check_members(archive: zipfile.ZipFile, root: Path) -> None:
    """Refuse archives whose members would land outside `root` ("../x", "/etc/x")."""
    root = root.resolve()
    for name in archive.namelist():
        if not (root / name).resolve().is_relative_to(root):
            raise UserError(
                f"the corpus zip holds a member outside its folder ({name!r}); refusing to unpack"
            )


def extract(archive_path: Path, target: Path) -> Path:
    """Unpack the corpus zip so that `target` becomes the folder holding movie_lines.txt."""
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".unpacking-") as temporary:
        root = Path(temporary)
        try:
            with zipfile.ZipFile(archive_path) as archive:
                check_members(archive, root)
                archive.extractall(root)
        except zipfile.BadZipFile:
            raise UserError(f"{archive_path} is not a zip file: delete it and run again") from None
        found = [path.parent for path in (root / LINES_FILE, *root.glob(f"*/{LINES_FILE}"))]
        found = [folder for folder in found if (folder / LINES_FILE).is_file()]
        if not found:
            raise UserError(f"{archive_path} holds no {LINES_FILE}: is it the Cornell corpus?")
        try:
            found[0].rename(target)
        except OSError:
            raise UserError(f"{target} is in the way: remove it and run again") from None
    return target


def download_corpus(
    folder: Path,
    urls: tuple[str, ...] | list[str] = CORPUS_URLS,
    sha256: str = CORPUS_SHA256,
    progress: bool = True,
) -> Path:
    """Download (trying each URL in turn), verify and unpack the corpus into `folder`.

    Returns:
        `folder / RAW_SUBFOLDER`, the folder holding movie_lines.txt.
    """
    folder.mkdir(parents=True, exist_ok=True)
    archive = folder / ZIP_NAME
    if not (archive.is_file() and file_sha256(archive) == sha256):
        failures = []
        for url in urls:
            try:
                fetch(url, archive, sha256, progress)
                break
            except DownloadError as error:
                failures.append(f"{url}: {error}")
        else:
            raise UserError(
                f"could not download the Cornell corpus ({'; '.join(failures)}): put the "
                f"unzipped corpus (the folder holding {LINES_FILE}) in {folder}/, or pass "
                "--corpus PATH (a raw-format folder or a .tsv) or set CORNELL_CORPUS"
            )
    return extract(archive, folder / RAW_SUBFOLDER)
