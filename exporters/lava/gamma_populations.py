"""Lava populations of SpikingGamma networks: fused gamma-bucket chains and sigma-delta units.

``li_chain`` — K NIR ``LI`` nodes in a chain (bucket k fed by bucket k-1 in the same step),
one population of K*n units, bucket-major. For GammaNet graphs the chain is the LI cascade
that realises the exact bucket step ``Phi = expm(A dt)`` (:func:`zoo.neurons.gamma.gamma_cascade`,
``exporters/nir/ext_gamma.py``); the Lava step below is the NIR LI semantics of that chain,
nothing gamma-specific. Float step, per bucket k (rows k*n..(k+1)*n):
    in   = acc (sigma input: acc += a_in, the sum of received graded spikes) or a_in
    b_1 <- b_1*(1-dv_1) + in + bias_1;   b_k <- b_k*(1-dv_k) + g_k*b_{k-1} + bias_k   (k > 1, new b_{k-1})
    v_out = b
with dv_k = dt/tau_k (= 1 - exp(-dt/tau_bucket) for the cascade), g_k = dt*r_k/tau_k, bucket
1's gain folded into the incoming Dense. ``sigma_delta`` — ReLU unit with graded spikes and a
minimum interval of n_ref = max(1, round(t_ref/dt)) steps between messages:
    x = a_in + bias;  e = ReLU(x) - r;  send = |e| >= theta and q <= 0
    s = e if send else 0;  r <- r + s;  q <- n_ref - 1 if send else max(q - 1, 0);  v_out = s
so the receiving chain sums the sparse deltas s back into r.

Fixed point: states in 24-bit integers at 64*S units per float unit (S: the population's
scale, capped by a calibration run so nothing saturates); the chain coefficients dv and g are
16-bit fractions (``round(x 2^16)``), products in int64 truncated toward zero (``shr0``);
graded messages are 16-bit: a chain sends b >> k (toward zero), a sigma-delta unit sends
(r_new >> k) - (r_old >> k), so the receiver's sum is exactly r >> k (no drift); k =
params["msg_shift"] from the quantiser. The refractory count q is an integer < n_ref.
"""
from __future__ import annotations

import nir
import numpy as np

from exporters.lava.specs import NeuronSpec
from exporters.lava.populations import PopulationKind, register_kind, register_spec
from exporters.nir.ext_gamma import SIGMA_DELTA, refractory_steps_of, sigma_delta_params
from exporters.nir.io import NIRError
from zoo.neurons.sigma_delta import SigmaDeltaParameters, sigma_delta_step
from zoo.numerics import ACT_SHIFT, FLOAT, LOIHI, shl, shr0

LI_CHAIN = "li_chain"
FRAC_BITS = 16  # fractional bits of the fixed-point chain coefficients


def chain_spec(head: str, members: list[nir.LI], dt: float, latency: int, sigma_in: bool
               ) -> tuple[NeuronSpec, np.ndarray]:
    """Population spec of a fused LI chain and its (K*n, n) input gain matrix (bucket 1 rows)."""
    n = np.asarray(members[0].tau).size
    dv = np.concatenate([dt / np.asarray(m.tau, float).ravel() for m in members])
    g = np.concatenate([dt * np.asarray(m.r, float).ravel() / np.asarray(m.tau, float).ravel() for m in members])
    leak = np.concatenate([np.asarray(m.v_leak, float).ravel() for m in members])
    if np.any(dv > 1) or np.any(dv < 0):
        raise NIRError(f"node {head!r}: bucket chain has dt/tau outside [0, 1]")
    total = n * len(members)
    gain = np.zeros((total, n))
    gain[:n] = np.diag(g[:n])
    spec = NeuronSpec(head, total, np.ones(total), dv, np.full(total, np.inf), np.zeros(total), dv * leak,
                      np.zeros(total), "none", False, latency, LI_CHAIN,
                      params={"dv": dv, "g": g, "n": n, "K": len(members), "sigma_in": bool(sigma_in)})
    return spec, gain


def _chain_step(state: dict, a_in: np.ndarray, p: dict, fixed: bool) -> np.ndarray:
    n, K = p["n"], p["K"]
    if p["sigma_in"]:
        state["acc"] += a_in
        inp = state["acc"]
    else:
        inp = a_in
    b, num = state["b"], LOIHI if fixed else FLOAT
    for k in range(K):
        rows, prev = slice(k * n, (k + 1) * n), slice((k - 1) * n, k * n)
        keep = (1 << FRAC_BITS) - p["dv"][rows] if fixed else 1.0 - p["dv"][rows]
        drive = num.shl(inp[:, rows], ACT_SHIFT) if k == 0 else num.mul(p["g"][rows], b[:, prev], FRAC_BITS)
        b[:, rows] = num.sat(num.mul(b[:, rows], keep, FRAC_BITS) + drive + p["bias"][rows])
    state["v"][:] = shr0(b, p["msg_shift"]) if fixed else b
    return np.zeros(b.shape, dtype=bool)


def _sigma_delta_step(state: dict, a_in: np.ndarray, p: dict, fixed: bool) -> np.ndarray:
    x = (shl(a_in, ACT_SHIFT) + p["bias"]) if fixed else a_in + p["bias"]
    r = state["r"]
    s, r_new, q = sigma_delta_step(np.maximum(x, 0), r, SigmaDeltaParameters(p["theta"], p["n_ref"]), state["q"],
                                   xp=np)
    if fixed:  # send the change of the quantised reconstruction: receivers sum to r >> k, no drift
        k = p["msg_shift"]
        state["v"][:] = shr0(r_new, k) - shr0(r, k)
    else:
        state["v"][:] = s
    state["q"][:] = q
    state["r"][:] = r_new
    return s != 0


def _chain_quantize(spec: NeuronSpec, scale: float) -> tuple[dict, list[str]]:
    p = dict(spec.params)
    one = 1 << FRAC_BITS
    p.update(dv=np.round(p["dv"] * one).astype(np.int64), g=np.round(p["g"] * one).astype(np.int64),
             bias=np.round(p["bias"] * scale * 64).astype(np.int64))
    rel = max(float(np.abs(p[k][nz] / one / spec.params[k][nz] - 1).max(initial=0.0))
              for k in ("dv", "g") for nz in [spec.params[k] != 0])
    return p, [f"bucket-chain coefficients as {FRAC_BITS}-bit fractions (max relative error {rel:.1e})"]


def _sigma_delta_quantize(spec: NeuronSpec, scale: float) -> tuple[dict, list[str]]:
    theta = int(round(spec.params["theta"] * scale * 64))
    if theta < 1:
        raise NIRError(f"node {spec.name!r}: theta {spec.params['theta']} rounds to 0 at scale {scale:.3g}")
    return {"theta": theta, "n_ref": int(spec.params["n_ref"]),
            "bias": np.round(spec.params["bias"] * scale * 64).astype(np.int64)}, []


@register_spec(SIGMA_DELTA)
def _sigma_delta_spec(name: str, node: nir.NIRGraph, dt: float, latency: int) -> tuple[NeuronSpec, np.ndarray]:
    n = int(np.ravel(next(iter(node.input_type.values())))[0])
    p = sigma_delta_params(node, name)
    one, zero = np.ones(n), np.zeros(n)
    spec = NeuronSpec(name, n, one, one.copy(), np.full(n, np.inf), zero, zero.copy(), zero.copy(), "none", False,
                      latency, SIGMA_DELTA, params={"theta": p["theta"], "n_ref": refractory_steps_of(p, dt)})
    return spec, one


register_kind(PopulationKind(LI_CHAIN, ("b", "v", "acc"), _chain_step, _chain_quantize,
                             "exporters.lava.procs.neuron:NeuronPopulation", graded=True, generic=True))
register_kind(PopulationKind(SIGMA_DELTA, ("v", "r", "q"), _sigma_delta_step, _sigma_delta_quantize,
                             "exporters.lava.procs.neuron:NeuronPopulation", graded=True, generic=True, deltas=True))
