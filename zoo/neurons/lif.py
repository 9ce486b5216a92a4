"""LIF and adaptive-threshold LIF (``alif``) with the NIR forward-Euler semantics, written once for
the NIR executor, the nirtorch node map and the ``alif`` zoo extension (docs/architecture.md,
"LIF/ALIF: what is still written twice").

Per neuron, step dt (seconds), k = dt/tau; input I (the summed input of the node)::

    LI / LIF         v = v + k (v_leak - v + r I)
    I / IF           v = v + dt r I
    CubaLI / CubaLIF i = i + dt/tau_syn (w_in I - i);  v = v + dt/tau_mem (v_leak - v + r i)
    spiking kinds    z = v > th;  v = v - th z (reset "subtract") | v = v_reset where z ("zero")

with th = v_threshold. ``alif`` v1 (STAR-SNN, ALIF) adds an adaptation trace a (zero at t = 0)::

    th = v_threshold + beta a[t-1];  v, z as LIF;  a = a + dt/tau_adapt (r_adapt z - a)

NIR: zoo extension ``alif`` v1, a subgraph input -> lif (LIF) -> output, lif -> adaptation
(LI: tau_adapt, r_adapt) -> beta (Scale: -beta) -> lif; tools that ignore the tag read the
adaptation as an inhibitory current -beta a (a common ALIF approximation).

Lava: ``alif`` runs on the LIF/ALIF population (``exporters.lava.procs.zoo_neuron``), whose
step (``exporters.lava.neuron_math``) is a re-arrangement of this one (input gain folded into
the weights, a scaled by beta); :func:`lif_registers` gives its registers. Only the float form
here is used (no Loihi form: the fixed point is neuron_math's).
"""
from __future__ import annotations

from typing import Any

import nir
import numpy as np

from zoo.neurons.descriptor import NeuronDescriptor, NeuronError, Param
from zoo.neurons.registry import register

NAME = "alif"


def reset_of(node: Any) -> str:
    """A node's reset mode: ``metadata["zoo.reset"]`` ("subtract" | "zero"), "zero" when absent."""
    meta = node.metadata if isinstance(getattr(node, "metadata", None), dict) else {}
    mode = meta.get("zoo.reset", "zero")
    return mode.decode() if isinstance(mode, bytes) else str(mode)


def integrate(v: Any, drive: Any, p: dict, k: Any) -> Any:
    """Leaky integration v + k (v_leak - v + r drive), k = dt/tau."""
    return v + k * (p["v_leak"] - v + p["r"] * drive)


def fire(xp: Any, v: Any, th: Any, p: dict, reset: str) -> tuple[Any, Any]:
    """Spikes z = v > th and the membrane after reset ("subtract": v - th z; else v_reset where z)."""
    z = v > th
    if reset == "subtract":
        return z, v - z * th
    return z, xp.where(z, xp.broadcast_to(p["v_reset"], v.shape), v)


def primitive_step(xp: Any, kind: str, p: dict, st: dict, inp: Any, dt: float, reset: str) -> Any:
    """One step of a NIR neuron primitive (``kind`` = its class name; module docstring); ``st``
    holds v (and i for Cuba kinds). Returns v (LI, I, CubaLI) or the spikes z (bool)."""
    if kind in ("CubaLIF", "CubaLI"):
        st["i"] = st["i"] + dt / p["tau_syn"] * (p["w_in"] * inp - st["i"])
        drive, tau = st["i"], p["tau_mem"]
    else:
        drive, tau = inp, p.get("tau")
    if kind in ("I", "IF"):
        st["v"] = st["v"] + dt * p["r"] * drive
    else:
        st["v"] = integrate(st["v"], drive, p, dt / tau)
    if kind in ("LI", "I", "CubaLI"):
        return st["v"]
    z, st["v"] = fire(xp, st["v"], p["v_threshold"], p, reset)
    return z


def step(xp: Any, num: Any, p: dict, state: dict, i: Any) -> Any:
    """One ``alif`` step (float numerics only); the threshold uses the previous adaptation a."""
    th = p["v_threshold"] + p["beta"] * state["a"]
    z, state["v"] = fire(xp, integrate(state["v"], i, p, p["k"]), th, p, p["reset"])
    state["a"] = state["a"] + p["k_adapt"] * (p["r_adapt"] * z - state["a"])
    return z


def coefficients(xp: Any, nirp: dict, dt: float) -> dict:
    """The NIR parameters plus k = dt/tau and k_adapt = dt/tau_adapt."""
    return {**nirp, "k": dt / nirp["tau"], "k_adapt": dt / nirp["tau_adapt"]}


def euler_registers(tau: np.ndarray, r: np.ndarray, v_leak: np.ndarray, dt: float
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The leak of the LIF/ALIF population for v + dt/tau (v_leak - v + r I): its decay
    dv = dt/tau, the input gain g = dt r/tau (folded into the weights) and bias_v = dv v_leak."""
    dv = dt / tau
    return dv, dt * r / tau, dv * v_leak


def lif_registers(nirp: dict, dt: float) -> dict:
    """Registers of the LIF/ALIF population (float, per neuron) and the input gain g:
    du = 1, dv, g, bias_v from :func:`euler_registers`, da = dt/tau_adapt, ja = beta da r_adapt."""
    dv, gain, bias_v = euler_registers(nirp["tau"], nirp["r"], nirp["v_leak"], dt)
    da = dt / nirp["tau_adapt"]
    if np.any(dv > 1) or np.any(da > 1):
        raise NeuronError("dt/tau > 1 (time constant shorter than the step)")
    return {"du": np.ones(dv.size), "dv": dv, "vth": nirp["v_threshold"], "bias_v": bias_v,
            "v_reset": nirp["v_reset"], "reset": nirp["reset"], "da": da, "ja": nirp["beta"] * da * nirp["r_adapt"],
            "gain": gain}


def nir_node(tau: np.ndarray, r: np.ndarray, v_threshold: np.ndarray, tau_adapt: np.ndarray, beta: np.ndarray,
             v_leak: np.ndarray | None = None, reset: str = "subtract", r_adapt: np.ndarray | None = None,
             v_reset: np.ndarray | None = None, dt: float | None = None) -> nir.NIRGraph:
    """The ``alif`` extension subgraph (module docstring); arrays of shape (n,)."""
    n = np.asarray(v_threshold).shape
    zeros = np.zeros(n)
    nodes = {
        "input": nir.Input(input_type={"input": np.array(n)}),
        "lif": nir.LIF(tau=np.asarray(tau, float), r=np.asarray(r, float),
                       v_leak=zeros if v_leak is None else np.asarray(v_leak, float),
                       v_threshold=np.asarray(v_threshold, float),
                       v_reset=zeros.copy() if v_reset is None else np.asarray(v_reset, float),
                       metadata={"zoo.reset": reset}),
        "adaptation": nir.LI(tau=np.asarray(tau_adapt, float),
                             r=np.ones(n) if r_adapt is None else np.asarray(r_adapt, float), v_leak=zeros.copy()),
        "beta": nir.Scale(scale=-np.asarray(beta, float)),
        "output": nir.Output(output_type={"output": np.array(n)}),
    }
    edges = [("input", "lif"), ("lif", "output"), ("lif", "adaptation"), ("adaptation", "beta"), ("beta", "lif")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"zoo.neuron": NAME, "zoo.version": 1})


def nir_params(node: nir.NIRGraph, name: str = "") -> dict[str, Any]:
    """Parameters of an ``alif`` subgraph."""
    try:
        lif, ad, beta = node.nodes["lif"], node.nodes["adaptation"], node.nodes["beta"]
    except KeyError as exc:
        raise NeuronError(f"node {name!r}: alif extension lacks sub-node {exc}") from None
    reset = reset_of(lif)
    return {"tau": np.asarray(lif.tau, float), "r": np.asarray(lif.r, float), "v_leak": np.asarray(lif.v_leak, float),
            "v_threshold": np.asarray(lif.v_threshold, float), "v_reset": np.asarray(lif.v_reset, float),
            "reset": reset, "tau_adapt": np.asarray(ad.tau, float), "r_adapt": np.asarray(ad.r, float),
            "beta": -np.broadcast_to(np.asarray(beta.scale, float), np.shape(lif.v_threshold)).copy()}


DESCRIPTOR = register(NeuronDescriptor(
    NAME, 1, params={"tau": Param("s"), "r": Param("1"), "v_leak": Param("1"), "v_threshold": Param("1"),
                     "v_reset": Param("1"), "reset": Param("", "scalar", "subtract | zero"), "tau_adapt": Param("s"),
                     "r_adapt": Param("1"), "beta": Param("1", doc="threshold increase per unit of a")},
    state=("v", "a"), step=step, coefficients=coefficients, quantize=None, nir_node=nir_node, nir_params=nir_params,
    reset="subtract | zero", threshold="v_threshold", lif_registers=lif_registers,
    doc="LIF with adaptive threshold (NIR forward Euler); Lava: the LIF/ALIF population"))
