"""Progress bars and diagnostics for long work (Lava runs, emulation, training, downloads).

A bar is drawn only on a terminal (``stderr`` is a TTY) and never under ``--json`` or with
``ZOO_PROGRESS=0``; diagnostics go through :mod:`logging` (``zoo -v``), not ``print``.
"""
from __future__ import annotations

import logging
import os
import sys
from typing import Any, Iterable

_enabled: bool | None = None  # None: decide by the terminal


def set_enabled(on: bool | None) -> None:
    """Force bars on/off (``None``: on when stderr is a terminal)."""
    global _enabled
    _enabled = on


def enabled() -> bool:
    if os.environ.get("ZOO_PROGRESS", "") == "0":
        return False
    return sys.stderr.isatty() if _enabled is None else _enabled


def bar(iterable: Iterable[Any] | None = None, total: int | None = None, desc: str = "", unit: str = "it",
        **kw: Any):
    """A ``tqdm`` bar on stderr (a silent pass-through when bars are off)."""
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, unit=unit, disable=not enabled(), leave=False,
                file=sys.stderr, dynamic_ncols=True, **kw)


def configure_logging(verbosity: int) -> None:
    """The CLI's messages: 0 = warnings only (``-q``), 1 = progress messages (default),
    2 = diagnostics (``-v``), 3+ = everything, other libraries too (``-vv``). On stderr."""
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity <= 2 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s" if verbosity <= 1 else "%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("zoo")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbosity >= 2 else level)
    root.propagate = False
    if verbosity >= 3:
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
