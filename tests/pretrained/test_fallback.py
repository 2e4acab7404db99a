"""chat.py and chat.py --web with no run under runs/: the shipped pair answers, side by side."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from seq2seq import conversation
from seq2seq.errors import UserError
from seq2seq.web import server
from tests.conftest import REPO
from tests.web.helpers import VISIBLE, call

BANNER = "no trained run under runs/: chatting with the pretrained models shipped in pretrained/"


def test_without_runs_chat_py_answers_with_the_shipped_pair(shipped_root):
    (shipped_root / "runs").mkdir(exist_ok=True)  # there, but holding no trained run
    result = subprocess.run(
        [sys.executable, str(REPO / "chat.py"), *(a for s in VISIBLE for a in ("--set", s))],
        input=b"hello\nhow are you?\n", capture_output=True, cwd=shipped_root, timeout=120,
        env={**os.environ, "HOME": str(shipped_root)},
    )
    assert result.returncode == 0, result.stderr.decode()
    err, lines = result.stderr.decode(), result.stdout.decode().splitlines()
    assert err.startswith(BANNER)
    assert "[transformer] transformer" in err and "[gru] gru" in err
    assert [line.split("]")[0] for line in lines] == ["[transformer", "[gru"] * 2


def test_a_run_under_runs_comes_before_the_shipped_pair(shipped_root, tiny_runs, tmp_path):
    (tmp_path / "runs").symlink_to(tiny_runs["gru"].parent)
    (tmp_path / "pretrained").symlink_to(shipped_root / "pretrained")
    found = conversation.default_models(tmp_path / "runs", tmp_path / "pretrained")
    assert found[0].name in ("gru", "transformer") and found[0].parent.name != "pretrained"
    assert len(found) == 1


def test_without_runs_or_shipped_models_the_error_says_how_to_train(tmp_path):
    with pytest.raises(UserError, match="python train.py --config configs/tiny-transformer.yaml"):
        conversation.default_models(tmp_path / "runs", tmp_path / "pretrained")


def test_a_named_shipped_model_gets_no_fallback_banner(shipped_root):
    bots = conversation.load_bots([str(shipped_root / "pretrained" / "gru")], "cpu", [])
    assert BANNER not in conversation.banner(bots, chosen=True)
    assert bots[0].label == "gru"


def test_without_runs_the_web_chat_serves_the_shipped_pair(shipped_root, monkeypatch, capsys):
    monkeypatch.chdir(shipped_root)
    made = []
    make = server.make_server

    def on_any_port(chat, host, port):
        made.append(make(chat, host, 0))
        return made[-1]

    monkeypatch.setattr(server, "make_server", on_any_port)
    thread = threading.Thread(target=server.main, args=([], "cpu", VISIBLE), daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not made and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        status, body, _ = call(made[0].url, "POST", "/api/reply", {"message": "hello"})
    finally:
        made[0].shutdown()
        thread.join(timeout=60)
    assert status == 200
    assert [reply["label"] for reply in body["replies"]] == ["transformer", "gru"]
    assert capsys.readouterr().err.startswith(BANNER)
