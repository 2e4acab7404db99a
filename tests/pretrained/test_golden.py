"""The golden file: the shipped pair's greedy replies and token NLL, pinned.

`test_the_shipped_pair_reproduces_the_golden_file` checks the repo's own pretrained/ against
tests/golden/pretrained.txt; the other tests check the machinery on the tiny exported pair."""

from __future__ import annotations

import shutil

import pytest

from seq2seq.pretrained.__main__ import main as pretrained_main
from seq2seq.pretrained.golden import differences, read_golden, write_golden
from tests.conftest import REPO

GOLDEN = REPO / "tests" / "golden" / "pretrained.txt"


def test_the_shipped_pair_reproduces_the_golden_file():
    if not (REPO / "pretrained").is_dir():
        pytest.skip("pretrained/ is absent: no shipped models to check (docs/pretrained.md)")
    assert GOLDEN.is_file(), ("pretrained/ has no golden file: python -m seq2seq.pretrained "
                              "golden")
    found = differences(GOLDEN, REPO)
    assert not found, "\n".join(found)


@pytest.fixture(scope="module")
def golden(shipped_root, tmp_path_factory, monkeypatch_module):
    """The tiny pair's golden file, written by the documented command from the repo's own
    prompts and exchanges; returns (the folder holding pretrained/, the file)."""
    root = tmp_path_factory.mktemp("golden")
    shutil.copytree(shipped_root / "pretrained", root / "pretrained")
    shutil.copytree(REPO / "tests" / "golden", root / "tests" / "golden")
    shutil.copytree(REPO / "tests" / "fixtures", root / "tests" / "fixtures")
    monkeypatch_module.chdir(root)
    assert pretrained_main(["golden"]) == 0
    return root, root / "tests" / "golden" / "pretrained.txt"


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_the_command_records_30_replies_and_30_nll_per_model(golden):
    records = read_golden(golden[1])
    assert list(records) == ["pretrained/transformer", "pretrained/gru"]
    for record in records.values():
        assert len(record.replies) == 30 and len(record.nll) == 30
        assert record.replies[1][0] == "how are you?"
        assert all(count > 0 and value > 0 for _, _, value, count in record.nll)


def test_todays_code_reproduces_the_file(golden):
    root, path = golden
    assert differences(path, root) == []


def test_a_changed_reply_or_nll_is_caught(golden, tmp_path):
    root, path = golden
    records = read_golden(path)
    gru = records["pretrained/gru"]
    prompt, reply = gru.replies[0]
    gru.replies[0] = (prompt, reply + " more")
    p, r, value, count = gru.nll[3]
    gru.nll[3] = (p, r, value + 3e-4, count)
    changed = tmp_path / "changed.txt"
    write_golden(changed, records)
    found = differences(changed, root)
    assert len(found) == 2
    assert found[0].startswith(f"pretrained/gru: reply to {prompt!r}")
    assert found[1].startswith(f"pretrained/gru: NLL of {r!r}")


def test_within_tolerance_is_the_same_and_a_new_export_is_named(golden, tmp_path):
    root, path = golden
    records = read_golden(path)
    p, r, value, count = records["pretrained/transformer"].nll[0]
    records["pretrained/transformer"].nll[0] = (p, r, value + 5e-5, count)
    records["pretrained/transformer"].sha256 = "0" * 64
    changed = tmp_path / "changed.txt"
    write_golden(changed, records)
    assert differences(changed, root) == [
        "pretrained/transformer: model.pt is not the file the golden file was recorded from "
        "(a new export: regenerate it)"]
