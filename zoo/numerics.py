"""The one Loihi fixed-point arithmetic module, and the two numerics a neuron step runs under.

Integer helpers (numpy, ``np.int64``; a value ``q`` with ``f`` fractional bits stands for
``q * 2**-f``), the conventions of Lava's bit-accurate models (``PyLifModelBitAcc``):

  shr0(x, n)        x / 2^n truncated toward zero (Loihi decays and coefficient products)
  decay(x, d)       shr0(x * d, 12): multiply by a 12-bit decay register d/4096
  shl(x, n)         x << n (activations enter the state as a_in << 6)
  floor0(x)         a real truncated toward zero, as an integer register
  saturate(x, b)    clip to a b-bit signed register +-(2^(b-1) - 1) (or unsigned [0, 2^b - 1])
  wrap(x, b)        two's-complement wrap to b bits (Lava's LIF current u)
  shift_round(x, n) x / 2^n rounded to nearest (ties up)

A neuron's ``step(xp, num, p, state, a_in)`` is written once against a numerics object:
``FLOAT`` (plain arithmetic on any array namespace: numpy float64 or torch) or ``LOIHI``
(integer multiply, shift toward zero, saturate to 24-bit state). Both have the same methods:

  num.fixed             False | True
  num.mul(c, x, f)      c*x                    | shr0(c*x, f)      (c: coefficient, f fraction bits)
  num.decay(x, d)       x*d                    | decay(x, d)       (d: 12-bit register)
  num.shl(x, n)         x                      | x << n            (float state is in input units)
  num.sat(x)            x                      | saturate(x, 24)
  num.wrap(x)           x                      | wrap(x, 24)
  num.spike(x)          x > 0 (as x's dtype)   | x > 0 (bool)

Exact inverses of float maps (reading parameters back from a NIR graph):

  nearest_preimage(match, guess, dtype)   the float of dtype nearest guess with match(x) true

numpy only: no torch, no Lava (exporters import it).
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

STATE_BITS = 24  # Loihi neuron state registers (u, v) are 24-bit signed
STATE_MAX = 2 ** (STATE_BITS - 1) - 1
DECAY_BITS = 12  # decays/leaks are 12-bit registers: factor = d / 2^12
DECAY_UNITY = 2 ** DECAY_BITS
ACT_SHIFT = 6  # a_in << 6: one activation unit = 64 state units
VTH_SHIFT = 6  # vth << 6
COEF_FRAC = 23  # fractional bits of the zoo's own neuron coefficients (fit 24-bit registers)


def i64(x: Any) -> np.ndarray:
    return np.asarray(x).astype(np.int64)


def shr0(x: Any, n: int) -> np.ndarray:
    """``x / 2**n`` truncated toward zero (int64)."""
    x = np.asarray(x, dtype=np.int64)
    return np.sign(x) * np.right_shift(np.abs(x), n)


def decay(x: Any, factor: Any) -> np.ndarray:
    """``x * factor / 2**12`` truncated toward zero (Lava's LIF decay; 12-bit ``factor``)."""
    return shr0(np.asarray(x, dtype=np.int64) * np.asarray(factor, dtype=np.int64), DECAY_BITS)


def shl(x: Any, n: int) -> np.ndarray:
    """``x << n`` in int64 (activations into state units)."""
    return np.left_shift(i64(x), n)


def floor0(x: Any) -> np.ndarray:
    """A real truncated toward zero, as int64 (coefficients that must never round up)."""
    return np.trunc(np.asarray(x, dtype=np.float64)).astype(np.int64)


def saturate(x: Any, bits: int = STATE_BITS, signed: bool = True) -> np.ndarray:
    """Clip to a ``bits``-wide signed register +-(2^(bits-1) - 1), or unsigned [0, 2^bits - 1]."""
    if signed:
        return np.clip(x, -(2 ** (bits - 1)) + 1, 2 ** (bits - 1) - 1)
    return np.clip(x, 0, 2 ** bits - 1)


def wrap(x: Any, bits: int = STATE_BITS) -> np.ndarray:
    """Wrap to ``bits`` bits as Lava's LIF current does: x > 2^(b-1) -> x - 2^b; x <= -2^(b-1) -> x + 2^b."""
    half = 2 ** (bits - 1)
    x = np.where(x > half, x - 2 * half, x)
    return np.where(x <= -half, x + 2 * half, x)


def shift_round(x: Any, n: int) -> np.ndarray:
    """``x * 2**-n`` rounded to nearest (ties up); ``n <= 0`` shifts left exactly."""
    x = np.asarray(x, dtype=np.int64)
    if n <= 0:
        return np.left_shift(x, -n)
    return np.right_shift(x + (1 << (n - 1)), n)


def to_fixed(x: Any, frac_bits: int) -> np.ndarray:
    """Round a real value to ``frac_bits`` fractional bits (int64)."""
    return np.rint(np.asarray(x, dtype=np.float64) * 2.0 ** frac_bits).astype(np.int64)


class Float:
    """Plain arithmetic on any array namespace (numpy float64, torch): the reference semantics."""

    fixed = False

    @staticmethod
    def mul(c: Any, x: Any, frac: int = 0) -> Any:
        return c * x

    @staticmethod
    def decay(x: Any, factor: Any) -> Any:
        return x * factor

    @staticmethod
    def shl(x: Any, n: int) -> Any:
        return x

    @staticmethod
    def sat(x: Any) -> Any:
        return x

    @staticmethod
    def wrap(x: Any) -> Any:
        return x

    @staticmethod
    def spike(x: Any) -> Any:
        z = x > 0
        return z.to(x.dtype) if hasattr(z, "to") else z


class Loihi:
    """Loihi fixed point: int64 products shifted toward zero, state saturated to ``bits``."""

    fixed = True

    def __init__(self, bits: int = STATE_BITS) -> None:
        self.bits = bits

    @staticmethod
    def mul(c: Any, x: Any, frac: int = 0) -> np.ndarray:
        return shr0(i64(c) * i64(x), frac)

    decay = staticmethod(decay)
    shl = staticmethod(shl)

    def sat(self, x: Any) -> np.ndarray:
        return saturate(x, self.bits)

    def wrap(self, x: Any) -> np.ndarray:
        return wrap(x, self.bits)

    @staticmethod
    def spike(x: Any) -> np.ndarray:
        return np.asarray(x) > 0


FLOAT = Float()
LOIHI = Loihi()


def nearest_preimage(match: Callable[[np.ndarray], np.ndarray], guess: Any, dtype: Any = np.float64,
                     max_ulps: int = 8, prefer: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Elementwise the float ``x`` of ``dtype`` nearest ``guess`` with ``match(x)`` true (``x``
    passed as float64), searching ``guess`` (rounded to dtype) and its neighbours up to
    ``max_ulps`` floats of ``dtype`` away, nearest first; where ``prefer`` (e.g. the value a
    template model already holds) matches, it wins. Returns (x as float64, found mask); elements
    without a match keep the rounded guess. ``match`` must be elementwise."""
    dtype = np.dtype(dtype)
    x = np.atleast_1d(np.asarray(guess, np.float64)).astype(dtype)
    found = np.asarray(match(x.astype(np.float64)), bool).copy()
    if prefer is not None:
        p = np.broadcast_to(np.asarray(prefer, np.float64), x.shape).astype(dtype)
        keep = np.asarray(match(p.astype(np.float64)), bool)
        x, found = np.where(keep, p, x), found | keep
    up, down = x.copy(), x.copy()
    for _ in range(max_ulps):  # k floats away, the upper one first
        if found.all():
            break
        up, down = np.nextafter(up, dtype.type(np.inf)), np.nextafter(down, dtype.type(-np.inf))
        for cand in (up, down):
            hit = ~found & np.asarray(match(cand.astype(np.float64)), bool)
            x[hit], found = cand[hit], found | hit
    return x.astype(np.float64), found
