"""The zoo neuron's state update, float and Loihi fixed point, as pure numpy functions.

Shared by the Lava ProcessModels (:mod:`exporters.lava.procs.zoo_neuron`) and the batched emulator
(:mod:`exporters.lava.emulator`), so both run the same arithmetic; tests check it against
Lava's own ``PyLifModelBitAcc`` and check the whole pipeline against real Lava runs.

Float (one step, per neuron; du, dv, da in [0, 1]):
    u <- u*(1-du) + a_in + bias_u
    v <- v*(1-dv) + u + bias_v
    th = vth + a                    (a: adaptive threshold increment, 0 unless ja != 0)
    s  = v > th                     (spiking neurons only)
    v <- v_reset where s (reset "zero") | v <- v - th where s (reset "subtract")
    a <- a*(1-da) + ja*s

Fixed point (``PyLifModelBitAcc`` conventions; decays are 12-bit registers, state 24-bit):
    u <- trunc0(u*(4096-(du+1)) / 2^12) + (a_in << 6) + bias_u ;  u wraps to 24 bits as in Lava
    v <- trunc0(v*(4096-dv) / 2^12) + u + bias_v ;  v clipped to +-(2^23-1)
    s  = v > (vth << 6);  reset: v <- v_reset | v <- v - (vth << 6)
trunc0 rounds toward zero. ``dv`` may be 4096 (full decay; Lava's LIF stops at 4095).
Both are the one :func:`step`, run under :data:`zoo.numerics.FLOAT` or :data:`zoo.numerics.LOIHI`.
"""
from __future__ import annotations

import numpy as np

from zoo.numerics import ACT_SHIFT, DECAY_UNITY, FLOAT, LOIHI, VTH_SHIFT

RESET_CODES = {"zero": 0, "subtract": 1, "none": 2}


def step(num, u: np.ndarray, v: np.ndarray, a: np.ndarray, a_in: np.ndarray, cu: np.ndarray, cv: np.ndarray,
         ca: np.ndarray, vth: np.ndarray, bias_u: np.ndarray, bias_v: np.ndarray, v_reset: np.ndarray,
         ja: np.ndarray, reset: int, spiking: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One step under numerics ``num`` (zoo.numerics FLOAT or LOIHI) with decay factors cu, cv, ca."""
    u = num.wrap(num.decay(u, cu) + num.shl(a_in, ACT_SHIFT) + bias_u)
    v = num.sat(num.decay(v, cv) + u + bias_v)
    if spiking:
        th = num.shl(vth, VTH_SHIFT) + a
        s = v > th
        if reset == RESET_CODES["zero"]:
            v = np.where(s, v_reset, v)
        elif reset == RESET_CODES["subtract"]:
            v = np.where(s, v - th, v)
        a = num.sat(num.decay(a, ca) + ja * s)
    else:
        s = np.zeros(v.shape, dtype=bool)
    return u, v, a, s


def step_fixed(u: np.ndarray, v: np.ndarray, a: np.ndarray, a_in: np.ndarray, du: np.ndarray, dv: np.ndarray,
               vth: np.ndarray, bias_u: np.ndarray, bias_v: np.ndarray, v_reset: np.ndarray, da: np.ndarray,
               ja: np.ndarray, reset: int, spiking: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One fixed-point step (integer registers du, dv, da); arrays broadcast over a leading batch axis."""
    u, v, a, s = step(LOIHI, u, v, a, a_in, DECAY_UNITY - (du + 1), DECAY_UNITY - dv, DECAY_UNITY - da, vth,
                      bias_u, bias_v, v_reset, ja, reset, spiking)
    return u.astype(np.int32), v.astype(np.int32), np.asarray(a, dtype=np.int32), s


def step_float(u: np.ndarray, v: np.ndarray, a: np.ndarray, a_in: np.ndarray, du: np.ndarray, dv: np.ndarray,
               vth: np.ndarray, bias_u: np.ndarray, bias_v: np.ndarray, v_reset: np.ndarray, da: np.ndarray,
               ja: np.ndarray, reset: int, spiking: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One floating-point step (float64; du, dv, da in [0, 1])."""
    return step(FLOAT, u, v, a, a_in, 1.0 - du, 1.0 - dv, 1.0 - da, vth, bias_u, bias_v, v_reset, ja, reset, spiking)
