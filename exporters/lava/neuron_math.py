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
"""
from __future__ import annotations

import numpy as np

from zoo.numerics import ACT_SHIFT, DECAY_UNITY, VTH_SHIFT, decay, saturate, shl, wrap

RESET_CODES = {"zero": 0, "subtract": 1, "none": 2}


def step_fixed(u: np.ndarray, v: np.ndarray, a: np.ndarray, a_in: np.ndarray, du: np.ndarray, dv: np.ndarray,
               vth: np.ndarray, bias_u: np.ndarray, bias_v: np.ndarray, v_reset: np.ndarray, da: np.ndarray,
               ja: np.ndarray, reset: int, spiking: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One fixed-point step; arrays broadcast over a leading batch axis. Returns (u, v, a, s)."""
    cur = wrap(decay(u, DECAY_UNITY - (du + 1)) + shl(a_in, ACT_SHIFT) + bias_u)
    volt = saturate(decay(v, DECAY_UNITY - dv) + cur + bias_v)
    if spiking:
        eff_vth = shl(vth, VTH_SHIFT) + a
        s = volt > eff_vth
        if reset == RESET_CODES["zero"]:
            volt = np.where(s, v_reset, volt)
        elif reset == RESET_CODES["subtract"]:
            volt = np.where(s, volt - eff_vth, volt)
        a = saturate(decay(a, DECAY_UNITY - da) + ja * s)
    else:
        s = np.zeros(volt.shape, dtype=bool)
    return cur.astype(np.int32), volt.astype(np.int32), np.asarray(a, dtype=np.int32), s


def step_float(u: np.ndarray, v: np.ndarray, a: np.ndarray, a_in: np.ndarray, du: np.ndarray, dv: np.ndarray,
               vth: np.ndarray, bias_u: np.ndarray, bias_v: np.ndarray, v_reset: np.ndarray, da: np.ndarray,
               ja: np.ndarray, reset: int, spiking: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One floating-point step (float64). Returns (u, v, a, s)."""
    u = u * (1.0 - du) + a_in + bias_u
    v = v * (1.0 - dv) + u + bias_v
    if spiking:
        th = vth + a
        s = v > th
        if reset == RESET_CODES["zero"]:
            v = np.where(s, v_reset, v)
        elif reset == RESET_CODES["subtract"]:
            v = np.where(s, v - th, v)
        a = a * (1.0 - da) + ja * s
    else:
        s = np.zeros(v.shape, dtype=bool)
    return u, v, a, s
