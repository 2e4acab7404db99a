"""Reader for `prompt<TAB>reply` files (the PyTorch Chatbot Tutorial's formatted_movie_lines.txt).

Rows are linked by text where the continuation is unambiguous: a row whose prompt is the reply
of exactly one row continues that row's conversation (A->B, B->C), wherever the two rows are in
the file, so a skipped or unrelated row in between does not break the link. A prompt that is the
reply of several rows ("Yeah.", "What?") links to none of them: nothing says which scene it
continues. Linked rows form one chain, the unit kept within one split.

What this guarantees: every row whose prompt is the reply of exactly one row is in that row's
chain, hence in its split. So a reply text that no other row gives is never a prompt in
another split; a reply text that several rows give (a generic line) may be. A chain's earlier
turns serve as context when `data.context_turns` > 1, and are then the turns of that one
earlier row: a branch (a second row continuing the same row) starts a conversation of the same
chain without them.
"""

from __future__ import annotations

import codecs
import shlex
from collections import Counter
from pathlib import Path

from seq2seq.data.dialogues import Conversation, Dialogues, Turn
from seq2seq.errors import UserError

NOT_UTF8 = "row is not valid UTF-8"
# Lines of text per NUL-holding line above which a file is taken for binary data or UTF-16/32
# (a NUL in nearly every line there; in random bytes, in about half of the lines).
NUL_LINES_OF_TEXT = 10
# UTF-32's marks first: UTF-32 LE's begins with UTF-16 LE's.
BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)


def read_tsv(path: str | Path) -> Dialogues:
    """Parse a UTF-8 `prompt<TAB>reply` file into conversation chains.

    Rows without exactly one tab, or not valid UTF-8, are skipped and counted. Rows with an empty
    side are kept here (an empty side never links) and dropped (and counted) when examples are
    built. A file that is not UTF-8 text at all (UTF-16 or UTF-32, binary, mostly undecodable
    rows) is refused; a UTF-8 byte-order mark is ignored.

    Raises:
        UserError: the file cannot be read, is not UTF-8 text, holds a NUL byte, or ends its
            rows with CR alone.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise UserError(f"cannot read corpus {path}: {error.strerror}") from None
    check_text(path, data)
    check_line_ends(path, data)
    data = data.removeprefix(codecs.BOM_UTF8)
    skipped: Counter[str] = Counter()
    rows: list[tuple[int, str, str]] = []  # (row number, prompt, reply)
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()  # the final newline ends the last row, it does not start an empty one
    for number, raw in enumerate(lines, start=1):
        try:
            line = raw.decode("utf-8").rstrip("\r")
        except UnicodeDecodeError:
            skipped[NOT_UTF8] += 1
            continue
        fields = line.split("\t")
        if len(fields) != 2:
            skipped["malformed row (expected prompt<TAB>reply)"] += 1
            continue
        rows.append((number, fields[0].strip(), fields[1].strip()))
    if skipped[NOT_UTF8] * 2 > len(lines):
        raise UserError(
            f"corpus {path} is not UTF-8 text: {skipped[NOT_UTF8]:,} of its {len(lines):,} rows "
            "are not valid UTF-8; save it as UTF-8 prompt<TAB>reply rows"
        )
    parents = _parents(rows)
    chain = _chains(parents)
    conversations: list[Conversation] = []
    open_at: dict[int, int] = {}  # row index -> conversation it ends
    for index in _parents_first(parents):
        number, prompt, reply = rows[index]
        parent = parents[index]
        if parent is not None and parent in open_at:
            position = open_at.pop(parent)
            conversations[position].turns.append(Turn(f"row {number}", reply))
            open_at[index] = position
            continue
        # A chain's first row, a branch (a second row continuing one row) or a row of a cycle of
        # links: a new conversation of the same chain.
        conversations.append(
            Conversation(
                group=f"chain {chain[index]}",
                turns=[Turn(f"row {number} prompt", prompt), Turn(f"row {number}", reply)],
            )
        )
        open_at[index] = len(conversations) - 1
    counts = {
        "rows": len(rows),
        "chains": len(set(chain)),
        "utterances": sum(len(c.turns) for c in conversations),
    }
    return Dialogues("tsv", conversations, counts, skipped)


def check_text(path: Path, data: bytes, what: str = "corpus") -> None:
    """Refuse bytes that cannot be UTF-8 text, naming `what` the file is ("corpus", "--prompts").

    A UTF-16/32 byte-order mark, or NUL bytes in many lines (binary data, or UTF-16/32 text
    without a mark: each of its ASCII characters carries a NUL), refuse the whole file; a NUL byte
    in a few lines of text, which no text holds, is named by its line (the corpus's row number).
    """
    for mark, encoding in BYTE_ORDER_MARKS:
        if data.startswith(mark):
            raise UserError(
                f"{what} {path} is {encoding} text, not UTF-8 (it starts with a {encoding} "
                f"byte-order mark); save it as UTF-8, e.g. iconv -f {encoding} -t UTF-8"
            )
    if b"\0" not in data:
        return
    lines = data.removesuffix(b"\n").split(b"\n")
    holding = [number for number, line in enumerate(lines, start=1) if b"\0" in line]
    if len(holding) * NUL_LINES_OF_TEXT > len(lines):
        raise UserError(
            f"{what} {path} holds NUL bytes: it is a binary file or UTF-16/32 text, not UTF-8 "
            "text"
        )
    others = f" (and {len(holding) - 1:,} more line(s))" if len(holding) > 1 else ""
    raise UserError(
        f"{what} {path} holds a NUL byte in line {holding[0]:,}{others}, which no text holds: "
        f"remove it, e.g. tr -d '\\000' < {shlex.quote(str(path))} > fixed{path.suffix}"
    )


def check_line_ends(path: Path, data: bytes) -> None:
    """Refuse rows ended by CR alone (classic Mac OS), which would read as one malformed row.

    A CR before LF (Windows) is a line end the reader strips; a few CRs inside rows are text.
    """
    lone = data.count(b"\r") - data.count(b"\r\n")
    if lone > data.count(b"\n"):
        raise UserError(
            f"corpus {path} ends its rows with CR alone (old Mac line ends), so it reads as one "
            f"row: convert them to LF, e.g. tr '\\r' '\\n' < {shlex.quote(str(path))} > fixed.tsv"
        )


def _parents(rows: list[tuple[int, str, str]]) -> list[int | None]:
    """For each row, the row whose reply is its prompt, where exactly one row has that reply."""
    replied: dict[str, list[int]] = {}  # reply text -> rows giving it
    for index, (_, _, reply) in enumerate(rows):
        if reply:
            replied.setdefault(reply, []).append(index)
    parents: list[int | None] = []
    for index, (_, prompt, _) in enumerate(rows):
        candidates = replied.get(prompt, [])
        unique = len(candidates) == 1 and candidates[0] != index
        parents.append(candidates[0] if unique else None)
    return parents


def _parents_first(parents: list[int | None]) -> list[int]:
    """Row indices in depth-first order from the chains' first rows (in file order), so that a
    row comes right after its parent's conversation wherever it is in the file; rows on a cycle
    of links come last, in file order."""
    children: list[list[int]] = [[] for _ in parents]
    for index, parent in enumerate(parents):
        if parent is not None:
            children[parent].append(index)
    seen = [False] * len(parents)
    order: list[int] = []
    starts = [i for i, parent in enumerate(parents) if parent is None] + list(range(len(parents)))
    for start in starts:
        stack = [start]
        while stack:
            index = stack.pop()
            if seen[index]:
                continue
            seen[index] = True
            order.append(index)
            stack.extend(reversed(children[index]))
    return order


def _chains(parents: list[int | None]) -> list[int]:
    """Number the connected groups of linked rows 0, 1, ... in order of their first row."""
    root = list(range(len(parents)))

    def find(index: int) -> int:
        while root[index] != index:
            root[index] = root[root[index]]
            index = root[index]
        return index

    for index, parent in enumerate(parents):
        if parent is not None:
            root[find(index)] = find(parent)
    numbers: dict[int, int] = {}
    return [numbers.setdefault(find(index), len(numbers)) for index in range(len(parents))]
