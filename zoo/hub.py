"""Weights cache and download helpers (stdlib only).

Files are stored flat in :func:`cache_dir` and always identified by their
SHA-256.  Downloads stream into a temporary file in the cache directory and
are moved into place atomically only after the hash has been verified, so the
cache never holds partial or unverified files.
"""

from __future__ import annotations

import hashlib
import http.client
import math
import os
import re
import signal
import socket
import stat
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import BinaryIO, Optional, Union

__all__ = ["HubError", "cache_dir", "sha256_file", "fetch", "download", "verify"]

PathLike = Union[str, "os.PathLike[str]"]

_CHUNK = 1 << 16
_USER_AGENT = "lava-nir-zoo-hub/1"
DEFAULT_DEADLINE = 3600.0  # s, a whole download ($ZOO_DOWNLOAD_TIMEOUT)
DEFAULT_MAX_BYTES = 4 << 30  # downloads of unknown size ($ZOO_MAX_DOWNLOAD_BYTES)
STALE_PART_SECONDS = 600.0  # a .part file untouched this long belongs to a dead download
_PART_ID = re.compile(r"[a-z0-9_]{8}")  # tempfile.mkstemp's random part


class HubError(Exception):
    """Download, cache or integrity failure (one-line, human-readable message)."""


def cache_dir() -> Path:
    """Return the cache directory: ``$ZOO_HOME`` or ``$XDG_CACHE_HOME/lava-nir-zoo``."""
    home = os.environ.get("ZOO_HOME")
    if home:
        return Path(home).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    return Path(xdg).expanduser() / "lava-nir-zoo"


def sha256_file(path: PathLike) -> str:
    """Return the hex SHA-256 of the file at ``path``, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _normalize_hash(sha256: str) -> str:
    digest = str(sha256).strip().lower()
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise HubError(f"invalid sha256 {sha256!r}: expected 64 hex characters")
    return digest


def verify(path: PathLike, sha256: str) -> Path:
    """Check that a file (e.g. shipped in the repo) exists and has ``sha256``."""
    expected = _normalize_hash(sha256)
    p = Path(path)
    if not p.is_file():
        raise HubError(f"{p}: file not found")
    actual = sha256_file(p)
    if actual != expected:
        raise HubError(f"{p}: sha256 mismatch (expected {expected}, got {actual})")
    return p


def _default_filename(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    path = parts.path if parts.scheme.lower() in ("http", "https", "file") else url
    name = os.path.basename(urllib.parse.unquote(path).replace("\\", "/").rstrip("/"))
    if not name:
        raise HubError(f"{url}: cannot infer a file name, pass filename=")
    return name


def _check_filename(name: str) -> str:
    if (
        not name
        or name in (".", "..")
        or "/" in name
        or "\\" in name
        or os.sep in name
        or (os.altsep and os.altsep in name)
    ):
        raise HubError(f"invalid cache file name {name!r}: must be a plain file name")
    return name


def _env_number(name: str, default: float, integer: bool = False) -> float:
    """A positive number from the environment variable ``name`` (``default`` when unset)."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        value = -1
    if not (value > 0 and math.isfinite(value)):
        kind = "a whole number of bytes" if integer else "a number of seconds"
        raise HubError(f"{name}={raw!r}: must be {kind} > 0")
    return value


def download_deadline() -> float:
    """Seconds a whole download may take: ``$ZOO_DOWNLOAD_TIMEOUT`` (default 3600)."""
    return _env_number("ZOO_DOWNLOAD_TIMEOUT", DEFAULT_DEADLINE)


def max_download_bytes() -> int:
    """Largest download accepted when its size is not known: ``$ZOO_MAX_DOWNLOAD_BYTES``
    (default 4 GiB)."""
    return int(_env_number("ZOO_MAX_DOWNLOAD_BYTES", DEFAULT_MAX_BYTES, integer=True))


class _Watchdog:
    """Enforces the overall deadline: when it passes, the sockets of the download are shut
    down, which wakes a read blocked on a slow server (the per-read ``timeout`` alone never
    fires while a server trickles bytes)."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.expired = seconds, False
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def __enter__(self) -> "_Watchdog":
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
            _shutdown(sock)

    def _fire(self) -> None:
        with self._lock:
            self.expired = True
            socks = list(self._socks)
        for sock in socks:
            _shutdown(sock)


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _opener(watch: _Watchdog) -> urllib.request.OpenerDirector:
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

    opener = urllib.request.OpenerDirector()
    for handler in (urllib.request.ProxyHandler(), urllib.request.UnknownHandler(), HTTPHandler(),
                    HTTPSHandler(), urllib.request.HTTPDefaultErrorHandler(),
                    urllib.request.HTTPRedirectHandler(), urllib.request.HTTPErrorProcessor()):
        opener.add_handler(handler)
    return opener


class _Terminated(BaseException):
    """SIGTERM/SIGHUP arrived during a download (raised by the handler, after cleanup turned
    into the signal's previous behaviour)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class _SignalGuard:
    """During a download in the main thread, SIGTERM and SIGHUP raise :class:`_Terminated`, so
    the ``.part`` file is removed before the process ends. On exit the previous handlers come
    back; a caught signal then gets its previous behaviour: exit with status 128 + signum for
    the default action, or the previous Python handler is called (if it returns, HubError)."""

    SIGNALS = tuple(getattr(signal, s) for s in ("SIGTERM", "SIGHUP") if hasattr(signal, s))

    def __init__(self, url: str) -> None:
        self.url = url
        self.previous: dict[int, object] = {}
        self.received: Optional[int] = None

    def _handle(self, signum: int, frame: object) -> None:
        if self.received is None:
            self.received = signum
            raise _Terminated(signum)

    def __enter__(self) -> "_SignalGuard":
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
        if not isinstance(exc, _Terminated):
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


def _open_source(url: str, timeout: float, watch: Optional[_Watchdog] = None) -> tuple[BinaryIO, Optional[int]]:
    """Open ``url`` for reading; return the stream and its announced size (or None)."""
    if not isinstance(url, str):
        raise HubError(f"{url!r}: a URL must be a string")
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError as e:
        raise HubError(f"{url}: invalid URL ({_describe(e)})") from None
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        req = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
        opener = _opener(watch) if watch is not None else urllib.request.build_opener()
        try:
            resp = opener.open(req, timeout=timeout)
        except urllib.error.HTTPError as e:
            e.close()
            raise HubError(f"{url}: HTTP {e.code} {_describe(e.reason)}") from None
        except urllib.error.URLError as e:
            raise HubError(f"{url}: cannot connect ({_describe(e.reason)})") from None
        except (OSError, http.client.HTTPException, ValueError) as e:
            raise HubError(f"{url}: cannot connect ({_describe(e)})") from None
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
        raise HubError(f"{url}: cannot open ({_describe(e)})") from None
    return f, os.fstat(f.fileno()).st_size


def _describe(err: object) -> str:
    if isinstance(err, TimeoutError) or isinstance(err, socket.timeout):
        return "timed out"
    text = getattr(err, "strerror", None) or str(err) or type(err).__name__
    return " ".join(str(text).split())


def _stream(
    src: BinaryIO,
    dst: BinaryIO,
    hasher: "hashlib._Hash",
    total: Optional[int],
    label: str,
    progress: bool,
    *,
    limit: Optional[int] = None,
    watch: Optional[_Watchdog] = None,
    url: str = "",
) -> int:
    """Copy ``src`` to ``dst`` in chunks, updating ``hasher``; return bytes copied. More than
    ``limit`` bytes, or the ``watch`` deadline passing, raises :class:`HubError`."""
    done = 0
    bar = _progress_bar(total, label) if progress else None
    try:
        while True:
            if watch is not None and watch.expired:
                raise _deadline_error(url or label, watch, done)
            chunk = src.read(_CHUNK)
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


def _progress_bar(total: Optional[int], label: str):
    """A byte progress bar on a terminal (:mod:`zoo.progress`; silent otherwise)."""
    from zoo.progress import bar

    return bar(total=total, desc=label, unit="B", unit_scale=True, unit_divisor=1024)


def _deadline_error(url: str, watch: _Watchdog, done: Optional[int] = None) -> HubError:
    got = f" after {done} bytes" if done is not None else ""
    return HubError(f"{url}: download timed out: not complete within {watch.seconds:g} s{got} "
                    "(deadline: ZOO_DOWNLOAD_TIMEOUT)")


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


def _clean_stale_parts(root: Path, name: str, max_age: float = STALE_PART_SECONDS) -> None:
    """Remove ``.part`` files of ``name`` left by a killed download (not written for ``max_age``
    seconds: a download in progress in another process keeps writing to its own)."""
    prefix, now = f".{name}.", time.time()
    try:
        entries = list(os.scandir(root))
    except OSError:
        return
    for entry in entries:
        middle = entry.name[len(prefix):-len(".part")]
        if not (entry.name.startswith(prefix) and entry.name.endswith(".part") and _PART_ID.fullmatch(middle)):
            continue
        try:
            if entry.is_file(follow_symlinks=False) and now - entry.stat(follow_symlinks=False).st_mtime > max_age:
                os.unlink(entry.path)
        except OSError:
            pass


def _download(
    url: str,
    target: Path,
    expected: Optional[str],
    *,
    progress: bool,
    timeout: float,
    deadline: Optional[float],
    max_bytes: Optional[int],
    size: Optional[int],
) -> Path:
    """Stream ``url`` into a ``.part`` file beside ``target``, check size (and hash when
    ``expected``), rename into place. On any failure nothing is left behind."""
    root, name = target.parent, target.name
    if size is not None and (not isinstance(size, int) or size < 0):
        raise HubError(f"{url}: invalid expected size {size!r}")
    limit = max_bytes if max_bytes is not None else size if size is not None else max_download_bytes()
    seconds = deadline if deadline is not None else download_deadline()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise HubError(f"{root}: cannot create directory ({_describe(e)})") from None
    _clean_stale_parts(root, name)
    with _SignalGuard(url), _Watchdog(seconds) as watch:
        tmp: Optional[Path] = None
        try:
            try:
                src, total = _open_source(url, timeout, watch)
            except HubError:
                if watch.expired:  # the deadline cut the connection while the headers crawled in
                    raise _deadline_error(url, watch) from None
                raise
            with src:
                if total is not None and total > limit:
                    raise HubError(f"{url}: server announces {total} bytes, more than the limit of {limit} "
                                   "(max_bytes= or ZOO_MAX_DOWNLOAD_BYTES)")
                if total is not None and size is not None and total != size:
                    raise HubError(f"{url}: server announces {total} bytes, expected {size}")
                try:
                    fd, tmp_name = tempfile.mkstemp(dir=root, prefix=f".{name}.", suffix=".part")
                except OSError as e:
                    raise HubError(f"{root}: cannot create temp file ({_describe(e)})") from None
                tmp = Path(tmp_name)
                hasher = hashlib.sha256()
                with os.fdopen(fd, "wb") as dst:
                    try:
                        done = _stream(src, dst, hasher, total, name, progress, limit=limit, watch=watch, url=url)
                        dst.flush()
                        os.fsync(dst.fileno())
                    except http.client.IncompleteRead as e:
                        if watch.expired:
                            raise _deadline_error(url, watch) from None
                        got = dst.tell() + len(e.partial)
                        of = f" of {total}" if total is not None else ""
                        raise HubError(f"{url}: connection closed after {got}{of} bytes") from None
                    except (OSError, http.client.HTTPException, ValueError) as e:
                        if watch.expired:
                            raise _deadline_error(url, watch) from None
                        raise HubError(f"{url}: download failed ({_describe(e)})") from None
            if watch.expired:  # a shut-down socket reads as a clean end of data
                raise _deadline_error(url, watch, done)
            if total is not None and done != total:
                raise HubError(f"{url}: connection closed after {done} of {total} bytes")
            if size is not None and done != size:
                raise HubError(f"{url}: {done} bytes, expected {size}")
            actual = hasher.hexdigest()
            if expected is not None and actual != expected:
                raise HubError(f"{url}: sha256 mismatch (expected {expected}, got {actual})")
            try:
                os.chmod(tmp, 0o644)
                os.replace(tmp, target)
            except OSError as e:
                raise HubError(f"{target}: cannot move download into place ({_describe(e)})") from None
            tmp = None
        finally:
            if tmp is not None:
                _unlink(tmp)
    return target


def fetch(
    url: str,
    sha256: str,
    filename: Optional[str] = None,
    *,
    progress: bool = False,
    timeout: float = 30.0,
    deadline: Optional[float] = None,
    max_bytes: Optional[int] = None,
    size: Optional[int] = None,
) -> Path:
    """Return a verified cached copy of ``url`` (http(s)://, file:// or local path).

    A cached file with the right hash is returned as is; otherwise the file is
    (re)downloaded into a temp file, verified, and atomically moved into place.
    On any failure nothing is left in the cache and :class:`HubError` is raised
    (``KeyboardInterrupt`` propagates unchanged after cleanup; SIGTERM/SIGHUP
    clean up, then exit with status 128 + signal number).

    ``timeout``: seconds any single network operation may block. ``deadline``: seconds the
    whole download may take (default ``$ZOO_DOWNLOAD_TIMEOUT`` or 3600). ``size``: the
    expected size in bytes, if known. ``max_bytes``: refuse larger downloads (default
    ``size``, else ``$ZOO_MAX_DOWNLOAD_BYTES`` or 4 GiB). Stale ``.part`` files of the same
    target (untouched for 10 minutes, e.g. from a killed process) are removed.
    """
    expected = _normalize_hash(sha256)
    name = _check_filename(filename if filename is not None else _default_filename(url))
    root = cache_dir()
    target = root / name

    if target.is_file():
        if sha256_file(target) == expected:
            return target
        _unlink(target)  # never trust a cached file with the wrong hash
    elif target.exists():
        raise HubError(f"{target}: exists in the cache but is not a regular file")
    return _download(url, target, expected, progress=progress, timeout=timeout, deadline=deadline,
                     max_bytes=max_bytes, size=size)


def download(
    url: str,
    dest: PathLike,
    *,
    progress: bool = False,
    timeout: float = 30.0,
    deadline: Optional[float] = None,
    max_bytes: Optional[int] = None,
) -> Path:
    """Download ``url`` to ``dest`` atomically (temp file beside it, renamed when complete) and
    return ``dest``. No hash is known for the whole file (e.g. a repository archive whose members
    are verified one by one after extraction); a short read raises :class:`HubError` and leaves
    nothing behind. ``timeout``, ``deadline`` and ``max_bytes`` as in :func:`fetch`."""
    return _download(url, Path(dest), None, progress=progress, timeout=timeout, deadline=deadline,
                     max_bytes=max_bytes, size=None)
