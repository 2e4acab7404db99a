"""Make the two exchange files the README's results use, from their public sources:

    python -m seq2seq.data.exchanges --out corpora/exchanges      # downloads ~10 MB
    python -m seq2seq.data.exchanges --out DIR --source FOLDER    # local copies, offline

exchanges-25k.tsv: the first 25,000 lines of data/test.enc (prompts) and data/test.dec (replies)
of github.com/tusharjayanti/TensorflowChatbot at commit 0bb5f402, paired line by line, a tab
inside a side replaced by a space, each side stripped, UTF-8.

exchanges-extra-16k.tsv: the lines of "data/cornell movie-dialogs corpus/
formatted_movie_lines.txt" of github.com/lopeslopesedu/final_project at commit 6049199e (the
PyTorch chatbot tutorial's format, kept byte for byte), in file order, each line once, without
the lines of exchanges-25k.tsv. The shared file holds 3 rows more whose origin is not recorded,
so this recipe does not give its SHA-256; the command says so and writes nothing.

Each file is checked against its SHA-256 before it is written (atomically); a mismatch is a
one-line error. Lines are split on "\\n" only: the sources hold U+0085 (NEXT LINE) characters,
which Python's `splitlines` would take for line breaks.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from seq2seq.errors import UserError, run_cli
from seq2seq.paths import check_writable_folder

TENSORFLOW_CHATBOT = (
    "https://raw.githubusercontent.com/tusharjayanti/TensorflowChatbot/"
    "0bb5f402896de3787e57b6eeca7c77b34a718a59/data/"
)
FINAL_PROJECT = (
    "https://raw.githubusercontent.com/lopeslopesedu/final_project/"
    "6049199ef1770dd68da3277dd33a3cd573d8cef0/data/cornell%20movie-dialogs%20corpus/"
)
SOURCES = {  # local file name (in --source) -> URL
    "test.enc": TENSORFLOW_CHATBOT + "test.enc",
    "test.dec": TENSORFLOW_CHATBOT + "test.dec",
    "formatted_movie_lines.txt": FINAL_PROJECT + "formatted_movie_lines.txt",
}
MAIN_ROWS = 25_000
TIMEOUT_S = 60


@dataclass(frozen=True)
class Target:
    """A file to make and the SHA-256 it must have."""

    name: str
    sha256: str


MAIN = Target(
    "exchanges-25k.tsv", "d1604c14895f4a57ddbdea5fb62cddf2cbc44855498df462cb35883a169ef5c7"
)
EXTRA = Target(
    "exchanges-extra-16k.tsv", "b9b986bb1aa8a62df5949257527a00ca582979ed9912f144a5a9f12e872e6b17"
)


def lines(text: str) -> list[str]:
    """The lines of a file's text, split on \\n only (a final \\n ends the last line)."""
    parts = text.split("\n")
    return parts[:-1] if parts and parts[-1] == "" else parts


def side(text: str) -> str:
    """One side of a row: a tab would split the row, so it becomes a space; then stripped."""
    return text.replace("\t", " ").strip()


def pair_lines(prompts: str, replies: str, rows: int = MAIN_ROWS) -> bytes:
    """The first `rows` prompt and reply lines paired into prompt<TAB>reply rows, UTF-8."""
    prompt_lines, reply_lines = lines(prompts)[:rows], lines(replies)[:rows]
    if min(len(prompt_lines), len(reply_lines)) < rows:
        raise UserError(f"the sources hold {len(prompt_lines):,} prompts and "
                        f"{len(reply_lines):,} replies; {rows:,} of each are needed")
    paired = (f"{side(p)}\t{side(r)}\n" for p, r in zip(prompt_lines, reply_lines, strict=True))
    return "".join(paired).encode("utf-8")


def new_lines(formatted: str, known: bytes) -> bytes:
    """The lines of `formatted`, each once and in file order, that `known` does not hold."""
    seen = set(lines(known.decode("utf-8")))
    kept = []
    for line in lines(formatted):
        if line not in seen:
            seen.add(line)
            kept.append(line + "\n")
    return "".join(kept).encode("utf-8")


def read_source(name: str, folder: Path | None) -> str:
    """A source file's text: from `folder` when given, else downloaded from its commit."""
    if folder is not None:
        path = folder / name
        try:
            return path.read_bytes().decode("utf-8")
        except FileNotFoundError:
            needed = ", ".join(SOURCES)
            raise UserError(f"{path} does not exist (--source needs {needed})") from None
        except UnicodeDecodeError as error:
            raise UserError(f"{path} is not UTF-8 ({error.reason} at byte {error.start})") from None
    url = SOURCES[name]
    print(f"downloading {url}", file=sys.stderr)
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as reply:
            return reply.read().decode("utf-8")
    except (OSError, UnicodeDecodeError) as error:  # URLError is an OSError
        reason = getattr(error, "reason", None) or error
        raise UserError(f"cannot download {url} ({reason}); fetch it yourself and pass the "
                        "folder holding it with --source") from None


def checked(target: Target, data: bytes, note: str = "") -> bytes:
    """`data` when its SHA-256 is the target's; otherwise a one-line UserError."""
    digest = hashlib.sha256(data).hexdigest()
    if digest != target.sha256:
        raise UserError(f"{target.name} came out with SHA-256 {digest}, not {target.sha256}: "
                        f"not written{note}")
    return data


def write_atomically(path: Path, data: bytes) -> None:
    """Write `data` to a temporary file beside `path`, then rename it into place: an
    interrupted run leaves the old file or none, never half a file."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)  # gone already when the rename succeeded


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m seq2seq.data.exchanges",
        description="Make exchanges-25k.tsv (and try exchanges-extra-16k.tsv) from their public "
        "sources, each checked by its SHA-256.",
    )
    parser.add_argument("--out", type=Path, required=True, help="folder to write the files to")
    parser.add_argument("--source", type=Path, help="a folder holding test.enc, test.dec and "
                        "formatted_movie_lines.txt (default: download them)")
    parser.add_argument("--extra", action="store_true",
                        help="also make exchanges-extra-16k.tsv (see docs/data.md: its 3 last "
                        "rows are of unknown origin, so it is refused unless they come back)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    check_writable_folder(args.out, f"--out {args.out}", "choose another --out")
    main_rows = checked(MAIN, pair_lines(read_source("test.enc", args.source),
                                         read_source("test.dec", args.source)))
    args.out.mkdir(parents=True, exist_ok=True)
    write_atomically(args.out / MAIN.name, main_rows)
    print(f"wrote {args.out / MAIN.name} (SHA-256 {MAIN.sha256[:12]}..., as shared)")
    if args.extra:
        extra = new_lines(read_source("formatted_movie_lines.txt", args.source), main_rows)
        note = " (the shared file holds 3 rows of unrecorded origin; see docs/data.md)"
        write_atomically(args.out / EXTRA.name, checked(EXTRA, extra, note))
        print(f"wrote {args.out / EXTRA.name} (SHA-256 {EXTRA.sha256[:12]}..., as shared)")
    return 0


if __name__ == "__main__":
    run_cli(main)
