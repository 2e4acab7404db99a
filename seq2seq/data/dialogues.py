"""What every corpus reader produces: conversations as ordered turns, plus honest counts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Turn:
    """One utterance: a corpus-wide id (a line id, or a TSV row) and its text as read."""

    id: str
    text: str


@dataclass(frozen=True)
class Conversation:
    """Turns in chronological order; `group` is the unit kept within one split.

    For the raw corpus the group is the movie id, for a TSV it is the conversation chain.
    """

    group: str
    turns: list[Turn]


@dataclass
class Dialogues:
    """A parsed corpus.

    Attributes:
        format: "raw" (the corpus's own files) or "tsv" (prompt<TAB>reply rows).
        conversations: every usable conversation.
        counts: what was read, e.g. {"utterances": 1614, "conversations": 472, "movies": 3}.
        skipped: what was left out while reading, by reason (never silently).
    """

    format: str
    conversations: list[Conversation]
    counts: dict[str, int] = field(default_factory=dict)
    skipped: Counter[str] = field(default_factory=Counter)


def count_summary(counts: Mapping[str, int], largest_first: bool = False) -> str:
    """{"rows": 3, "chains": 1} -> "3 rows, 1 chains" (in order, or the largest first)."""
    items = sorted(counts.items(), key=lambda item: -item[1]) if largest_first else counts.items()
    return ", ".join(f"{count:,} {what}" for what, count in items)
