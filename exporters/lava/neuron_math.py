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

UV_BITS = 24
MAX_UV = 2 ** (UV_BITS - 1)
DECAY_SHIFT = 12
DECAY_UNITY = 2 ** DECAY_SHIFT
ACT_SHIFT = 6
VTH_SHIFT = 6
RESET_CODES = {"zero": 0, "subtract": 1, "none": 2}


def _decay_fixed(x: np.ndarray, factor: np.ndarray) -> np.ndarray:
    prod = x.astype(np.int64) * factor.astype(np.int64)
    return (np.sign(prod) * np.right_shift(np.abs(prod), DECAY_SHIFT)).astype(np.int64)


def step_fixed(u: np.ndarray, v: np.ndarray, a: np.ndarray, a_in: np.ndarray, du: np.ndarray, dv: np.ndarray,
               vth: np.ndarray, bias_u: np.ndarray, bias_v: np.ndarray, v_reset: np.ndarray, da: np.ndarray,
               ja: np.ndarray, reset: int, spiking: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One fixed-point step; arrays broadcast over a leading batch axis. Returns (u, v, a, s)."""
    cur = _decay_fixed(u, DECAY_UNITY - (du + 1)) + np.left_shift(a_in.astype(np.int64), ACT_SHIFT) + bias_u
    cur = np.where(cur > MAX_UV, cur - 2 * MAX_UV, cur)
    cur = np.where(cur <= -MAX_UV, cur + 2 * MAX_UV, cur)
    volt = _decay_fixed(v, DECAY_UNITY - dv) + cur + bias_v
    volt = np.clip(volt, -MAX_UV + 1, MAX_UV - 1)
    if spiking:
        eff_vth = np.left_shift(vth.astype(np.int64), VTH_SHIFT) + a
        s = volt > eff_vth
        if reset == RESET_CODES["zero"]:
            volt = np.where(s, v_reset, volt)
        elif reset == RESET_CODES["subtract"]:
            volt = np.where(s, volt - eff_vth, volt)
        a = np.clip(_decay_fixed(a, DECAY_UNITY - da) + ja * s, -MAX_UV + 1, MAX_UV - 1)
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
