"""Zoo NIR extensions: neurons without a NIR primitive, stored as a ``NIRGraph`` subgraph of
primitives plus ``metadata = {"zoo.neuron": NAME, "zoo.version": V}`` (docs/nir-extensions.md).

Plain NIR tools load the file (the subgraph is made of primitives); tools that ignore the
metadata see the base neuron without its extra dynamics. The zoo's torch executor and Lava
compiler read the parameters from the subgraph's nodes and run the exact semantics.

``alif`` v1 — LIF with an adaptive threshold (STAR-SNN, ALIF), forward Euler, step dt:
  nodes: input (Input) -> lif (LIF: tau, r, v_leak, v_threshold, v_reset, zoo.reset)
         -> output (Output); lif -> adaptation (LI: tau = tau_adapt, r = r_adapt, v_leak = 0)
         -> beta (Scale: -beta) -> lif
  Tools that ignore the metadata read the adaptation as an inhibitory current -beta*a on the
  membrane (a common ALIF approximation); the zoo runs the exact threshold adaptation:
  th[t] = v_threshold + beta * a[t-1]
  v[t]  = v + dt/tau * (v_leak - v + r*I[t]);  z = v > th;  v -= th*z (subtract) | v = v_reset
  a[t]  = a + dt/tau_adapt * (-a + r_adapt * z)
"""
from __future__ import annotations

from typing import Any

import nir
import numpy as np

from exporters.nir.io import NIRError

ALIF = "alif"
VERSIONS = {ALIF: 1}


def is_extension(node: nir.NIRNode) -> bool:
    return isinstance(node, nir.NIRGraph) and "zoo.neuron" in (node.metadata or {})


def extension_name(node: nir.NIRNode, name: str = "") -> str:
    ext = node.metadata["zoo.neuron"]
    ext = ext.decode() if isinstance(ext, bytes) else str(ext)
    if ext not in VERSIONS:
        raise NIRError(f"node {name!r}: unknown zoo extension {ext!r} (known: {', '.join(VERSIONS)})")
    version = int(node.metadata.get("zoo.version", 1))
    if version > VERSIONS[ext]:
        raise NIRError(f"node {name!r}: zoo extension {ext!r} version {version} is newer than this zoo ({VERSIONS[ext]})")
    return ext


def alif_node(tau: np.ndarray, r: np.ndarray, v_threshold: np.ndarray, tau_adapt: np.ndarray, beta: np.ndarray,
              v_leak: np.ndarray | None = None, reset: str = "subtract", r_adapt: np.ndarray | None = None
              ) -> nir.NIRGraph:
    """The ``alif`` extension subgraph (see module docstring); arrays of shape (n,)."""
    n = np.asarray(v_threshold).shape
    zeros = np.zeros(n)
    nodes = {
        "input": nir.Input(input_type={"input": np.array(n)}),
        "lif": nir.LIF(tau=np.asarray(tau, float), r=np.asarray(r, float),
                       v_leak=zeros if v_leak is None else np.asarray(v_leak, float),
                       v_threshold=np.asarray(v_threshold, float), v_reset=zeros.copy(), metadata={"zoo.reset": reset}),
        "adaptation": nir.LI(tau=np.asarray(tau_adapt, float),
                             r=np.ones(n) if r_adapt is None else np.asarray(r_adapt, float), v_leak=zeros.copy()),
        "beta": nir.Scale(scale=-np.asarray(beta, float)),
        "output": nir.Output(output_type={"output": np.array(n)}),
    }
    edges = [("input", "lif"), ("lif", "output"), ("lif", "adaptation"), ("adaptation", "beta"), ("beta", "lif")]
    g = nir.NIRGraph(nodes=nodes, edges=edges, metadata={"zoo.neuron": ALIF, "zoo.version": VERSIONS[ALIF]})
    return g


def alif_params(node: nir.NIRGraph, name: str = "") -> dict[str, Any]:
    """Parameters of an ``alif`` subgraph (validated)."""
    try:
        lif, ad, beta = node.nodes["lif"], node.nodes["adaptation"], node.nodes["beta"]
    except KeyError as exc:
        raise NIRError(f"node {name!r}: alif extension lacks sub-node {exc}") from None
    reset = (lif.metadata or {}).get("zoo.reset", "zero")
    reset = reset.decode() if isinstance(reset, bytes) else str(reset)
    return {"tau": np.asarray(lif.tau, float), "r": np.asarray(lif.r, float), "v_leak": np.asarray(lif.v_leak, float),
            "v_threshold": np.asarray(lif.v_threshold, float), "v_reset": np.asarray(lif.v_reset, float),
            "reset": reset, "tau_adapt": np.asarray(ad.tau, float), "r_adapt": np.asarray(ad.r, float),
            "beta": -np.broadcast_to(np.asarray(beta.scale, float), np.shape(lif.v_threshold)).copy()}


V_TAP = "v_tap"
VERSIONS[V_TAP] = 1


def v_tap_node(n: int) -> nir.NIRGraph:
    """``v_tap`` v1: an identity subgraph whose input edge carries the *membrane voltage*
    (after reset) of its source population instead of its spikes — a membrane readout."""
    nodes = {"input": nir.Input(input_type={"input": np.array([n])}),
             "output": nir.Output(output_type={"output": np.array([n])})}
    return nir.NIRGraph(nodes=nodes, edges=[("input", "output")],
                        metadata={"zoo.neuron": V_TAP, "zoo.version": VERSIONS[V_TAP]})
