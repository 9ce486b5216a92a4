"""Lava populations of the HYPR neurons ``brf`` and ``se_adlif`` (their own process models:
:mod:`exporters.lava.procs.brf`, :mod:`exporters.lava.procs.se_adlif`).

The ``step`` functions here are the ONLY implementation of the dynamics: the Lava
ProcessModels (float and fixed) and the batched emulator both call them, so the fixed-point
Lava run and the emulator are bit-identical by construction (and tested against real Lava).
Input gain 1: ``a_in`` is the summed Dense input (float) or that input times S (fixed, S = the
population's quantisation scale); the summed Affine bias c reaching the population
(``params["bias"]``, set by the compiler) is added: I[t] = a_in + c (float), (a_in << 6) +
BIAS with BIAS = round(c*U) (fixed). The HYPR models have no hidden bias (c = 0).

Float (float64), op for op the torch semantics of :mod:`exporters.nir.ext_hypr`::

  brf:      b = p - b_offset - q;  u' = u + dt*(b*u - omega*v + a_in);  v' = v + dt*(omega*u + b*v)
            z = (u' - theta) - q > 0;  q' = 0.9*q + z                    (state v=u, im=v, q)
  se_adlif: u' = alpha*u + (1-alpha)*(a_in - w);  z = u' - theta > 0;  u' = 0 where z
            w' = beta*w + (1-beta)*q*(a*u' + b*z)                        (state v=u, w)

Fixed point (our own Loihi-style process models). State in 24-bit signed integers at
U = 64*S state units per float unit (the ZooNeuron convention: a_in << 6); every state is
saturated to +-(2^23 - 1) after each step. Coefficients are integers with F = 23 fractional
bits (``COEF_BITS``); a product coefficient*state is formed in 64 bits and divided by 2^F with
truncation toward zero (``_shr0``, like Lava's LIF decays); sums of products are truncated once.

  brf:  (state u, v, q at Ub = U/2 units: BRF_SHIFT = 1; the input arrives at U units)
        A  = floor0((1 + dt*(p - b_offset)) * 2^F)     damping/rotation real part
        W  = floor0(dt*omega * 2^F)                    rotation
        D  = round(dt * 2^(F-1))                       input step (and U -> Ub)
        Kq = round(dt * 2^(F+G) / Ub), G = 24          refractory damping per state unit of q
        Cq = floor0(0.9 * 2^F);  TH = round(theta*Ub);  ONE = round(1.0*Ub)
     per step:  B  = A - shr0(q*Kq, G)                  (= (1 + dt*b) * 2^F)
        u' = shr0(B*u - W*v + D*(a_in << 6), F);  v' = shr0(W*u + B*v, F)
        z  = u' > TH + q;  q' = shr0(Cq*q, F) + ONE*z
     Why 23 bits and floor toward zero: BRF sits at its divergence boundary,
     |1 + dt*(p(omega) + i*omega)| = 1 exactly when b_offset = 0. With Loihi's 12-bit decays
     rounded to nearest, A^2 + W^2 can exceed 2^24 (e.g. dt*omega = 0.04: A = 4093, W = 164,
     A^2 + W^2 = 16779545 > 4096^2 = 16777216, growth 1.00007 per step) and the free
     oscillator diverges; and a 12-bit A cannot even represent the damping dt*b_offset ~ 1e-3
     to better than 25 %. With both coefficients floored, A^2 + W^2 <= 2^(2F), so the integer
     rotation matrix has norm <= 1, and truncating each product toward zero can only shrink
     |(u, v)|: the free integer oscillator never grows (tested). With F = 23 the damping error
     is < 1.2e-7 per step; A, W < 2^23 fit 24-bit unsigned registers.
  se_adlif:  (u at U units, w at U/4 units: WS = W_SHIFT = 2)
        Ca = round(alpha*2^F), C1a = round((1-alpha)*2^F), Cb = round(beta*2^F),
        Cw = round((1-beta)*q*a*2^(F-WS))  (< 2^23),
        JB = round((1-beta)*q*b*U/2^WS)  (spike-triggered jump), TH = round(theta*U)
     per step:  u' = shr0(Ca*u + C1a*((a_in << 6) - (w << WS)), F);  z = u' > TH;  u' = 0 where z
        w' = shr0(Cb*w + Cw*u', F) + JB*z
Threshold and refractory terms are in state units (no separate 17-bit vth register).
State scale: ``quantize_plan`` picks S (at most 4*theta*S*64 <= 2^23 ... and weight exponent
<= 7). BRF: with the state at U, |u| of the retrained hypr-brf-ecg (sha b6b49ed4) reached
0.91*2^23 (~143 threshold units) on the ECG test set, so u, v, q are stored at U/2
(``BRF_SHIFT`` = 1). SE-adLIF: the adaptation w of hypr-seadlif-ecg reached 36 threshold
units, beyond 2^23 at U (10470 values saturated on the ECG test set with w at U), so w is
stored at U/4 (``W_SHIFT`` = 2; u keeps U). In fixed point the BRF ``v_out`` therefore sends u
at U/2 units (the recorded raw voltage; spikes and outputs are unaffected).
"""
from __future__ import annotations

from typing import Any

import nir
import numpy as np

from exporters.lava.plan import NeuronSpec
from exporters.lava.populations import PopulationKind, register_kind, register_spec
from exporters.nir.ext_hypr import BRF, BRF_Q_DECAY, SE_ADLIF, brf_p_omega, brf_params, se_adlif_params
from exporters.nir.io import NIRError

COEF_BITS = 23  # fractional bits of every fixed-point coefficient
Q_SHIFT = 24  # extra fractional bits of the BRF refractory-damping coefficient Kq
STATE_MAX = 2 ** 23 - 1  # 24-bit signed state
ACT_SHIFT = 6  # a_in << 6 (state units = 64 * S), as ZooNeuron
W_SHIFT = 2  # SE-adLIF: w is stored at U / 2^W_SHIFT state units (4x range, see module doc)
BRF_SHIFT = 1  # BRF: u, v, q are stored at U / 2^BRF_SHIFT state units (2x range, see module doc)


def _shr0(x: np.ndarray, bits: int) -> np.ndarray:
    """x / 2^bits truncated toward zero (int64)."""
    x = np.asarray(x, dtype=np.int64)
    return np.sign(x) * np.right_shift(np.abs(x), bits)


def _floor0(x: np.ndarray) -> np.ndarray:
    return np.trunc(np.asarray(x, dtype=np.float64)).astype(np.int64)


def _sat(x: np.ndarray) -> np.ndarray:
    return np.clip(x, -STATE_MAX, STATE_MAX)


def _i64(x: Any) -> np.ndarray:
    return np.asarray(x).astype(np.int64)


def _bias_f(a_in: np.ndarray, p: dict) -> np.ndarray:
    """a_in + the summed Affine bias (float); no addition at all when there is none."""
    bias = p.get("bias")
    return a_in if bias is None or not np.any(bias) else a_in + bias


def _bias_i(spec: NeuronSpec, U: float) -> np.ndarray:
    bias = spec.params.get("bias") if spec.params else None
    bias = spec.bias_v if bias is None else bias
    return np.round(np.broadcast_to(np.asarray(bias, float), (spec.n,)) * U).astype(np.int64)


# ----------------------------------------------------------------------------------------- BRF
def brf_step(state: dict, a_in: np.ndarray, p: dict, fixed: bool) -> np.ndarray:
    """One BRF step for every neuron (arrays with any leading batch shape); updates ``state``
    (keys v = real part u, im = imaginary part v, q = refractory) and returns bool spikes."""
    if not fixed:
        u, v, q = state["v"], state["im"], state["q"]
        dt, om = p["dt"], p["omega"]
        b = p["p"] - p["b_offset"] - q
        u_new = u + dt * (b * u - om * v + _bias_f(a_in, p))
        v_new = v + dt * (om * u + b * v)
        z = u_new - p["theta"] - q > 0
        state["v"], state["im"], state["q"] = u_new, v_new, BRF_Q_DECAY * q + z
        return z
    u, v, q = _i64(state["v"]), _i64(state["im"]), _i64(state["q"])
    F = COEF_BITS
    B = p["A"] - _shr0(q * p["Kq"], Q_SHIFT)
    i_in = np.left_shift(_i64(a_in), ACT_SHIFT) + p["BIAS"]
    u_new = _sat(_shr0(B * u - p["W"] * v + p["D"] * i_in, F))
    v_new = _sat(_shr0(p["W"] * u + B * v, F))
    z = u_new > p["TH"] + q
    state["v"], state["im"] = u_new, v_new
    state["q"] = _sat(_shr0(p["Cq"] * q, F) + p["ONE"] * z)
    return z


def brf_quantize(spec: NeuronSpec, scale: float) -> tuple[dict[str, np.ndarray], list[str]]:
    """Integer BRF parameters; input at U = 64*scale, state at U/2^BRF_SHIFT (module docstring)."""
    p = spec.params
    F, U = COEF_BITS, 64.0 * scale
    Ub = U / 2 ** BRF_SHIFT
    dt = float(p["dt"][0])
    a_f = 1.0 + dt * (p["p"] - p["b_offset"])
    if np.any(a_f < 0) or np.any(a_f > 1):
        raise NIRError(f"node {spec.name!r}: 1 + dt*(p - b_offset) outside [0, 1]")
    q = {"A": _floor0(a_f * 2 ** F), "W": _floor0(dt * p["omega"] * 2 ** F),
         "D": np.full(spec.n, int(round(dt * 2 ** (F - BRF_SHIFT))), np.int64),
         "Kq": np.full(spec.n, int(round(dt * 2 ** (F + Q_SHIFT) / Ub)), np.int64),
         "Cq": np.full(spec.n, int(np.trunc(BRF_Q_DECAY * 2 ** F)), np.int64),
         "TH": np.round(p["theta"] * Ub).astype(np.int64), "ONE": np.full(spec.n, int(round(Ub)), np.int64),
         "BIAS": _bias_i(spec, U)}
    norm2 = q["A"].astype(float) ** 2 + q["W"].astype(float) ** 2
    notes = [f"brf: {F}-bit coefficients floored toward zero (max |rotation|^2 = {norm2.max() / 4 ** F:.9f} <= 1); "
             f"state units U/{2 ** BRF_SHIFT} = {Ub:.6g} per float unit (input at U = {U:.6g}); "
             f"theta = {int(q['TH'].max())} state units"]
    return q, notes


@register_spec(BRF)
def _brf_spec(name: str, node: nir.NIRGraph, dt: float, latency: int) -> tuple[NeuronSpec, np.ndarray]:
    p = brf_params(node, name, dt)
    n = p["omega"].size
    params = {"omega": p["omega"], "b_offset": p["b_offset"], "theta": p["theta"], "dt": np.full(n, dt),
              "p": brf_p_omega(p["omega"], dt)}
    one = np.ones(n)
    spec = NeuronSpec(name, n, one, one.copy(), p["theta"].copy(), np.zeros(n), np.zeros(n), np.zeros(n), "none",
                      True, latency, BRF, params=params)
    return spec, one.copy()


register_kind(PopulationKind(BRF, ("v", "im", "q"), brf_step, brf_quantize, "exporters.lava.procs.brf:BRF"))


# ------------------------------------------------------------------------------------ SE-adLIF
def se_adlif_step(state: dict, a_in: np.ndarray, p: dict, fixed: bool) -> np.ndarray:
    """One SE-adLIF step (state v = post-reset u, w); returns bool spikes."""
    if not fixed:
        al, be = p["alpha"], p["beta"]
        u = al * state["v"] + (1.0 - al) * (_bias_f(a_in, p) - state["w"])
        z = u - p["theta"] > 0
        u = u * (1.0 - z)
        state["w"] = be * state["w"] + (1.0 - be) * p["q"] * (p["a"] * u + p["b"] * z)
        state["v"] = u
        return z
    u, w = _i64(state["v"]), _i64(state["w"])
    F = COEF_BITS
    i_in = np.left_shift(_i64(a_in), ACT_SHIFT) + p["BIAS"]
    u = _sat(_shr0(p["Ca"] * u + p["C1a"] * (i_in - np.left_shift(w, W_SHIFT)), F))
    z = u > p["TH"]
    u = np.where(z, 0, u)
    state["w"] = _sat(_shr0(p["Cb"] * w + p["Cw"] * u, F) + p["JB"] * z)
    state["v"] = u
    return z


def se_adlif_quantize(spec: NeuronSpec, scale: float) -> tuple[dict[str, np.ndarray], list[str]]:
    """Integer SE-adLIF parameters at state scale U = 64*scale (see module docstring)."""
    p = spec.params
    F, U = COEF_BITS, 64.0 * scale
    r = lambda x: np.round(np.asarray(x, float) * 2 ** F).astype(np.int64)  # noqa: E731
    q = {"Ca": r(p["alpha"]), "C1a": r(1.0 - p["alpha"]), "Cb": r(p["beta"]),
         "Cw": r((1.0 - p["beta"]) * p["q"] * p["a"] / 2 ** W_SHIFT),
         "JB": np.round((1.0 - p["beta"]) * p["q"] * p["b"] * U / 2 ** W_SHIFT).astype(np.int64),
         "TH": np.round(p["theta"] * U).astype(np.int64), "BIAS": _bias_i(spec, U)}
    notes = [f"se_adlif: {F}-bit coefficients (rounded), state units U = {U:.6g} per float unit (u), "
             f"U/{2 ** W_SHIFT} (w)"]
    return q, notes


@register_spec(SE_ADLIF)
def _se_adlif_spec(name: str, node: nir.NIRGraph, dt: float, latency: int) -> tuple[NeuronSpec, np.ndarray]:
    p = se_adlif_params(node, name)
    n = p["tau_u"].size
    alpha, beta = 1.0 - dt / p["tau_u"], 1.0 - dt / p["tau_w"]
    if np.any(alpha < 0) or np.any(beta < 0):
        raise NIRError(f"node {name!r}: dt/tau > 1 (time constant shorter than the step)")
    params = {"alpha": alpha, "beta": beta, "a": p["a"], "b": p["b"], "q": np.full(n, p["q"]), "theta": p["theta"]}
    one = np.ones(n)
    spec = NeuronSpec(name, n, one, one.copy(), p["theta"].copy(), np.zeros(n), np.zeros(n), np.zeros(n), "zero",
                      True, latency, SE_ADLIF, params=params)
    return spec, one.copy()


register_kind(PopulationKind(SE_ADLIF, ("v", "w"), se_adlif_step, se_adlif_quantize,
                             "exporters.lava.procs.se_adlif:SEAdLIF"))
