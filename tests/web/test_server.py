"""The HTTP server through real HTTP: the page's files, every malformed request refused with a
4xx while the server keeps serving, a stalled client holding up no one, and `chat.py --web` as
a person starts it."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from seq2seq.web import server

from .helpers import VISIBLE, call

ROOT = Path(__file__).resolve().parents[2]
CHAT = ROOT / "chat.py"


def raw_request(url: str, data: bytes) -> bytes:
    """Send `data` as it is on a fresh connection; everything the server answers."""
    address = urlsplit(url)
    with socket.create_connection((address.hostname, address.port), timeout=30) as connection:
        connection.sendall(data)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return answer


def test_the_page_and_its_files_are_served_with_safe_headers(pair_url):
    for path, kind in [("/", "text/html"), ("/chat.js", "text/javascript"),
                       ("/chat.css", "text/css")]:
        status, body, response = call(pair_url, "GET", path)
        assert status == 200 and response.getheader("Content-Type").startswith(kind)
        assert response.getheader("Content-Security-Policy").startswith("default-src 'self'")
        assert response.getheader("X-Content-Type-Options") == "nosniff"
        assert b"http://" not in body and b"https://" not in body  # nothing from elsewhere
    _, page, _ = call(pair_url, "GET", "/?anything=1")
    assert b'<script src="/chat.js"' in page


@pytest.mark.parametrize(("method", "path", "status", "message"), [
    ("GET", "/nope", 404, "no such page: /nope"),
    ("POST", "/static/../../etc/passwd", 404, "no such page"),
    ("GET", "/api/reply", 405, "/api/reply takes POST, not GET"),
    ("PUT", "/api/reply", 405, "takes POST"),
    ("POST", "/api/runs", 405, "/api/runs takes GET, not POST"),
    ("DELETE", "/", 405, "/ takes GET"),
])
def test_wrong_paths_and_methods_are_refused(pair_url, method, path, status, message):
    code, body, response = call(pair_url, method, path, {"message": "hi"})
    assert code == status and message in body["error"]
    if status == 405:
        assert response.getheader("Allow") in ("GET", "POST")
    assert call(pair_url, "GET", "/api/runs")[0] == 200


@pytest.mark.parametrize(("raw", "headers", "status", "message"), [
    (b"{not json", {}, 400, "not valid JSON"),
    (b'{"message": NaN}', {}, 400, "NaN is not a JSON number"),
    (b"[" * 50_000, {}, 400, "not valid JSON"),  # too deep to parse
    (b'{"message": "caf\xe9"}', {}, 400, "not UTF-8"),
    # a lone surrogate: in the message, a turn, a settings key (once echoed in the 400) or value
    (b'{"message": "hi \\ud800"}', {}, 400, "'\\ud800', half of a UTF-16 surrogate pair"),
    (b'{"message": "hi", "turns": [["\\udfff"], []]}', {}, 400, "surrogate pair"),
    (b'{"message": "hi", "settings": {"\\ud800": 1}}', {}, 400, "surrogate pair"),
    (b'{"message": "hi", "settings": {"strategy": "\\ud800"}}', {}, 400, "surrogate pair"),
    (b'{"message": "hi"}', {"Content-Type": "text/plain"}, 415, "Content-Type: application/json"),
    (b'{"message": "hi"}', {"Host": "evil.example:8000"}, 403, "Host 'evil.example:8000'"),
    (b'{"message": "hi"}', {"Host": "evil.example"}, 403, "refused"),
])
def test_malformed_bodies_and_headers_are_refused(pair_url, raw, headers, status, message):
    code, body, _ = call(pair_url, "POST", "/api/reply", raw=raw, headers=headers)
    assert code == status and message in body["error"]
    assert call(pair_url, "POST", "/api/reply", {"message": "hi"})[0] == 200


@pytest.mark.parametrize(("headers", "status", "message"), [
    (b"Content-Length: 1000000000\r\n", 413, "at most 65,536"),
    (b"", 411, "Content-Length"),
    (b"Transfer-Encoding: chunked\r\n", 411, "Content-Length"),
    (b"Content-Length: lots\r\n", 400, "Content-Length is not a number"),
    (b"Content-Length: -1\r\n", 400, "Content-Length -1 is not a byte count"),
])
def test_bodies_must_say_their_length_and_stay_small(pair_url, headers, status, message):
    host = urlsplit(pair_url).netloc.encode()
    answer = raw_request(
        pair_url,
        b"POST /api/reply HTTP/1.1\r\nHost: " + host + b"\r\n"
        b"Content-Type: application/json\r\n" + headers + b"\r\n",
    )
    assert answer.startswith(f"HTTP/1.1 {status} ".encode())
    assert message.encode() in answer
    assert call(pair_url, "GET", "/api/runs")[0] == 200


def test_a_real_oversized_body_is_refused(pair_url):
    status, body, _ = call(pair_url, "POST", "/api/reply", {"message": "x" * 70_000})
    assert status == 413 and "at most 65,536" in body["error"]


def test_a_stalled_client_holds_up_no_one(pair_url):
    address = urlsplit(pair_url)
    with socket.create_connection((address.hostname, address.port)) as stalled:
        stalled.sendall(
            f"POST /api/reply HTTP/1.1\r\nHost: {address.netloc}\r\nContent-Type: "
            "application/json\r\nContent-Length: 100\r\n\r\n{\"mess".encode()
        )
        start = time.monotonic()
        assert call(pair_url, "POST", "/api/reply", {"message": "hi"})[0] == 200
        assert time.monotonic() - start < 20


def test_exposing_the_page_beyond_this_machine_warns():
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        assert server.exposure_warning(host) is None
    for host in ("0.0.0.0", "::", "192.168.1.20", "chat.example"):
        assert "reachable by anyone" in server.exposure_warning(host)


def test_an_exposed_server_warns_at_start(pair, monkeypatch, capsys):
    def interrupted(self):
        assert not self.loopback_only  # requests to any host name are answered
        raise KeyboardInterrupt

    monkeypatch.setattr(server.Server, "serve_forever", interrupted)
    assert server.main([str(pair[1])], host="0.0.0.0", port=0) == 0
    err = capsys.readouterr().err
    assert "warning: --host 0.0.0.0" in err and "stopped" in err


# --- chat.py --web, as a person starts it ------------------------------------------------------


def start_chat(args: list[str], log: Path) -> subprocess.Popen:
    with log.open("wb") as stderr:
        return subprocess.Popen(
            [sys.executable, str(CHAT), *args], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=stderr, env={**os.environ, "HOME": str(log.parent)},
            # a terminal's Ctrl-C reaches a process whose SIGINT is not ignored; pytest started
            # in the background (`cmd &`) passes on an ignored one, which Python then keeps
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )


def wait_for_url(process: subprocess.Popen, log: Path) -> str:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        found = re.search(r"chat in your browser at (http://\S+/)", log.read_text())
        if found:
            return found.group(1)
        time.sleep(0.1)
    raise AssertionError(f"no URL announced: {log.read_text()}")


def test_chat_py_web_serves_both_runs_until_ctrl_c(pair, tmp_path):
    log = tmp_path / "stderr.txt"
    visible = [arg for setting in VISIBLE for arg in ("--set", setting)]
    process = start_chat(
        ["--web", "--port", "0", "--run", str(pair[0]), "--run", str(pair[1]), *visible], log
    )
    try:
        url = wait_for_url(process, log)
        assert url.startswith("http://127.0.0.1:")  # loopback unless told otherwise
        status, body, _ = call(url, "POST", "/api/reply", {"message": "hello"})
        assert status == 200 and [reply["label"] for reply in body["replies"]] == [
            "transformer", "gru"]
        assert all(reply["reply"] for reply in body["replies"])
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
    err = log.read_text()
    assert " parameters, step " in err and "warning" not in err and "stopped" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(("args", "message"), [
    (["--web", "--port", "70000"], "--port: 70000 is not a port number"),
    (["--web", "--port", "-1"], "--port: -1 is not a port number"),
    (["--port", "8001"], "--port and --host are options of the web page: add --web"),
])
def test_bad_web_options_fail_with_one_clear_line(pair, args, message):
    result = subprocess.run(
        [sys.executable, str(CHAT), "--run", str(pair[1]), *args], capture_output=True,
        timeout=120, stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 2
    assert message in result.stderr.decode().strip().splitlines()[-1]
    assert b"Traceback" not in result.stderr


def test_a_port_in_use_is_a_clear_error(pair):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, str(CHAT), "--web", "--run", str(pair[1]), "--port", str(port)],
            capture_output=True, timeout=120, stdin=subprocess.DEVNULL,
        )
    (line,) = result.stderr.decode().splitlines()
    assert result.returncode == 2
    assert line.startswith(f"error: cannot listen on 127.0.0.1:{port}") and "--port" in line


def test_a_client_trickling_its_request_is_dropped_at_the_deadline(pair_url, monkeypatch):
    """The socket's timeout bounds each read; a byte every half second never trips it, the
    deadline on the whole request does."""
    monkeypatch.setattr(server, "REQUEST_DEADLINE_S", 2)
    address = urlsplit(pair_url)
    request = f"POST /api/reply HTTP/1.1\r\nHost: {address.netloc}\r\n".encode() * 10
    start = time.monotonic()
    with socket.create_connection((address.hostname, address.port), timeout=30) as trickle:
        for byte in request:
            try:
                trickle.sendall(bytes([byte]))
            except OSError:  # the server has closed the connection
                break
            if time.monotonic() - start > 6:
                break
            time.sleep(0.05)
        trickle.settimeout(5)
        try:
            trickle.recv(65536)
        except TimeoutError:
            pytest.fail("the server still reads the trickling request")
    assert time.monotonic() - start < 6


def test_a_browser_that_gives_up_costs_no_traceback(pair_url, capsys):
    address = urlsplit(pair_url)
    body = json.dumps({"message": "tell me everything"}).encode()
    for _ in range(3):  # closed with a reset while the models answer: the reply cannot be sent
        with socket.create_connection((address.hostname, address.port)) as client:
            client.sendall(
                f"POST /api/reply HTTP/1.1\r\nHost: {address.netloc}\r\nContent-Type: "
                f"application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
            )
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    assert call(pair_url, "POST", "/api/reply", {"message": "hi"})[0] == 200  # after them
    time.sleep(0.5)
    err = capsys.readouterr().err
    assert "Traceback" not in err and "Error" not in err, err
