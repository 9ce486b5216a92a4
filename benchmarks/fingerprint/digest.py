"""A canonical SHA-256 digest of nested plan data: the same values give the same digest, in any
process and dict order; a changed bit of any array, dtype or shape gives another.

Accepted leaves: numpy arrays and scalars, torch tensors (as their numpy bytes), ``str``, ``int``,
``float`` (``repr``, exact round-trip), ``bool``, ``None``; containers: ``dict`` (keys sorted as
strings), ``list``, ``tuple``, ``set``/``frozenset`` (sorted by digest); dataclasses (class name
plus every field). Anything else raises ``TypeError``, so no object address or truncated ``repr``
can slip into a digest.
"""
from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import numpy as np
import torch

DIGEST_CHARS = 16  # hex characters kept (64 bits)


def _feed(m: "hashlib._Hash", o: Any) -> None:
    if isinstance(o, torch.Tensor):
        o = o.detach().cpu().numpy()
    if isinstance(o, (np.ndarray, np.generic)):
        a = np.ascontiguousarray(o)
        if a.dtype == object:
            raise TypeError("digest: object arrays are not hashable bit for bit")
        m.update(b"A" + f"{a.dtype.str}{a.shape}".encode() + b":" + a.tobytes())
    elif isinstance(o, dict):
        m.update(b"{")
        for k in sorted(o, key=str):
            _feed(m, str(k))
            _feed(m, o[k])
        m.update(b"}")
    elif isinstance(o, (list, tuple)):
        m.update(b"[" if isinstance(o, list) else b"(")
        for x in o:
            _feed(m, x)
        m.update(b"]")
    elif isinstance(o, (set, frozenset)):
        m.update(b"S")
        _feed(m, sorted(digest(x) for x in o))
    elif dataclasses.is_dataclass(o) and not isinstance(o, type):
        _feed(m, type(o).__name__)
        _feed(m, {f.name: getattr(o, f.name) for f in dataclasses.fields(o)})
    elif o is None or isinstance(o, (bool, int, float, str)):
        m.update(f"{type(o).__name__}:{o!r};".encode())
    else:
        raise TypeError(f"digest: no canonical form for {type(o).__module__}.{type(o).__name__}")


def digest(obj: Any) -> str:
    """First ``DIGEST_CHARS`` hex characters of the SHA-256 of ``obj``'s canonical bytes."""
    m = hashlib.sha256()
    _feed(m, obj)
    return m.hexdigest()[:DIGEST_CHARS]
