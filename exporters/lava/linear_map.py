"""Exact linear maps between populations, fused where that stays small (pure numpy).

A :class:`LinearMap` is ``x -> ops[-1](... ops[0](x))`` on flattened vectors; each op is a
dense matrix (n_out, n_in) or a :class:`~exporters.lava.conv.ConvOp`; no ops is the identity.
Fusion rules (each exact):

* dense after dense: one matrix product (Affine/Linear chains, as before);
* anything after a *uniform* op (a pool): the pool becomes a plain sum (weights 1) and its
  factor (1 or 1/k^2) multiplies the next op's weights, so fixed point keeps integer pool sums;
* conv after conv, or dense after conv: kept as a chain (fusing would need a dense matrix);
* a per-output scale (a population's input gain, a NIR Scale) multiplies the rows of a final
  dense op, or the output channels of a final conv when it is constant over each channel.

Only :meth:`LinearMap.dense` builds a matrix, after :func:`check_dense` allows its size.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from exporters.lava.conv import ConvOp
from exporters.nir.io import NIRError

MAX_DENSE_BYTES_DEFAULT = 2 * 1024 ** 3


def max_dense_bytes() -> int:
    """Memory allowed for one dense matrix of the compiler (env ``ZOO_MAX_DENSE_BYTES``, default 2 GiB)."""
    raw = os.environ.get("ZOO_MAX_DENSE_BYTES")
    if raw is None or raw.strip() == "":
        return MAX_DENSE_BYTES_DEFAULT
    try:
        value = int(float(raw))
    except ValueError:
        raise NIRError(f"ZOO_MAX_DENSE_BYTES must be a number of bytes, got {raw!r}") from None
    if value <= 0:
        raise NIRError(f"ZOO_MAX_DENSE_BYTES must be positive, got {raw!r}")
    return value


def check_dense(name: str, rows: int, cols: int, what: str, copies: int = 1) -> None:
    """Refuse before allocating a float64 (rows x cols) matrix (x ``copies`` alive at once) above the limit."""
    need = 8 * int(rows) * int(cols) * copies
    limit = max_dense_bytes()
    if need > limit:
        raise NIRError(f"node {name!r}: {what} needs a dense {rows} x {cols} float64 matrix ({_fmt_bytes(need)}), "
                       f"above the limit of {_fmt_bytes(limit)} (ZOO_MAX_DENSE_BYTES); the compiler expands this "
                       "node into dense Lava weights")


def _fmt_bytes(n: int) -> str:
    for unit, size in (("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n} B"


Op = "np.ndarray | ConvOp"


def op_n_out(op) -> int:
    return int(op.shape[0]) if isinstance(op, np.ndarray) else op.n_out


def op_n_in(op) -> int:
    return int(op.shape[1]) if isinstance(op, np.ndarray) else op.n_in


def apply_op(op, x: np.ndarray) -> np.ndarray:
    """(B, n_in) -> (B, n_out) through one op."""
    return x @ op.T if isinstance(op, np.ndarray) else op.apply(x)


def apply_vec(op, c: np.ndarray) -> np.ndarray:
    """op(c) for one vector (a matrix-vector product for dense ops)."""
    return op @ c if isinstance(op, np.ndarray) else op.apply(c[None])[0]


def fan_in(ops) -> np.ndarray:
    """Per output value: the inputs that reach it through nonzero weights (paths through a chain;
    a convolution's padding counts nothing)."""
    x = np.ones((1, op_n_in(ops[0])), dtype=np.int64)
    for op in ops:
        ind = (np.asarray(op.weight if isinstance(op, ConvOp) else op) != 0).astype(np.int64)
        x = x @ ind.T if isinstance(op, np.ndarray) else op.with_weight(ind).apply(x)
    return x[0]


def apply_ops(ops, x: np.ndarray) -> np.ndarray:
    for op in ops:
        x = apply_op(op, x)
    return x


def _scale_outputs(op: ConvOp, g: np.ndarray) -> ConvOp | None:
    """``op`` with output channel c scaled by g (given per output value), or None when g varies within a channel."""
    per = g.reshape(op.out_shape[0], -1)
    if not np.all(per == per[:, :1]):
        return None
    w = op.weight * per[:, 0].reshape((-1,) + (1,) * (op.weight.ndim - 1))
    return op.with_weight(w, uniform=op.uniform and bool(np.all(per == per[0, 0])))


@dataclass(frozen=True)
class LinearMap:
    """A linear map from ``n_in`` values (see the module docstring)."""

    n_in: int
    ops: tuple = ()

    @property
    def n_out(self) -> int:
        return op_n_out(self.ops[-1]) if self.ops else self.n_in

    @property
    def has_conv(self) -> bool:
        return any(isinstance(op, ConvOp) for op in self.ops)

    def is_identity(self) -> bool:
        if not self.ops:
            return True
        m = self.ops[0]
        return len(self.ops) == 1 and isinstance(m, np.ndarray) and m.shape[0] == m.shape[1] \
            and np.array_equal(m, np.eye(len(m)))

    def then(self, op) -> "LinearMap":
        """``op`` applied after this map."""
        if not self.ops:
            return LinearMap(self.n_in, (op,))
        last = self.ops[-1]
        if isinstance(last, np.ndarray) and isinstance(op, np.ndarray):
            return LinearMap(self.n_in, self.ops[:-1] + (op @ last,))
        if isinstance(last, ConvOp) and last.uniform:
            factor = float(last.weight.flat[0])
            summed = last.with_weight(np.ones_like(last.weight))
            scaled = op * factor if isinstance(op, np.ndarray) else op.with_weight(op.weight * factor)
            return LinearMap(self.n_in, self.ops[:-1] + (summed, scaled))
        return LinearMap(self.n_in, self.ops + (op,))

    def scale_rows(self, name: str, g: np.ndarray) -> "LinearMap":
        """diag(g) after this map (g per output value)."""
        g = np.asarray(g, dtype=np.float64)
        last = self.ops[-1] if self.ops else None
        if isinstance(last, ConvOp):
            scaled = _scale_outputs(last, g)
            if scaled is not None:
                return LinearMap(self.n_in, self.ops[:-1] + (scaled,))
        if last is None or isinstance(last, ConvOp):
            return LinearMap(self.n_in, (g[:, None] * self.dense(name, "a per-value scale"),))
        return LinearMap(self.n_in, self.ops[:-1] + (g[:, None] * last,))

    def plus(self, name: str, other: "LinearMap") -> "LinearMap":
        """The sum of two maps from the same source (dense: two paths into one node)."""
        return LinearMap(self.n_in, (self.dense(name, "a sum of two paths") + other.dense(name, "a sum of two paths"),))

    def left_matmul(self, name: str, gain: np.ndarray) -> "LinearMap":
        """gain @ this map, for a matrix-valued input gain."""
        return LinearMap(self.n_in, (gain @ self.dense(name, "a matrix input gain"),))

    def apply(self, x: np.ndarray) -> np.ndarray:
        return apply_ops(self.ops, x)

    def dense(self, name: str, what: str) -> np.ndarray:
        """The (n_out, n_in) matrix, refused (NIRError) above ``ZOO_MAX_DENSE_BYTES``."""
        if len(self.ops) == 1 and isinstance(self.ops[0], np.ndarray):
            return self.ops[0]
        check_dense(name, self.n_out, self.n_in, what, copies=2)
        if not self.ops:
            return np.eye(self.n_in)
        return self.apply(np.eye(self.n_in)).T
