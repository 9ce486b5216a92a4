"""Resonate-and-fire neuron with the semantics of Lava's ``lava.proc.rf`` (Izhikevich 2001;
Frady et al. 2022), as a zoo neuron: this one module is all a back-end needs (docs/architecture.md).

Per neuron, state (u, v) = (real, imaginary part of the membrane), zero at t = 0, step dt::

    d      = exp(-dt / tau)                      decay per step          (Lava: 1 - alpha)
    phi    = omega * dt                          rotation per step       (Lava: 2 pi / period)
    u[t]   = d cos(phi) u[t-1] - d sin(phi) v[t-1] + I[t]
    v[t]   = d sin(phi) u[t-1] + d cos(phi) v[t-1]
    z[t]   = u[t] >= theta  and  v[t] >= 0  and  v[t-1] < 0      (one spike per upward phase crossing)

no reset (as Lava). Loihi fixed point (``lava.proc.rf`` ``PyRFModelFixed``): 12-bit coefficients
C = floor0(d cos(phi) 2^12), S = floor0(d sin(phi) 2^12); each product shifted toward zero
separately; state saturated to 24 bits; input (a_in << 6) + BIAS; theta in state units.

NIR: zoo extension ``rf`` v1, a subgraph of primitives (two integrators ``u``, ``v`` with
rotation Scales +-omega, damping Scales -1/tau, a Threshold theta); tools that ignore the tag
see the continuous-time damped oscillator and a plain threshold on u.
Parameters: omega [rad/s] and tau [s] (n,), theta (n,) in input units.
"""
from __future__ import annotations

from typing import Any

import nir
import numpy as np

from zoo.neurons.descriptor import FixedFormat, NeuronDescriptor, NeuronError, Param
from zoo.neurons.registry import register
from zoo.numerics import DECAY_BITS, floor0

NAME = "rf"


def step(xp: Any, num: Any, p: dict, state: dict, i: Any) -> Any:
    """One step for every neuron (module docstring); ``state``: v = real part u, im = imaginary v."""
    u, v = state["v"], state["im"]
    c, s, f = p["cos"], p["sin"], DECAY_BITS
    u_new = num.sat(num.mul(c, u, f) - num.mul(s, v, f) + i)
    v_new = num.sat(num.mul(s, u, f) + num.mul(c, v, f))
    z = (1 - num.spike(p["theta"] - u_new)) * (1 - num.spike(-v_new)) * num.spike(-v)  # >=, >=, <
    state["v"], state["im"] = u_new, v_new
    return z


def coefficients(xp: Any, nirp: dict, dt: float) -> dict:
    """cos = exp(-dt/tau) cos(omega dt), sin = exp(-dt/tau) sin(omega dt), theta."""
    d = xp.exp(-dt / nirp["tau"])
    return {"cos": d * xp.cos(nirp["omega"] * dt), "sin": d * xp.sin(nirp["omega"] * dt), "theta": nirp["theta"]}


def quantize(p: dict, U: float, name: str = "") -> tuple[dict, list[str]]:
    """12-bit coefficients floored toward zero (as ``lava.proc.rf``); theta in state units U."""
    q = {"cos": floor0(p["cos"] * 2 ** DECAY_BITS), "sin": floor0(p["sin"] * 2 ** DECAY_BITS),
         "theta": np.round(np.asarray(p["theta"], float) * U).astype(np.int64)}
    return q, [f"rf: {DECAY_BITS}-bit rotation coefficients (floored), theta = {int(q['theta'].max())} state units"]


def nir_node(omega: np.ndarray, tau: np.ndarray, theta: float | np.ndarray = 1.0, dt: float | None = None
             ) -> nir.NIRGraph:
    """The ``rf`` v1 subgraph for omega [rad/s], tau [s] of shape (n,)."""
    omega, tau = np.asarray(omega, np.float64), np.asarray(tau, np.float64)
    if np.any(tau <= 0):
        raise NeuronError("rf: tau must be > 0")
    n, ones = omega.shape, np.ones(omega.shape)
    nodes = {"input": nir.Input(input_type={"input": np.array(n)}), "u": nir.I(r=ones.copy()),
             "v": nir.I(r=ones.copy()), "rot_vu": nir.Scale(scale=omega.copy()), "rot_uv": nir.Scale(scale=-omega),
             "damp_u": nir.Scale(scale=-1.0 / tau), "damp_v": nir.Scale(scale=-1.0 / tau),
             "spike": nir.Threshold(threshold=np.broadcast_to(np.asarray(theta, np.float64), n).copy()),
             "output": nir.Output(output_type={"output": np.array(n)})}
    edges = [("input", "u"), ("u", "spike"), ("spike", "output"), ("u", "rot_vu"), ("rot_vu", "v"),
             ("v", "rot_uv"), ("rot_uv", "u"), ("u", "damp_u"), ("damp_u", "u"), ("v", "damp_v"), ("damp_v", "v")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"zoo.neuron": NAME, "zoo.version": 1})


def nir_params(node: nir.NIRGraph, name: str = "") -> dict:
    """omega, tau, theta (n,) of an ``rf`` subgraph."""
    try:
        rot, damp, spike = (node.nodes[k] for k in ("rot_vu", "damp_u", "spike"))
    except KeyError as exc:
        raise NeuronError(f"node {name!r}: rf extension lacks sub-node {exc}") from None
    omega = np.asarray(rot.scale, np.float64).ravel()
    tau = -1.0 / np.broadcast_to(np.asarray(damp.scale, np.float64), omega.shape)
    if np.any(tau <= 0):
        raise NeuronError(f"node {name!r}: rf damping scale must be < 0 (tau > 0)")
    return {"omega": omega, "tau": tau, "theta": np.broadcast_to(np.asarray(spike.threshold, np.float64),
                                                                   omega.shape).copy()}


DESCRIPTOR = register(NeuronDescriptor(
    NAME, 1, params={"omega": Param("rad/s", init=(60.0, 300.0), learn=True),
                     "tau": Param("s", init=(0.02, 0.1), learn=True), "theta": Param("1", init=1.0)}, state=("v", "im"),
    step=step, coefficients=coefficients, quantize=quantize, nir_node=nir_node, nir_params=nir_params,
    fixed=FixedFormat(coef_bits=DECAY_BITS), doc="resonate-and-fire, lava.proc.rf semantics"))
