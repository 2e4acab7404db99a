"""Helpers of the browser chat's tests: a server started in-process on 127.0.0.1 (any free
port), one HTTP request through a real client, and the terminal chat's replies to compare with."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from seq2seq import conversation
from seq2seq.web.api import WebChat
from seq2seq.web.server import make_server

# Tiny models often answer nothing; at least three distinct tokens make every reply visible.
VISIBLE = ["decode.min_len=3", "decode.no_repeat_ngram=1"]


@contextmanager
def running(bots: list[conversation.Bot]) -> Iterator[str]:
    """A server for `bots` on 127.0.0.1, serving from a thread; yields its URL."""
    server = make_server(WebChat(bots), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.url
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def call(
    url: str,
    method: str,
    path: str,
    body: Any = None,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any, http.client.HTTPResponse]:
    """One HTTP request; (status, the body parsed as JSON when it is JSON, the response)."""
    address = urlsplit(url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
    try:
        if body is not None:
            raw = json.dumps(body).encode()
        all_headers = {"Content-Type": "application/json"} if raw is not None else {}
        connection.request(method, path, body=raw, headers={**all_headers, **(headers or {})})
        response = connection.getresponse()
        data = response.read()
        is_json = response.getheader("Content-Type", "").startswith("application/json")
        return response.status, json.loads(data) if is_json else data, response
    finally:
        connection.close()


def expected_replies(run: Path, messages: list[str], settings: tuple[str, ...] = ()) -> list[str]:
    """The terminal chat's replies to `messages`, one after the other (context kept)."""
    (bot,) = conversation.load_bots([str(run)], "cpu", [*VISIBLE, *settings])
    return [conversation.answer(bot, message, print) for message in messages]
