from __future__ import annotations

import codecs
import random
from collections import Counter
from pathlib import Path

import pytest

from seq2seq.config import DataConfig
from seq2seq.data.examples import build_examples
from seq2seq.data.splits import split_examples
from seq2seq.data.tsv import read_tsv
from seq2seq.errors import UserError


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
    # A row continues its parent's conversation wherever the two are in the file (B.->C. after
    # A?->B.); a branch (B.->D.) starts a conversation of the same chain.
    assert [[t.text for t in c.turns] for c in dialogues.conversations] == [
        ["X?", "Y.", "Z."], ["A?", "B.", "C.", "E."], ["B.", "D."], ["New?", "Sure."]
    ]


def test_a_prompt_that_several_rows_reply_links_to_none(tmp_path: Path) -> None:
    # "Yeah." is the reply of two rows: which scene "Yeah. -> Look." continues is unknown.
    path = write(
        tmp_path,
        b"Safety on?\tYeah.\nYou came?\tYeah.\nYeah.\tLook.\nLook.\tAt what?\n",
    )
    dialogues = read_tsv(path)
    assert [[t.text for t in c.turns] for c in dialogues.conversations] == [
        ["Safety on?", "Yeah."], ["You came?", "Yeah."], ["Yeah.", "Look.", "At what?"]
    ]
    assert dialogues.counts["chains"] == 3
    examples = build_examples(dialogues, context_turns=2)
    assert [e.context for e in examples] == [
        ("Safety on?",), ("You came?",), ("Yeah.",), ("Yeah.", "Look.")
    ]


def test_a_cycle_of_links_is_read_whole(tmp_path: Path) -> None:
    dialogues = read_tsv(write(tmp_path, b"Yes.\tNo.\nNo.\tYes.\n"))
    assert dialogues.counts == {"rows": 2, "chains": 1, "utterances": 3}
    assert [[t.text for t in c.turns] for c in dialogues.conversations] == [
        ["Yes.", "No.", "Yes."]
    ]


REAL_TSV = Path(__file__).resolve().parents[3] / "shared/corpora/cornell/exchanges-25k.tsv"


@pytest.fixture(scope="module")
def real_rows() -> list[tuple[str, str]]:
    if not REAL_TSV.is_file():
        pytest.skip("the real TSV is not beside the checkout")
    lines = REAL_TSV.read_text(encoding="utf-8").split("\n")[:-1]
    return [tuple(side.strip() for side in line.split("\t")) for line in lines]


def test_real_contexts_are_rows_of_the_file(real_rows) -> None:
    """With context_turns 3, every context turn pair is a real row, linked through a reply no
    other row gives (no stitching of unrelated scenes through "Yeah.")."""
    replies = Counter(reply for _, reply in real_rows)
    rows = set(real_rows)
    examples = build_examples(read_tsv(REAL_TSV), context_turns=3)
    assert len(examples) == 25_000
    longer = [e for e in examples if len(e.context) > 1]
    assert len(longer) > 100
    for example in longer:
        turns = (*example.context, example.response)
        for earlier, later in zip(turns, turns[1:], strict=False):
            assert (earlier, later) in rows
        for middle in turns[1:-1]:
            assert replies[middle] == 1


def test_real_splits_keep_unique_replies_out_of_other_splits(real_rows) -> None:
    """The module's guarantee: a reply text that no other row gives is never a prompt in
    another split (a generic reply may be)."""
    replies = Counter(reply for _, reply in real_rows)
    examples = build_examples(read_tsv(REAL_TSV), context_turns=1)
    splits = split_examples(examples, DataConfig())
    prompts = {
        name: {e.context[-1] for e in split} for name, split in splits.items()
    }
    for name, split in splits.items():
        unique_replies = {e.response for e in split if replies[e.response] == 1}
        for other in set(splits) - {name}:
            assert not unique_replies & prompts[other], (name, other)
    generic = {e.response for e in splits["test"]} & prompts["train"]
    assert generic and all(replies[text] > 1 for text in generic)


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


ROWS = "Hi.\tHello.\nHello.\tHow are you?\nHow are you?\tFine.\n"


@pytest.mark.parametrize(("encoding", "named"), [
    ("utf-16", "UTF-16"),  # little-endian with its byte-order mark, as Windows editors save
    ("utf-16-be", "UTF-16"),
    ("utf-32", "UTF-32"),
])
def test_utf16_or_utf32_text_is_refused_in_one_line(tmp_path: Path, encoding, named) -> None:
    data = ROWS.encode(encoding)
    if encoding == "utf-16-be":
        data = codecs.BOM_UTF16_BE + data  # Python writes no mark for an explicit byte order
    with pytest.raises(UserError) as error:
        read_tsv(write(tmp_path, data))
    message = str(error.value)
    assert f"is {named} text, not UTF-8" in message and "save it as UTF-8" in message
    assert "\n" not in message


def test_utf16_without_a_byte_order_mark_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="holds NUL bytes"):
        read_tsv(write(tmp_path, ROWS.encode("utf-16-le")))


def test_a_nul_byte_in_a_text_row_is_refused_naming_its_row(tmp_path: Path) -> None:
    rows = (ROWS + "A.\tB.\n" * 30).encode().split(b"\n")
    rows[1] = rows[1].replace(b"How", b"H\0ow")
    with pytest.raises(UserError) as error:
        read_tsv(write(tmp_path, b"\n".join(rows)))
    message = str(error.value)
    assert "holds a NUL byte in line 2, which no text holds" in message
    assert "tr -d '\\000'" in message and "binary" not in message and "\n" not in message
    rows[2] = rows[2] + b"\0"
    with pytest.raises(UserError, match=r"in line 2 \(and 1 more line\(s\)\)"):
        read_tsv(write(tmp_path, b"\n".join(rows)))


@pytest.mark.parametrize("last", [b"", b"\n"])  # a final LF (an editor adding one) or none
def test_rows_ended_by_cr_alone_are_refused_with_the_fix(tmp_path: Path, last: bytes) -> None:
    with pytest.raises(UserError) as error:
        read_tsv(write(tmp_path, ROWS.encode().replace(b"\n", b"\r") + last))
    message = str(error.value)
    assert "ends its rows with CR alone (old Mac line ends)" in message
    assert "tr '\\r' '\\n'" in message and "\n" not in message


def test_windows_line_ends_and_a_cr_inside_a_row_are_read(tmp_path: Path) -> None:
    data = ROWS.replace("\n", "\r\n").replace("Fine.", "Fi\rne.").encode()
    assert read_tsv(write(tmp_path, data)).counts["rows"] == 3


def test_random_bytes_are_refused(tmp_path: Path) -> None:
    noise = random.Random(0).randbytes(20_000)
    with pytest.raises(UserError, match="holds NUL bytes: it is a binary file"):
        read_tsv(write(tmp_path, noise))
    # without NUL bytes, the rows themselves give it away: most are not UTF-8
    with pytest.raises(UserError, match=r"is not UTF-8 text: \d+ of its \d+ rows"):
        read_tsv(write(tmp_path, noise.replace(b"\0", b"\1")))


def test_a_few_undecodable_rows_are_only_skipped_and_a_utf8_mark_ignored(tmp_path: Path) -> None:
    data = codecs.BOM_UTF8 + ROWS.encode() + b"caf\xe9?\tOui.\n"
    dialogues = read_tsv(write(tmp_path, data))
    assert dialogues.skipped == {"row is not valid UTF-8": 1}
    assert dialogues.conversations[0].turns[0].text == "Hi."  # no mark glued to it
