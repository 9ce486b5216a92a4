"""Integer arithmetic of the fixed-point plastic layers (Loihi-style: integer state, shifts,
saturation, integer random bits for stochastic rounding, lookup tables instead of exp).

All functions take and return ``np.int64`` arrays; a value ``q`` with ``f`` fractional bits
stands for ``q * 2**-f``.
"""
from __future__ import annotations

import numpy as np

from zoo.numerics import DECAY_BITS, decay, saturate, shift_round, to_fixed  # noqa: F401  (the Loihi arithmetic)


def stochastic_shift(x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``x * 2**-n`` rounded stochastically: floor((x + r) / 2**n) with r uniform in [0, 2**n).

    Unbiased (E = x * 2**-n); consumes one integer draw per element from ``rng``, so two runs
    with equally seeded generators round identically (Lava and emulator stay bit-exact)."""
    x = np.asarray(x, dtype=np.int64)
    if n <= 0:
        return np.left_shift(x, -n)
    r = rng.integers(0, 1 << n, size=x.shape, dtype=np.int64)
    return np.right_shift(x + r, n)


def exp_lut(in_frac: int, out_frac: int, span: float = 16.0) -> np.ndarray:
    """Table of ``round(2**out_frac * exp(-k * 2**-in_frac))`` for k = 0 .. span * 2**in_frac;
    index with ``min(k, len - 1)`` (the last entry stands for every larger argument)."""
    k = np.arange(int(span * 2 ** in_frac) + 1, dtype=np.float64)
    return np.rint(2.0 ** out_frac * np.exp(-k * 2.0 ** -in_frac)).astype(np.int64)


def lut(table: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``table[min(index, len - 1)]`` for non-negative integer ``index``."""
    return table[np.minimum(np.asarray(index, dtype=np.int64), len(table) - 1)]


def mantissa_shift(value: float, mant_bits: int = 8) -> tuple[int, int]:
    """Write a positive real as ``m * 2**-e`` with an ``mant_bits``-bit mantissa m (learning
    rates in the fixed-point rules); returns (m, e)."""
    if value <= 0:
        raise ValueError(f"learning rate must be > 0, got {value}")
    e = mant_bits - 1 - int(np.floor(np.log2(value)))
    m = int(round(value * 2.0 ** e))
    if m >= 2 ** mant_bits:
        m, e = m >> 1, e - 1
    return m, e
