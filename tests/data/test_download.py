"""Download tests against a local HTTP server on 127.0.0.1: nothing reaches the internet."""

from __future__ import annotations

import hashlib
import io
import socket
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from seq2seq.data.corpus import read_corpus, resolve_corpus
from seq2seq.data.download import RAW_SUBFOLDER, ZIP_NAME, download_corpus
from seq2seq.errors import UserError

# path -> (bytes served, bytes announced in Content-Length)
ROUTES: dict[str, tuple[bytes, int]] = {}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
        if self.path not in ROUTES:
            self.send_error(404)
            return
        body, announced = ROUTES[self.path]
        self.send_response(200)
        self.send_header("Content-Length", str(announced))
        self.end_headers()
        self.wfile.write(body)  # fewer bytes than announced: the transfer is cut short
        self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join()
    ROUTES.clear()


def make_zip(corpus: Path, extra: dict[str, bytes] | None = None) -> tuple[bytes, str]:
    """The fixture corpus zipped like the real one; returns the bytes and their SHA-256."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(corpus.iterdir()):
            archive.writestr(f"{RAW_SUBFOLDER}/{path.name}", path.read_bytes())
        archive.writestr(f"__MACOSX/{RAW_SUBFOLDER}/._movie_lines.txt", b"\0resource fork")
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    data = buffer.getvalue()
    return data, hashlib.sha256(data).hexdigest()


def serve(path: str, data: bytes, announced: int | None = None) -> str:
    ROUTES[path] = (data, len(data) if announced is None else announced)
    return path


def test_good_checksum_unpacks_the_corpus(server: str, raw_corpus: Path, tmp_path: Path) -> None:
    data, sha256 = make_zip(raw_corpus)
    url = server + serve("/corpus.zip", data)
    folder = tmp_path / "cornell"
    raw = download_corpus(folder, [url], sha256, progress=False)
    assert raw == folder / RAW_SUBFOLDER
    assert (raw / "movie_lines.txt").read_bytes() == (raw_corpus / "movie_lines.txt").read_bytes()
    assert sorted(p.name for p in folder.iterdir()) == [RAW_SUBFOLDER, ZIP_NAME]
    assert read_corpus(folder).counts["conversations"] == 11


def test_bad_checksum_leaves_nothing(server: str, raw_corpus: Path, tmp_path: Path) -> None:
    data, _ = make_zip(raw_corpus)
    url = server + serve("/corpus.zip", data)
    folder = tmp_path / "cornell"
    with pytest.raises(UserError, match="SHA-256") as error:
        download_corpus(folder, [url], "0" * 64, progress=False)
    assert str(folder) in str(error.value) and "CORNELL_CORPUS" in str(error.value)
    assert list(folder.iterdir()) == []


def test_a_member_leaving_the_folder_is_refused(
    server: str, raw_corpus: Path, tmp_path: Path
) -> None:
    data, sha256 = make_zip(raw_corpus, extra={"../escaped.txt": b"gotcha"})
    url = server + serve("/corpus.zip", data)
    folder = tmp_path / "area" / "cornell"
    with pytest.raises(UserError, match="refusing to unpack"):
        download_corpus(folder, [url], sha256, progress=False)
    assert not list(tmp_path.rglob("escaped.txt"))
    assert [p.name for p in folder.iterdir()] == [ZIP_NAME]  # verified, but nothing unpacked


def test_an_interrupted_transfer_leaves_nothing(
    server: str, raw_corpus: Path, tmp_path: Path
) -> None:
    data, sha256 = make_zip(raw_corpus)
    url = server + serve("/corpus.zip", data[: len(data) // 2], announced=len(data))
    folder = tmp_path / "cornell"
    with pytest.raises(UserError, match="transfer interrupted"):
        download_corpus(folder, [url], sha256, progress=False)
    assert list(folder.iterdir()) == []


def test_the_mirror_is_tried_when_the_first_url_fails(
    server: str, raw_corpus: Path, tmp_path: Path
) -> None:
    data, sha256 = make_zip(raw_corpus)
    mirror = server + serve("/mirror.zip", data)
    raw = download_corpus(tmp_path, [server + "/missing.zip", mirror], sha256, progress=False)
    assert (raw / "movie_conversations.txt").is_file()


def test_offline_is_one_line_saying_where_the_files_go(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    unreachable = f"http://127.0.0.1:{port}/cornell.zip"
    with pytest.raises(UserError) as error:
        download_corpus(tmp_path / "cornell", [unreachable], "0" * 64, progress=False)
    message = str(error.value)
    assert "\n" not in message
    assert str(tmp_path / "cornell") in message and "--corpus" in message


def test_the_default_place_downloads_once(
    server: str, raw_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CORNELL_CORPUS", raising=False)
    data, sha256 = make_zip(raw_corpus)
    url = server + serve("/corpus.zip", data)
    raw = resolve_corpus(None, urls=[url], sha256=sha256, progress=False)
    assert raw == Path("corpora/cornell") / RAW_SUBFOLDER
    ROUTES.clear()  # a second download would now fail
    assert resolve_corpus(None, urls=[url], sha256=sha256, progress=False) == raw
