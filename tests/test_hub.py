"""Tests for zoo.hub against a local threaded HTTP server (no external network)."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import os
import socket
import threading
from collections import Counter
from pathlib import Path
from typing import Iterator, NamedTuple

import pytest

from zoo import hub
from zoo.hub import HubError, cache_dir, fetch, sha256_file, verify

GOOD = b"good weights " * 5000  # ~65 KB: several read chunks
GOOD_SHA = hashlib.sha256(GOOD).hexdigest()
CORRUPT = b"corrupted weights " * 100
TRUNC_BODY = b"x" * 1000
TRUNC_CLAIMED = 5000


class Server(NamedTuple):
    base: str
    hits: Counter


@pytest.fixture
def server() -> Iterator[Server]:
    hits: Counter = Counter()
    release = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep test output quiet
            pass

        def _send(self, body: bytes, length: int | None = None) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body) if length is None else length))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()

        def do_GET(self) -> None:
            hits[self.path] += 1
            if self.path == "/good.bin":
                self._send(GOOD)
            elif self.path == "/corrupt/good.bin":  # right name, wrong bytes
                self._send(CORRUPT)
            elif self.path == "/trunc.bin":
                self._send(TRUNC_BODY, length=TRUNC_CLAIMED)
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
            elif self.path == "/slow.bin":
                self.send_response(200)
                self.send_header("Content-Length", str(len(GOOD)))
                self.end_headers()
                self.wfile.write(GOOD[:100])
                self.wfile.flush()
                release.wait(5)
                self.close_connection = True
            else:
                self.send_error(404, "Not Found")

    with serve(Handler, release) as base:
        yield Server(base, hits)


@contextlib.contextmanager
def serve(handler: type, release: threading.Event) -> Iterator[str]:
    """A threaded HTTP server on 127.0.0.1 with ``handler``; yields its base URL. On exit
    ``release`` is set (handlers waiting on it return) and the server is shut down."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "zoo_home"
    monkeypatch.setenv("ZOO_HOME", str(root))
    return root


def cache_files(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def test_cache_dir_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "a"))
    assert cache_dir() == tmp_path / "a"
    monkeypatch.delenv("ZOO_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "lava-nir-zoo"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "h"))
    assert cache_dir() == tmp_path / "h" / ".cache" / "lava-nir-zoo"


def test_good_download_then_cache_hit(server: Server, home: Path) -> None:
    path = fetch(f"{server.base}/good.bin", GOOD_SHA)
    assert path == home / "good.bin"
    assert path.read_bytes() == GOOD
    assert sha256_file(path) == GOOD_SHA
    assert cache_files(home) == ["good.bin"]
    assert server.hits["/good.bin"] == 1

    again = fetch(f"{server.base}/good.bin", GOOD_SHA.upper())
    assert again == path
    assert server.hits["/good.bin"] == 1  # served from the cache, no new request


def test_progress_bar(server: Server, home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A bar on a terminal (forced on here); nothing when stderr is not a terminal."""
    from zoo import progress

    progress.set_enabled(True)
    try:
        fetch(f"{server.base}/good.bin", GOOD_SHA, "w.bin", progress=True)
    finally:
        progress.set_enabled(None)
    err = capsys.readouterr().err
    assert "w.bin" in err and "/63.5k" in err  # the bar (cleared when done: leave=False)
    assert (home / "w.bin").read_bytes() == GOOD
    (home / "w.bin").unlink()
    fetch(f"{server.base}/good.bin", GOOD_SHA, "w.bin", progress=True)  # capsys: not a terminal
    assert capsys.readouterr().err == ""


def test_corrupted_download(server: Server, home: Path) -> None:
    with pytest.raises(HubError, match="sha256") as exc:
        fetch(f"{server.base}/corrupt/good.bin", GOOD_SHA)
    msg = str(exc.value)
    assert GOOD_SHA in msg and hashlib.sha256(CORRUPT).hexdigest() in msg
    assert "\n" not in msg
    assert server.hits["/corrupt/good.bin"] == 1
    assert cache_files(home) == []


def test_dropped_connection(server: Server, home: Path) -> None:
    with pytest.raises(HubError, match=f"closed after {len(TRUNC_BODY)} of {TRUNC_CLAIMED} bytes"):
        fetch(f"{server.base}/trunc.bin", GOOD_SHA)
    assert server.hits["/trunc.bin"] == 1
    assert cache_files(home) == []


def test_read_timeout(server: Server, home: Path) -> None:
    with pytest.raises(HubError, match="timed out"):
        fetch(f"{server.base}/slow.bin", GOOD_SHA, timeout=0.3)
    assert cache_files(home) == []


def test_http_404(server: Server, home: Path) -> None:
    with pytest.raises(HubError, match="404") as exc:
        fetch(f"{server.base}/missing.bin", GOOD_SHA)
    assert "/missing.bin" in str(exc.value)
    assert server.hits["/missing.bin"] == 1
    assert cache_files(home) == []


def test_connection_refused(home: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/good.bin"
    with pytest.raises(HubError, match="cannot connect") as exc:
        fetch(url, GOOD_SHA, timeout=2)
    assert url in str(exc.value)
    assert cache_files(home) == []


def test_file_url_and_plain_path(tmp_path: Path, home: Path) -> None:
    src = tmp_path / "src dir" / "local.bin"
    src.parent.mkdir()
    src.write_bytes(GOOD)
    path = fetch(src.as_uri(), GOOD_SHA)
    assert path == home / "local.bin"
    assert path.read_bytes() == GOOD

    copy = fetch(str(src), GOOD_SHA, "plain.bin")
    assert copy.read_bytes() == GOOD
    assert cache_files(home) == ["local.bin", "plain.bin"]

    with pytest.raises(HubError, match="not found"):
        fetch((tmp_path / "nope.bin").as_uri(), GOOD_SHA)
    assert cache_files(home) == ["local.bin", "plain.bin"]


def test_wrong_hash_cached_file_is_replaced(server: Server, home: Path) -> None:
    home.mkdir()
    (home / "good.bin").write_bytes(b"stale garbage")
    path = fetch(f"{server.base}/good.bin", GOOD_SHA)
    assert server.hits["/good.bin"] == 1
    assert path.read_bytes() == GOOD
    assert cache_files(home) == ["good.bin"]


def test_wrong_hash_cached_file_removed_when_refetch_fails(server: Server, home: Path) -> None:
    home.mkdir()
    (home / "missing.bin").write_bytes(b"stale garbage")
    with pytest.raises(HubError, match="404"):
        fetch(f"{server.base}/missing.bin", GOOD_SHA)
    assert cache_files(home) == []


def test_keyboard_interrupt_cleans_up(
    server: Server, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(src, dst, *args, **kwargs):  # type: ignore[no-untyped-def]
        dst.write(src.read(100))
        raise KeyboardInterrupt

    monkeypatch.setattr(hub, "copy_stream", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fetch(f"{server.base}/good.bin", GOOD_SHA)
    assert server.hits["/good.bin"] == 1
    assert cache_files(home) == []


def test_unsupported_scheme_and_bad_args(home: Path) -> None:
    with pytest.raises(HubError, match="unsupported URL scheme 'ftp'"):
        fetch("ftp://example.com/w.bin", GOOD_SHA)
    with pytest.raises(HubError, match="invalid sha256"):
        fetch("http://127.0.0.1:1/w.bin", "abc")
    with pytest.raises(HubError, match="file name"):
        fetch("http://127.0.0.1:1/w.bin", GOOD_SHA, filename="../escape.bin")
    assert cache_files(home) == []


def test_verify(tmp_path: Path) -> None:
    f = tmp_path / "shipped.bin"
    with pytest.raises(HubError, match="not found"):
        verify(f, GOOD_SHA)
    f.write_bytes(CORRUPT)
    with pytest.raises(HubError, match="sha256 mismatch") as exc:
        verify(f, GOOD_SHA)
    assert hashlib.sha256(CORRUPT).hexdigest() in str(exc.value)
    f.write_bytes(GOOD)
    assert verify(str(f), GOOD_SHA) == f
