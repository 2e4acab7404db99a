"""The HTTP server of `python chat.py --web`: the page and the JSON API (`api.py`) on the
standard library's `ThreadingHTTPServer`.

The standard library, not a web framework: the server is three static files and two JSON
routes, so a framework would add a dependency (and its own dependencies) for nothing the
project needs; `http.server` works offline, installs nothing and is tested through real HTTP
like any other server. Each request gets its own thread, so a slow or stalled client holds up
no one; the models themselves answer one request at a time (`WebChat.lock`).

Safe by default: it listens on 127.0.0.1 only and, while it does, answers only requests
addressed to a loopback name (a web page elsewhere cannot reach it by pointing its own domain
at 127.0.0.1); `--host` exposes it, with a warning. Request bodies are bounded, only JSON is
accepted, and nothing a request sends is executed or written anywhere: it is tokenized, and
the page shows replies as text, never as HTML.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from seq2seq.conversation import banner, load_bots
from seq2seq.errors import UserError
from seq2seq.web.api import RequestError, WebChat

MAX_BODY_BYTES = 64 * 1024
READ_TIMEOUT_S = 30  # a client that stops sending mid-request is dropped after this
# ...and one that trickles a byte at a time (each read within READ_TIMEOUT_S) after this
REQUEST_DEADLINE_S = 30
STATIC = Path(__file__).parent / "static"
FILES = {  # URL path -> (file under static/, content type); nothing else is ever read
    "/": ("index.html", "text/html; charset=utf-8"),
    "/chat.css": ("chat.css", "text/css; charset=utf-8"),
    "/chat.js": ("chat.js", "text/javascript; charset=utf-8"),
}
ROUTES = {"/api/runs": "GET", "/api/reply": "POST", **{path: "GET" for path in FILES}}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


class Server(ThreadingHTTPServer):
    """A threading HTTP server holding the loaded runs."""

    daemon_threads = True  # Ctrl-C does not wait for a reply being generated

    def __init__(self, chat: WebChat, host: str, port: int) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.chat = chat
        self.loopback_only = is_loopback(host)
        super().__init__((host, port), Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A browser that gave up (closed or reset the connection before the reply) is routine,
        not worth the standard library's 25-line traceback; any other error keeps it."""
        if isinstance(sys.exception(), ConnectionError):  # BrokenPipe, ConnectionReset, ...
            return
        super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


class Handler(BaseHTTPRequestHandler):
    """One request: a page file, the list of runs, or a message to answer."""

    server: Server
    server_version = "seq2seq-chat"
    protocol_version = "HTTP/1.1"  # keep-alive; every response says its length
    timeout = READ_TIMEOUT_S

    def handle_one_request(self) -> None:
        """One request, its reading cut short after `REQUEST_DEADLINE_S` however it trickles:
        the socket's timeout only bounds each read."""
        deadline = threading.Timer(REQUEST_DEADLINE_S, self.stop_reading)
        deadline.start()
        try:
            super().handle_one_request()
        finally:
            deadline.cancel()

    def stop_reading(self) -> None:
        """Make every further read see the end of the stream (writing still works)."""
        try:
            self.connection.shutdown(socket.SHUT_RD)
        except OSError:
            pass  # already closed

    def handle_method(self) -> None:
        """Every method goes to `respond`, which answers the ones it does not serve with 405."""
        self.respond(self.command)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = handle_method

    def respond(self, method: str) -> None:
        """Route the request; every refusal is a JSON {"error": ...} with a 4xx status."""
        try:
            self.check_host()
            path = urlsplit(self.path).path
            if path not in ROUTES:
                raise RequestError(404, f"no such page: {path} (the chat is at /)")
            if method != ROUTES[path]:
                raise RequestError(405, f"{path} takes {ROUTES[path]}, not {method}")
            if path in FILES:
                self.send_file(*FILES[path])
            elif path == "/api/runs":
                self.send_json(200, self.server.chat.runs())
            else:
                self.send_json(200, self.server.chat.reply(self.read_json()))
        except RequestError as error:
            self.send_json(error.status, {"error": str(error)})

    def check_host(self) -> None:
        """Refuse a request addressed to another name while listening on loopback only."""
        if not self.server.loopback_only:
            return
        host = self.headers.get("Host", "")
        name = host[1:].partition("]")[0] if host.startswith("[") else host.rpartition(":")[0]
        if (name or host) not in LOOPBACK_NAMES:
            raise RequestError(403, f"Host {host!r} refused: open the page at {self.server.url}")

    def read_json(self) -> Any:
        """The request body parsed as JSON, within `MAX_BODY_BYTES`."""
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise RequestError(415, "send the body as JSON (Content-Type: application/json)")
        if "Transfer-Encoding" in self.headers or "Content-Length" not in self.headers:
            raise RequestError(411, "send the body with a Content-Length header")
        try:
            length = int(self.headers["Content-Length"])
        except ValueError:
            raise RequestError(400, "Content-Length is not a number") from None
        if length < 0:
            raise RequestError(400, f"Content-Length {length} is not a byte count")
        if length > MAX_BODY_BYTES:
            raise RequestError(413, f"the body is {length:,} bytes; at most {MAX_BODY_BYTES:,}")
        body = self.rfile.read(length)
        if len(body) < length:
            raise RequestError(400, "the body ended before its Content-Length")
        try:
            parsed = json.loads(body.decode("utf-8"), parse_constant=refuse_constant)
        except UnicodeDecodeError:
            raise RequestError(400, "the body is not UTF-8") from None
        except (ValueError, RecursionError) as error:
            raise RequestError(400, f"the body is not valid JSON: {error}") from None
        refuse_lone_surrogates(parsed)
        return parsed

    def send_file(self, name: str, content_type: str) -> None:
        self.send_body(200, (STATIC / name).read_bytes(), content_type)

    def send_json(self, status: int, body: dict[str, Any]) -> None:
        # "surrogatepass" is never needed for what read_json let in; escaping keeps any other
        # odd string (a file name, a message quoting the request) from failing the response
        data = json.dumps(body, ensure_ascii=False).encode("utf-8", "backslashreplace")
        self.send_body(status, data, "application/json; charset=utf-8")

    def send_body(self, status: int, data: bytes, content_type: str) -> None:
        if status >= 400:
            # The body may be unread (too large, wrong type): the next bytes on this
            # connection are not a request, so end it.
            self.close_connection = True
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        if status == HTTPStatus.METHOD_NOT_ALLOWED:
            self.send_header("Allow", ROUTES[urlsplit(self.path).path])
        if self.close_connection:
            self.send_header("Connection", "close")
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


def refuse_lone_surrogates(value: Any) -> None:
    """Refuse a JSON escape such as \\ud800 that is half of a UTF-16 pair: Python keeps it in
    the string, and it is no character that a tokenizer or a UTF-8 response can take. Every
    string of the body is checked, keys included."""
    strings = [value]
    while strings:
        item = strings.pop()
        if isinstance(item, dict):
            strings += [*item.keys(), *item.values()]
        elif isinstance(item, list):
            strings += item
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as error:
                half = ascii(item[error.start])
                raise RequestError(
                    400, f"the body holds {half}, half of a UTF-16 surrogate pair: not a character"
                ) from None


def refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def is_loopback(host: str) -> bool:
    """True for names and addresses that only this machine can reach."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def exposure_warning(host: str) -> str | None:
    """The warning printed when `--host` makes the page reachable from other machines."""
    if is_loopback(host):
        return None
    return (
        f"warning: --host {host} makes the chat reachable by anyone who can reach this "
        "machine on the network, without a password; use it only on a network you trust"
    )


def make_server(chat: WebChat, host: str, port: int) -> Server:
    """A server listening on `host:port` (port 0 to 65535; 0: any free one), not yet serving."""
    try:
        return Server(chat, host, port)
    except OSError as error:
        raise UserError(
            f"cannot listen on {host}:{port} ({error.strerror or error}); "
            "pick another --port or --host"
        ) from None


def main(
    sources: list[str],
    device: str = "cpu",
    overrides: list[str] | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    labels: list[str] | None = None,
    extras: dict[str, str] | None = None,
) -> int:
    """Load the runs and serve the page until Ctrl-C (the body of `chat.py --web`)."""
    bots = load_bots(sources, device, overrides or [], labels, extras)
    server = make_server(WebChat(bots), host, port)
    print(banner(bots, chosen=bool(sources)), file=sys.stderr)
    warning = exposure_warning(host)
    if warning:
        print(warning, file=sys.stderr)
    print(f"chat in your browser at {server.url} (Ctrl-C to stop)", file=sys.stderr, flush=True)
    with server:
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            print("stopped", file=sys.stderr)
    return 0
