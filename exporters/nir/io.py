"""Reading and writing NIR files with clear errors and atomic writes."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable

import nir


class NIRError(Exception):
    """A NIR graph or file the zoo cannot handle; the message names the file/node and reason."""


def write(path: str | Path, graph: nir.NIRGraph) -> Path:
    """Write ``graph`` to ``path`` atomically (no half-written file on failure)."""
    path = Path(path)
    if path.is_dir():
        raise NIRError(f"cannot write {path}: it is a directory")
    if not path.parent.exists():
        raise NIRError(f"cannot write {path}: directory {path.parent} does not exist")
    return atomic_write(path, lambda tmp: nir.write(tmp, graph))


def atomic_write(path: Path, write: Callable[[str], None], suffix: str = ".tmp") -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it over ``path``: the
    file is never half-written; an OSError is one :class:`NIRError` line naming ``path``."""
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
        os.close(fd)
        write(tmp)
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise NIRError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
    return path


def read(path: str | Path) -> nir.NIRGraph:
    """Load a NIR file; a missing or malformed file gives one clear error."""
    path = Path(path)
    if not path.exists():
        raise NIRError(f"NIR file {path} not found")
    try:
        return nir.read(path)
    except Exception as exc:  # h5py/nir raise many types for a corrupt file
        raise NIRError(f"cannot read NIR file {path}: {type(exc).__name__}: {exc}") from None
