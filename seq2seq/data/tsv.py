"""Reader for `prompt<TAB>reply` files (the PyTorch Chatbot Tutorial's formatted_movie_lines.txt).

Rows are grouped into conversation chains: consecutive rows where a row's prompt is the previous
row's reply come from one conversation (A->B, B->C). Splitting by chain instead of by row keeps a
test reply from turning up in training as the next row's prompt, and a chain's earlier turns
serve as context when `data.context_turns` > 1.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from seq2seq.data.dialogues import Conversation, Dialogues, Turn
from seq2seq.errors import UserError


def read_tsv(path: str | Path) -> Dialogues:
    """Parse a UTF-8 `prompt<TAB>reply` file into conversation chains.

    Rows without exactly one tab, or not valid UTF-8, are skipped and counted. Rows with an empty
    side are kept here and dropped (and counted) when examples are built.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise UserError(f"cannot read corpus {path}: {error.strerror}") from None
    skipped: Counter[str] = Counter()
    chains: list[list[Turn]] = []
    previous_reply: str | None = None  # reply of the previous well-formed row
    rows = 0
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()  # the final newline ends the last row, it does not start an empty one
    for number, raw in enumerate(lines, start=1):
        try:
            line = raw.decode("utf-8").rstrip("\r")
        except UnicodeDecodeError:
            skipped["row is not valid UTF-8"] += 1
            previous_reply = None
            continue
        fields = line.split("\t")
        if len(fields) != 2:
            skipped["malformed row (expected prompt<TAB>reply)"] += 1
            previous_reply = None
            continue
        rows += 1
        prompt, reply = fields[0].strip(), fields[1].strip()
        if not (prompt and prompt == previous_reply):
            chains.append([Turn(f"row {number} prompt", prompt)])
        chains[-1].append(Turn(f"row {number}", reply))
        previous_reply = reply
    conversations = [
        Conversation(group=f"chain {index}", turns=turns) for index, turns in enumerate(chains)
    ]
    counts = {
        "rows": rows,
        "chains": len(conversations),
        "utterances": sum(len(c.turns) for c in conversations),
    }
    return Dialogues("tsv", conversations, counts, skipped)
