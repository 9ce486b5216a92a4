"""Byte transfer for downloads (stdlib only): open an http(s)://, file:// or local source,
copy it in chunks while hashing, and enforce the limits of a download.

* :class:`Watchdog`: the whole-download deadline; when it passes the download's sockets are
  shut down, which wakes a read blocked on a server that trickles bytes.
* :class:`SignalGuard`: SIGTERM/SIGHUP during a download raise :class:`Terminated`, so the
  caller removes its partial file before the signal takes its previous effect.
* :func:`open_source`, :func:`copy_stream`: the source and the chunked, hashed, size-limited copy.

Used by :mod:`zoo.hub` (the verified cache); every failure is one :class:`HubError` line.
"""
from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import signal
import socket
import stat
import threading
import urllib.error
import urllib.parse
import urllib.request
from typing import BinaryIO, Iterator, Optional

CHUNK = 1 << 16
USER_AGENT = "lava-nir-zoo-hub/1"


class HubError(Exception):
    """Download, cache or integrity failure (one-line, human-readable message)."""


class Watchdog:
    """Enforces the overall deadline: when it passes, the sockets of the download are shut
    down, which wakes a read blocked on a slow server (the per-read ``timeout`` alone never
    fires while a server trickles bytes)."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.expired = seconds, False
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def __enter__(self) -> "Watchdog":
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    def add(self, sock: Optional[socket.socket]) -> None:
        with self._lock:
            if sock is not None:
                self._socks.append(sock)
            expired = self.expired
        if expired and sock is not None:
            shutdown(sock)

    def _fire(self) -> None:
        with self._lock:
            self.expired = True
            socks = list(self._socks)
        for sock in socks:
            shutdown(sock)


def shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _opener_for(watch: Watchdog) -> urllib.request.OpenerDirector:
    """An http(s)-only opener whose connections register their sockets with ``watch``."""

    class HTTPConnection(http.client.HTTPConnection):
        def connect(self) -> None:
            super().connect()
            watch.add(self.sock)

    class HTTPSConnection(http.client.HTTPSConnection):
        def connect(self) -> None:
            super().connect()
            watch.add(self.sock)

    class HTTPHandler(urllib.request.HTTPHandler):
        def do_open(self, http_class, req, **kw):  # type: ignore[no-untyped-def, override]
            return super().do_open(HTTPConnection, req, **kw)

    class HTTPSHandler(urllib.request.HTTPSHandler):
        def do_open(self, http_class, req, **kw):  # type: ignore[no-untyped-def, override]
            return super().do_open(HTTPSConnection, req, **kw)

    od = urllib.request.OpenerDirector()
    for handler in (urllib.request.ProxyHandler(), urllib.request.UnknownHandler(), HTTPHandler(),
                    HTTPSHandler(), urllib.request.HTTPDefaultErrorHandler(),
                    urllib.request.HTTPRedirectHandler(), urllib.request.HTTPErrorProcessor()):
        od.add_handler(handler)
    return od


class Terminated(BaseException):
    """SIGTERM/SIGHUP arrived during a download (raised by the handler, after cleanup turned
    into the signal's previous behaviour)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class SignalGuard:
    """During a download in the main thread, SIGTERM and SIGHUP raise :class:`Terminated`, so
    the ``.part`` file is removed before the process ends. On exit the previous handlers come
    back; a caught signal then gets its previous behaviour: exit with status 128 + signum for
    the default action, or the previous Python handler is called (if it returns, HubError)."""

    SIGNALS = tuple(getattr(signal, s) for s in ("SIGTERM", "SIGHUP") if hasattr(signal, s))

    def __init__(self, url: str) -> None:
        self.url = url
        self.previous: dict[int, object] = {}
        self.received: Optional[int] = None
        self.holding = False

    def _handle(self, signum: int, frame: object) -> None:
        if self.received is None:
            self.received = signum
            if not self.holding:
                raise Terminated(signum)

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """A signal arriving inside this block is raised at its end: for a step that must not be
        cut in two (creating the ``.part`` file and remembering its name)."""
        self.holding = True
        try:
            yield
        finally:
            self.holding = False
            if self.received is not None:
                raise Terminated(self.received)

    def __enter__(self) -> "SignalGuard":
        if threading.current_thread() is not threading.main_thread():
            return self
        for sig in self.SIGNALS:
            prev = signal.getsignal(sig)
            if prev in (signal.SIG_IGN, None):  # ignored (nohup) or set outside Python: leave it
                continue
            self.previous[sig] = prev
            signal.signal(sig, self._handle)
        return self

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        for sig, prev in self.previous.items():
            signal.signal(sig, prev)  # type: ignore[arg-type]
        if not isinstance(exc, Terminated):
            return
        prev = self.previous.get(exc.signum)
        if callable(prev) and prev is not signal.default_int_handler:
            prev(exc.signum, None)
        elif prev is signal.default_int_handler:
            raise KeyboardInterrupt from None
        else:
            raise SystemExit(128 + exc.signum) from None
        name = signal.Signals(exc.signum).name
        raise HubError(f"{self.url}: download interrupted by {name}") from None


def open_source(url: str, timeout: float, watch: Optional[Watchdog] = None) -> tuple[BinaryIO, Optional[int]]:
    """Open ``url`` for reading; return the stream and its announced size (or None)."""
    if not isinstance(url, str):
        raise HubError(f"{url!r}: a URL must be a string")
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError as e:
        raise HubError(f"{url}: invalid URL ({describe(e)})") from None
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        opener = _opener_for(watch) if watch is not None else urllib.request.build_opener()
        try:
            resp = opener.open(req, timeout=timeout)
        except urllib.error.HTTPError as e:
            e.close()
            raise HubError(f"{url}: HTTP {e.code} {describe(e.reason)}") from None
        except urllib.error.URLError as e:
            raise HubError(f"{url}: cannot connect ({describe(e.reason)})") from None
        except (OSError, http.client.HTTPException, ValueError) as e:
            raise HubError(f"{url}: cannot connect ({describe(e)})") from None
        length = resp.headers.get("Content-Length")
        try:
            total = int(length) if length is not None else None
        except ValueError:
            total = None
        return resp, (total if total is not None and total >= 0 else None)
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise HubError(f"{url}: remote file:// hosts are not supported")
        local = urllib.request.url2pathname(parts.path)
    elif scheme == "" or (os.name == "nt" and len(scheme) == 1):
        local = url
    else:
        raise HubError(f"{url}: unsupported URL scheme {parts.scheme!r}")
    try:
        st = os.stat(local)
        if not stat.S_ISREG(st.st_mode):  # a FIFO or device would block or never end
            raise HubError(f"{url}: not a regular file")
        f = open(local, "rb")
    except (FileNotFoundError, NotADirectoryError):
        raise HubError(f"{url}: file not found") from None
    except (OSError, ValueError) as e:
        raise HubError(f"{url}: cannot open ({describe(e)})") from None
    return f, os.fstat(f.fileno()).st_size


def describe(err: object) -> str:
    if isinstance(err, TimeoutError) or isinstance(err, socket.timeout):
        return "timed out"
    text = getattr(err, "strerror", None) or str(err) or type(err).__name__
    return " ".join(str(text).split())


def copy_stream(
    src: BinaryIO,
    dst: BinaryIO,
    hasher: "hashlib._Hash",
    total: Optional[int],
    label: str,
    progress: bool,
    *,
    limit: Optional[int] = None,
    watch: Optional[Watchdog] = None,
    url: str = "",
) -> int:
    """Copy ``src`` to ``dst`` in chunks, updating ``hasher``; return bytes copied. More than
    ``limit`` bytes, or the ``watch`` deadline passing, raises :class:`HubError`."""
    done = 0
    bar = progress_bar(total, label) if progress else None
    try:
        while True:
            if watch is not None and watch.expired:
                raise deadline_error(url or label, watch, done)
            chunk = src.read(CHUNK)
            if not chunk:
                break
            if limit is not None and done + len(chunk) > limit:
                raise HubError(f"{url or label}: more than {limit} bytes, refusing the rest "
                               "(size limit: max_bytes= or ZOO_MAX_DOWNLOAD_BYTES)")
            dst.write(chunk)
            hasher.update(chunk)
            done += len(chunk)
            if bar is not None:
                bar.update(len(chunk))
    finally:
        if bar is not None:
            bar.close()
    return done


def progress_bar(total: Optional[int], label: str):
    """A byte progress bar on a terminal (:mod:`zoo.progress`; silent otherwise)."""
    from zoo.progress import bar

    return bar(total=total, desc=label, unit="B", unit_scale=True, unit_divisor=1024)


def deadline_error(url: str, watch: Watchdog, done: Optional[int] = None) -> HubError:
    got = f" after {done} bytes" if done is not None else ""
    return HubError(f"{url}: download timed out: not complete within {watch.seconds:g} s{got} "
                    "(deadline: ZOO_DOWNLOAD_TIMEOUT)")
