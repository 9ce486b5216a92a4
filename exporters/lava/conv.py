"""Convolutions and pooling as kernels, never as dense matrices (pure numpy).

A :class:`ConvOp` is NIR's Conv1d / Conv2d / SumPool2d / AvgPool2d without its bias, on
C-order flattened ``(C, *spatial)`` vectors (cross-correlation, as PyTorch and NIR):

    y[b, o, p] = sum_{c in group(o), k} w[o, c, k] * x_pad[b, g(o)*C_in/G + c, p*stride + k*dilation]

with zero padding. A pool is a depthwise op (groups = C) whose kernel is all ones (SumPool) or
all 1/(kh*kw) (AvgPool with ``count_include_pad``, the zoo's NIR semantics); ``uniform`` marks
such a kernel. The same :meth:`ConvOp.apply` runs in the Lava process model
(:mod:`exporters.lava.procs.batched_conv`) and in the emulator: integer inputs and kernels give
exact int64 sums (computed in float64, exact while every partial sum stays below 2^53).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import nir
import numpy as np

from exporters.nir.io import NIRError

EXACT_FLOAT = 2.0 ** 53


@dataclass(frozen=True)
class ConvOp:
    """One convolution (or pooling) without bias; ``weight`` (C_out, C_in/groups, *kernel)."""

    weight: np.ndarray
    in_shape: tuple[int, ...]  # (C_in, *spatial)
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    dilation: tuple[int, ...]
    groups: int = 1
    uniform: bool = False  # a pool: every weight equal (depthwise)

    @property
    def out_shape(self) -> tuple[int, ...]:
        k = self.weight.shape[2:]
        spatial = tuple((n + 2 * p - d * (kk - 1) - 1) // s + 1 for n, p, d, kk, s in
                        zip(self.in_shape[1:], self.padding, self.dilation, k, self.stride))
        return (int(self.weight.shape[0]),) + spatial

    @property
    def n_in(self) -> int:
        return int(np.prod(self.in_shape))

    @property
    def n_out(self) -> int:
        return int(np.prod(self.out_shape))

    def with_weight(self, weight: np.ndarray, uniform: bool | None = None) -> "ConvOp":
        return replace(self, weight=weight, uniform=self.uniform if uniform is None else uniform)

    def apply(self, x: np.ndarray) -> np.ndarray:
        """(..., n_in) -> (..., n_out). Integer x and weight: exact int64 result."""
        if x.ndim != 2:
            return self.apply(x.reshape(-1, x.shape[-1])).reshape(*x.shape[:-1], self.n_out)
        integer = np.issubdtype(x.dtype, np.integer) and np.issubdtype(self.weight.dtype, np.integer)
        if integer and np.abs(self.weight).sum() * float(np.abs(x).max(initial=0)) >= EXACT_FLOAT:
            raise NIRError("convolution sums beyond 2^53: not exact in this integer path")
        w = self.weight.astype(np.float64)
        batch, (c_in, *spatial) = x.shape[0], self.in_shape
        xs = x.astype(np.float64).reshape(batch, c_in, *spatial)
        if any(self.padding):
            xs = np.pad(xs, [(0, 0), (0, 0)] + [(p, p) for p in self.padding])
        c_out, out_sp = self.out_shape[0], self.out_shape[1:]
        g, cig, cog, pts = self.groups, c_in // self.groups, c_out // self.groups, int(np.prod(out_sp))
        w = w.reshape(g, cog, cig, *w.shape[2:])
        depthwise = cig == 1 and cog == 1
        out = np.zeros((batch, g, pts) if depthwise else (batch, g, cog, pts))
        for tap in np.ndindex(*w.shape[3:]):
            sl = tuple(slice(t * d, t * d + s * (o - 1) + 1, s) for t, d, s, o in
                       zip(tap, self.dilation, self.stride, out_sp))
            xt = xs[(slice(None), slice(None)) + sl]
            if depthwise:
                out += w[(slice(None), 0, 0) + tap][None, :, None] * xt.reshape(batch, g, pts)
            else:
                out += np.matmul(w[(slice(None), slice(None), slice(None)) + tap], xt.reshape(batch, g, cig, pts))
        out = out.reshape(batch, -1)
        return np.rint(out).astype(np.int64) if integer else out

    def dense(self) -> np.ndarray:
        """The (n_out, n_in) matrix (callers check its size first)."""
        return self.apply(np.eye(self.n_in)).T

    def nonzero_taps(self) -> np.ndarray:
        """Per output: the number of inputs it reads through a nonzero weight (padding excluded)."""
        ind = self.with_weight((self.weight != 0).astype(np.int64))
        return ind.apply(np.ones((1, self.n_in), dtype=np.int64))[0]


def _ints(v, n: int, name: str, key: str) -> tuple[int, ...]:
    if isinstance(v, str):
        raise NIRError(f"node {name!r}: {key} {v!r} (string) is not supported; use explicit integers")
    a = np.ravel(np.asarray(v if v is not None else 0))
    if a.size == 0:
        a = np.zeros(1)
    return tuple(int(x) for x in np.broadcast_to(a, (n,)))


def conv_op(name: str, node: nir.NIRNode, in_shape: tuple[int, ...]) -> tuple[ConvOp, np.ndarray]:
    """NIR Conv1d/Conv2d/SumPool2d/AvgPool2d -> (op, bias per output value)."""
    if isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):
        k = _ints(node.kernel_size, 2, name, "kernel_size")
        c = in_shape[0]
        value = 1.0 if isinstance(node, nir.SumPool2d) else 1.0 / (k[0] * k[1])
        op = ConvOp(np.full((c, 1) + k, value), tuple(in_shape), _ints(node.stride, 2, name, "stride"),
                    _ints(node.padding, 2, name, "padding"), (1, 1), c, uniform=True)
        bias = None
    else:
        dims = 2 if isinstance(node, nir.Conv2d) else 1
        w = np.asarray(node.weight, dtype=np.float64)
        if w.ndim != dims + 2:
            raise NIRError(f"node {name!r}: {type(node).__name__} weight has {w.ndim} dimensions, expected {dims + 2}")
        groups = int(np.ravel(node.groups)[0]) if np.size(node.groups) else 1
        if in_shape[0] % groups or w.shape[0] % groups or w.shape[1] * groups != in_shape[0]:
            raise NIRError(f"node {name!r}: weight {w.shape} with groups={groups} does not fit input {in_shape}")
        op = ConvOp(w, tuple(in_shape), _ints(node.stride, dims, name, "stride"),
                    _ints(node.padding, dims, name, "padding"), _ints(node.dilation, dims, name, "dilation"), groups)
        bias = getattr(node, "bias", None)
    if any(s <= 0 for s in op.out_shape):
        raise NIRError(f"node {name!r}: output shape {op.out_shape} from input {in_shape} is empty")
    n_sp = int(np.prod(op.out_shape[1:]))
    b = np.zeros(op.n_out) if bias is None else np.repeat(np.broadcast_to(np.asarray(bias, float).ravel(),
                                                                          (op.out_shape[0],)), n_sp)
    return op, b
