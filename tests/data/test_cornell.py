from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from seq2seq.data.cornell import read_cornell
from seq2seq.data.examples import build_examples
from seq2seq.errors import UserError


def test_fixture_counts_and_skips_with_reasons(raw_corpus: Path) -> None:
    dialogues = read_cornell(raw_corpus)
    assert dialogues.format == "raw"
    assert dialogues.counts == {
        "utterances": 32,
        "empty utterances": 1,
        "conversations": 11,
        "movies": 4,
        "movie titles": 4,
        "characters": 8,
    }
    assert dialogues.skipped == {
        "malformed line in movie_lines.txt": 1,
        "malformed line in movie_conversations.txt": 1,
        "conversation names a missing line id": 1,
    }


def test_iso_8859_1_text_and_order_of_turns(raw_corpus: Path) -> None:
    dialogues = read_cornell(raw_corpus)
    cafe = next(c for c in dialogues.conversations if c.turns[0].id == "L20")
    assert cafe.group == "m2"
    assert [turn.id for turn in cafe.turns] == ["L20", "L21", "L22"]
    assert cafe.turns[0].text == "One café au lait, please."  # byte 0xE9 in the file


def test_empty_utterances_are_kept_for_the_example_filter(raw_corpus: Path) -> None:
    dialogues = read_cornell(raw_corpus)
    waiting = next(c for c in dialogues.conversations if c.turns[0].id == "L23")
    assert [turn.text for turn in waiting.turns][1] == ""


def test_missing_files_are_a_user_error(raw_corpus: Path, tmp_path: Path) -> None:
    shutil.copy(raw_corpus / "movie_lines.txt", tmp_path)
    with pytest.raises(UserError, match="movie_conversations.txt"):
        read_cornell(tmp_path)


def test_metadata_files_are_optional(raw_corpus: Path, tmp_path: Path) -> None:
    for name in ("movie_lines.txt", "movie_conversations.txt"):
        shutil.copy(raw_corpus / name, tmp_path)
    dialogues = read_cornell(tmp_path)
    assert dialogues.counts["conversations"] == 11
    assert "movie titles" not in dialogues.counts


def test_carriage_returns_end_lines_but_do_not_split_them(raw_corpus: Path, tmp_path: Path) -> None:
    for name in ("movie_lines.txt", "movie_conversations.txt"):
        data = (raw_corpus / name).read_bytes().replace(b"\n", b"\r\n")
        (tmp_path / name).write_bytes(data.replace(b"Only the wind.", b"Only the\rwind."))
    dialogues = read_cornell(tmp_path)
    assert dialogues.counts["utterances"] == 32
    texts = {turn.id: turn.text for c in dialogues.conversations for turn in c.turns}
    assert texts["L7"] == "Only the\rwind."
    assert texts["L1"] == "Is the lamp lit yet?"


def test_real_excerpt_counts(excerpt: Path) -> None:
    dialogues = read_cornell(excerpt)
    assert dialogues.counts["utterances"] == 1614
    assert dialogues.counts["conversations"] == 472
    assert dialogues.counts["movies"] == 3
    assert not dialogues.skipped
    assert len(build_examples(dialogues, context_turns=1)) == 1142
