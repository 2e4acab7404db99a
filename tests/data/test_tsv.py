from __future__ import annotations

from pathlib import Path

from seq2seq.data.tsv import read_tsv


def write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "pairs.tsv"
    path.write_bytes(data)
    return path


def test_consecutive_rows_form_chains(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        b"Hi.\tHello.\nHello.\tHow are you?\nHow are you?\tFine.\nNew topic?\tSure.\n",
    )
    dialogues = read_tsv(path)
    assert dialogues.format == "tsv"
    assert [[t.text for t in c.turns] for c in dialogues.conversations] == [
        ["Hi.", "Hello.", "How are you?", "Fine."],
        ["New topic?", "Sure."],
    ]
    first = dialogues.conversations[0]
    assert [t.id for t in first.turns] == ["row 1 prompt", "row 1", "row 2", "row 3"]
    assert dialogues.counts == {"rows": 4, "chains": 2, "utterances": 6}
    assert {c.group for c in dialogues.conversations} == {"chain 0", "chain 1"}


def test_malformed_rows_are_counted_and_never_break_chains(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        b"A?\tB.\nno tab here\nB.\tC.\ntoo\tmany\ttabs\nbad \xff utf8\tX.\nC.\tD.\r\n\n",
    )
    dialogues = read_tsv(path)
    assert dialogues.skipped == {
        "malformed row (expected prompt<TAB>reply)": 3,  # no tab, two tabs, the blank line
        "row is not valid UTF-8": 1,
    }
    assert dialogues.counts["rows"] == 3
    assert dialogues.counts["chains"] == 1  # a skipped row between linked rows keeps the link
    assert [[t.text for t in c.turns] for c in dialogues.conversations] == [
        ["A?", "B.", "C.", "D."]  # "\r\n" endings are fine
    ]


def test_rows_link_by_text_wherever_they_are(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        b"B.\tC.\nX?\tY.\nA?\tB.\nY.\tZ.\nB.\tD.\nC.\tE.\nNew?\tSure.\n",
    )
    dialogues = read_tsv(path)
    groups = {t.text: c.group for c in dialogues.conversations for t in c.turns}
    # B.->C. comes before A?->B., B.->D. branches, C.->E. follows an unrelated row: one chain.
    assert groups["A?"] == groups["C."] == groups["D."] == groups["E."]
    assert groups["X?"] == groups["Z."] != groups["A?"]
    assert groups["New?"] not in {groups["A?"], groups["X?"]}
    assert dialogues.counts["chains"] == 3
    # A row continues the conversation of the nearest earlier row it answers, adjacent or not;
    # a row answering a later row (B.->C.) starts a conversation of the same chain.
    assert [[t.text for t in c.turns] for c in dialogues.conversations] == [
        ["B.", "C.", "E."], ["X?", "Y.", "Z."], ["A?", "B.", "D."], ["New?", "Sure."]
    ]


def test_empty_sides_are_kept_and_never_chain(tmp_path: Path) -> None:
    path = write(tmp_path, "Quiet!\t\n\tWhat?\nNaïve?\tMe?\n".encode())
    dialogues = read_tsv(path)
    assert [[t.text for t in c.turns] for c in dialogues.conversations] == [
        ["Quiet!", ""],
        ["", "What?"],
        ["Naïve?", "Me?"],
    ]


def test_only_newline_ends_a_row(tmp_path: Path) -> None:
    # U+0085 (NEL) occurs in the real data; str.splitlines() would wrongly break the row there.
    path = write(tmp_path, "Will\u0085Where is he?\tGone.\n".encode())
    dialogues = read_tsv(path)
    assert dialogues.counts["rows"] == 1
    assert dialogues.conversations[0].turns[0].text == "Will\u0085Where is he?"


def test_fixture_reads_whole(tsv_corpus: Path) -> None:
    dialogues = read_tsv(tsv_corpus)
    assert dialogues.counts["rows"] == 310
    assert not dialogues.skipped
    assert dialogues.counts["chains"] < 310  # it holds multi-row conversations
