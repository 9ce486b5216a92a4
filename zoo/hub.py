"""Weights cache and download helpers (stdlib only).

Files are stored flat in :func:`cache_dir` and always identified by their
SHA-256.  Downloads stream into a temporary file in the cache directory and
are moved into place atomically only after the hash has been verified, so the
cache never holds partial or unverified files.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import BinaryIO, Optional, Union

__all__ = ["HubError", "cache_dir", "sha256_file", "fetch", "verify"]

PathLike = Union[str, "os.PathLike[str]"]

_CHUNK = 1 << 16
_USER_AGENT = "lava-nir-zoo-hub/1"


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


def _open_source(url: str, timeout: float) -> tuple[BinaryIO, Optional[int]]:
    """Open ``url`` for reading; return the stream and its expected size (or None)."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        req = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
        try:
            resp = urllib.request.urlopen(req, timeout=timeout)
        except urllib.error.HTTPError as e:
            e.close()
            raise HubError(f"{url}: HTTP {e.code} {e.reason}") from None
        except urllib.error.URLError as e:
            raise HubError(f"{url}: cannot connect ({_describe(e.reason)})") from None
        except (OSError, http.client.HTTPException) as e:
            raise HubError(f"{url}: cannot connect ({_describe(e)})") from None
        length = resp.headers.get("Content-Length")
        try:
            total = int(length) if length is not None else None
        except ValueError:
            total = None
        return resp, total
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise HubError(f"{url}: remote file:// hosts are not supported")
        local = urllib.request.url2pathname(parts.path)
    elif scheme == "" or (os.name == "nt" and len(scheme) == 1):
        local = url
    else:
        raise HubError(f"{url}: unsupported URL scheme {parts.scheme!r}")
    try:
        f = open(local, "rb")
    except FileNotFoundError:
        raise HubError(f"{url}: file not found") from None
    except OSError as e:
        raise HubError(f"{url}: cannot open ({_describe(e)})") from None
    return f, os.fstat(f.fileno()).st_size


def _describe(err: object) -> str:
    if isinstance(err, TimeoutError):
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
) -> int:
    """Copy ``src`` to ``dst`` in chunks, updating ``hasher``; return bytes copied."""
    done = 0
    while True:
        chunk = src.read(_CHUNK)
        if not chunk:
            break
        dst.write(chunk)
        hasher.update(chunk)
        done += len(chunk)
        if progress:
            of = f" / {total}" if total is not None else ""
            sys.stderr.write(f"\r{label}: {done}{of} bytes")
            sys.stderr.flush()
    if progress:
        sys.stderr.write("\n")
        sys.stderr.flush()
    return done


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


def fetch(
    url: str,
    sha256: str,
    filename: Optional[str] = None,
    *,
    progress: bool = False,
    timeout: float = 30.0,
) -> Path:
    """Return a verified cached copy of ``url`` (http(s)://, file:// or local path).

    A cached file with the right hash is returned as is; otherwise the file is
    (re)downloaded into a temp file, verified, and atomically moved into place.
    On any failure nothing is left in the cache and :class:`HubError` is raised
    (``KeyboardInterrupt`` propagates unchanged after cleanup).
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

    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise HubError(f"{root}: cannot create cache directory ({_describe(e)})") from None

    src, total = _open_source(url, timeout)
    tmp: Optional[Path] = None
    try:
        with src:
            try:
                fd, tmp_name = tempfile.mkstemp(dir=root, prefix=f".{name}.", suffix=".part")
            except OSError as e:
                raise HubError(f"{root}: cannot create temp file ({_describe(e)})") from None
            tmp = Path(tmp_name)
            hasher = hashlib.sha256()
            with os.fdopen(fd, "wb") as dst:
                try:
                    done = _stream(src, dst, hasher, total, name, progress)
                except http.client.IncompleteRead as e:
                    got = dst.tell() + len(e.partial)
                    of = f" of {total}" if total is not None else ""
                    raise HubError(f"{url}: connection closed after {got}{of} bytes") from None
                except (OSError, http.client.HTTPException) as e:
                    raise HubError(f"{url}: download failed ({_describe(e)})") from None
                dst.flush()
                os.fsync(dst.fileno())
        if total is not None and done != total:
            raise HubError(f"{url}: connection closed after {done} of {total} bytes")
        actual = hasher.hexdigest()
        if actual != expected:
            raise HubError(f"{url}: sha256 mismatch (expected {expected}, got {actual})")
        try:
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except OSError as e:
            raise HubError(f"{target}: cannot move download into place ({_describe(e)})") from None
        tmp = None
    except BaseException:
        if tmp is not None:
            _unlink(tmp)
        raise
    return target


def download(url: str, dest: PathLike, *, progress: bool = False, timeout: float = 30.0) -> Path:
    """Download ``url`` to ``dest`` atomically (temp file beside it, renamed when complete) and
    return ``dest``. No hash is known for the whole file (e.g. a repository archive whose members
    are verified one by one after extraction); a short read raises :class:`HubError` and leaves
    nothing behind."""
    dest = Path(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise HubError(f"{dest.parent}: cannot create directory ({_describe(e)})") from None
    src, total = _open_source(url, timeout)
    tmp: Optional[Path] = None
    try:
        with src:
            fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
            tmp = Path(tmp_name)
            with os.fdopen(fd, "wb") as dst:
                try:
                    done = _stream(src, dst, hashlib.sha256(), total, dest.name, progress)
                except (OSError, http.client.HTTPException) as e:
                    raise HubError(f"{url}: download failed ({_describe(e)})") from None
        if total is not None and done != total:
            raise HubError(f"{url}: connection closed after {done} of {total} bytes")
        os.replace(tmp, dest)
        tmp = None
    finally:
        if tmp is not None:
            _unlink(tmp)
    return dest
