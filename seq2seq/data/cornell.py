"""Reader for the Cornell Movie-Dialogs Corpus in its own format (Danescu-Niculescu-Mizil & Lee,
2011, "Chameleons in imagined conversations").

Files are ISO-8859-1 with fields separated by " +++$+++ ":

    movie_lines.txt                 lineID, characterID, movieID, character name, text
    movie_conversations.txt         characterID, characterID, movieID, "['L194', 'L195', ...]"
    movie_titles_metadata.txt       movieID, title, year, rating, votes, genres
    movie_characters_metadata.txt   characterID, name, movieID, title, gender, credits position

Malformed lines and conversations naming a missing line are skipped and counted; empty
utterances are kept (and counted) so that the examples using them are dropped with a reason.
"""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

from seq2seq.data.dialogues import Conversation, Dialogues, Turn
from seq2seq.errors import UserError

SEPARATOR = " +++$+++ "
ENCODING = "iso-8859-1"
LINES_FILE = "movie_lines.txt"
CONVERSATIONS_FILE = "movie_conversations.txt"
TITLES_FILE = "movie_titles_metadata.txt"
CHARACTERS_FILE = "movie_characters_metadata.txt"
REQUIRED_FILES = (LINES_FILE, CONVERSATIONS_FILE)
OPTIONAL_FILES = (TITLES_FILE, CHARACTERS_FILE)  # metadata: only counted, never needed


def read_records(path: Path, n_fields: int, skipped: Counter[str]) -> list[list[str]]:
    """Split every non-blank line of `path` into `n_fields` fields; count the others."""
    try:
        text = path.read_bytes().decode(ENCODING)  # every byte is a character: never fails
    except OSError as error:
        raise UserError(f"cannot read {path}: {error.strerror}") from None
    records = []
    # Split on "\n" only: a stray "\r" inside an utterance must not break the line.
    for line in text.split("\n"):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        fields = line.split(SEPARATOR)
        if len(fields) != n_fields:
            skipped[f"malformed line in {path.name}"] += 1
            continue
        records.append(fields)
    return records


def parse_line_ids(field: str) -> list[str] | None:
    """`"['L194', 'L195']"` -> ["L194", "L195"]; None when it is not a list of strings."""
    try:
        value = ast.literal_eval(field.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        return None
    return value


def read_cornell(folder: str | Path) -> Dialogues:
    """Parse the raw corpus files in `folder` (the one holding movie_lines.txt)."""
    folder = Path(folder)
    for name in REQUIRED_FILES:
        if not (folder / name).is_file():
            raise UserError(f"corpus folder {folder} has no {name} (is it the unzipped corpus?)")
    skipped: Counter[str] = Counter()

    lines: dict[str, str] = {}
    for line_id, _, _, _, text in read_records(folder / LINES_FILE, 5, skipped):
        if line_id in lines:
            skipped[f"duplicate line id in {LINES_FILE}"] += 1
            continue
        lines[line_id] = text.strip()

    conversations = []
    for _, _, movie_id, field in read_records(folder / CONVERSATIONS_FILE, 4, skipped):
        line_ids = parse_line_ids(field)
        if line_ids is None:
            skipped[f"malformed line in {CONVERSATIONS_FILE}"] += 1
        elif any(line_id not in lines for line_id in line_ids):
            skipped["conversation names a missing line id"] += 1
        else:
            turns = [Turn(line_id, lines[line_id]) for line_id in line_ids]
            conversations.append(Conversation(group=movie_id.strip(), turns=turns))

    counts = {
        "utterances": len(lines),
        "empty utterances": sum(1 for text in lines.values() if not text),
        "conversations": len(conversations),
        "movies": len({c.group for c in conversations}),
    }
    for name, n_fields, key in (
        (TITLES_FILE, 6, "movie titles"),
        (CHARACTERS_FILE, 6, "characters"),
    ):
        if (folder / name).is_file():
            counts[key] = len(read_records(folder / name, n_fields, skipped))
    return Dialogues("raw", conversations, counts, skipped)
