"""Weights cache and download helpers (stdlib only; the transfer itself is :mod:`zoo.transfer`).

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
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Optional, Union

from zoo.transfer import (HubError, SignalGuard, Watchdog, copy_stream, deadline_error, describe,  # noqa: F401
                          open_source)

__all__ = ["HubError", "cache_dir", "sha256_file", "fetch", "download", "verify"]

PathLike = Union[str, "os.PathLike[str]"]

_CHUNK = 1 << 16
DEFAULT_DEADLINE = 3600.0  # s, a whole download ($ZOO_DOWNLOAD_TIMEOUT)
DEFAULT_MAX_BYTES = 4 << 30  # downloads of unknown size ($ZOO_MAX_DOWNLOAD_BYTES)
STALE_PART_SECONDS = 600.0  # a .part file untouched this long belongs to a dead download
_PART_ID = re.compile(r"[a-z0-9_]{8}")  # tempfile.mkstemp's random part


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
        raise HubError(f"{root}: cannot create directory ({describe(e)})") from None
    _clean_stale_parts(root, name)
    with SignalGuard(url) as guard, Watchdog(seconds) as watch:
        tmp: Optional[Path] = None
        try:
            try:
                src, total = open_source(url, timeout, watch)
            except HubError:
                if watch.expired:  # the deadline cut the connection while the headers crawled in
                    raise deadline_error(url, watch) from None
                raise
            with src:
                if total is not None and total > limit:
                    raise HubError(f"{url}: server announces {total} bytes, more than the limit of {limit} "
                                   "(max_bytes= or ZOO_MAX_DOWNLOAD_BYTES)")
                if total is not None and size is not None and total != size:
                    raise HubError(f"{url}: server announces {total} bytes, expected {size}")
                with guard.hold():  # a signal between creating the file and naming it would leak it
                    try:
                        fd, tmp_name = tempfile.mkstemp(dir=root, prefix=f".{name}.", suffix=".part")
                    except OSError as e:
                        raise HubError(f"{root}: cannot create temp file ({describe(e)})") from None
                    tmp = Path(tmp_name)
                hasher = hashlib.sha256()
                with os.fdopen(fd, "wb") as dst:
                    try:
                        done = copy_stream(src, dst, hasher, total, name, progress, limit=limit, watch=watch, url=url)
                        dst.flush()
                        os.fsync(dst.fileno())
                    except http.client.IncompleteRead as e:
                        if watch.expired:
                            raise deadline_error(url, watch) from None
                        got = dst.tell() + len(e.partial)
                        of = f" of {total}" if total is not None else ""
                        raise HubError(f"{url}: connection closed after {got}{of} bytes") from None
                    except (OSError, http.client.HTTPException, ValueError) as e:
                        if watch.expired:
                            raise deadline_error(url, watch) from None
                        raise HubError(f"{url}: download failed ({describe(e)})") from None
            if watch.expired:  # a shut-down socket reads as a clean end of data
                raise deadline_error(url, watch, done)
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
                raise HubError(f"{target}: cannot move download into place ({describe(e)})") from None
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
