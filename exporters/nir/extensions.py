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

Every neuron of :mod:`zoo.neurons.registry` is an extension too, derived from its descriptor
(:func:`descriptor_extension`: its subgraph reader and its ``step`` under float numerics in
torch); further extensions register from ``PLUGINS`` (imported on first use: no import cycle).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable

import nir
import numpy as np
import torch

from exporters.nir.io import NIRError
from zoo.neurons import registry as neurons
from zoo.neurons.descriptor import NeuronDescriptor, NeuronError
from zoo.numerics import FLOAT
from zoo.registries import Registry


@dataclass(frozen=True)
class Extension:
    """A zoo NIR extension: how to read its parameters and its exact torch semantics.

    ``torch_step(p, state, inp, dt) -> output`` advances one step; ``state`` is a dict the step
    fills (zeros at t=0), and ``state["v"]`` is the membrane a ``v_tap`` reads. Lava mappings
    register in :mod:`exporters.lava.populations` under the same name."""

    name: str
    version: int
    spiking: bool
    params: Callable[[nir.NIRGraph, str], dict[str, Any]]
    torch_step: Callable[[dict, dict, torch.Tensor, float], torch.Tensor] | None = None


PLUGINS: list[str] = ["exporters.nir.ext_gamma"]  # modules calling register_extension


def _load_extensions() -> None:
    for desc in neurons.descriptors():
        register_extension(descriptor_extension(desc))
    for module in PLUGINS:
        importlib.import_module(module)


class UnknownName(NIRError, KeyError):
    """An unknown name in one of the exporters' registries (a KeyError too, as a dict would raise)."""

    def __str__(self) -> str:
        return str(self.args[0])


EXTENSIONS: Registry[Extension] = Registry("zoo extension", UnknownName, loader=_load_extensions)


def register_extension(ext: Extension) -> Extension:
    return EXTENSIONS.register(ext.name, ext)


def _nir_error(fn: Callable, name: str = "") -> Callable:
    def call(*args: Any) -> Any:
        try:
            return fn(*args)
        except NeuronError as exc:
            msg = str(exc)
            raise NIRError(msg if msg.startswith("node ") or not name else f"node {name!r}: {msg}") from None
    return call


def descriptor_extension(desc: NeuronDescriptor) -> Extension:
    """The extension of a descriptor neuron: ``torch_step`` = its ``step(torch, FLOAT, ...)``."""
    def torch_step(p: dict, st: dict, inp: torch.Tensor, dt: float) -> torch.Tensor:
        coef = _nir_error(desc.coefficients)(torch, p, dt)
        if not st:
            st.update(desc.init_state(lambda: torch.zeros_like(inp)))
        return desc.step(torch, FLOAT, coef, st, inp)

    return Extension(desc.name, desc.version, desc.spiking, lambda node, name="": _nir_error(desc.nir_params)(
        node, name), torch_step)


ALIF = "alif"


def is_extension(node: nir.NIRNode) -> bool:
    return isinstance(node, nir.NIRGraph) and isinstance(node.metadata, dict) and "zoo.neuron" in node.metadata


def extension_of(node: nir.NIRNode, name: str = "") -> Extension:
    """The registered :class:`Extension` of an extension node (unknown or too new: error)."""
    ext = node.metadata["zoo.neuron"]
    ext = ext.decode() if isinstance(ext, bytes) else str(ext)
    ext = neurons.aliases().get(ext, ext)
    if ext not in EXTENSIONS:
        raise NIRError(f"node {name!r}: unknown zoo extension {ext!r} (known: {', '.join(sorted(EXTENSIONS))})")
    version = int(node.metadata.get("zoo.version", 1))
    if version > EXTENSIONS[ext].version:
        raise NIRError(f"node {name!r}: zoo extension {ext!r} version {version} is newer than this zoo "
                       f"({EXTENSIONS[ext].version})")
    return EXTENSIONS[ext]


def extension_name(node: nir.NIRNode, name: str = "") -> str:
    return extension_of(node, name).name


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
    g = nir.NIRGraph(nodes=nodes, edges=edges, metadata={"zoo.neuron": ALIF, "zoo.version": 1})
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


def alif_step(p: dict, st: dict, inp: torch.Tensor, dt: float) -> torch.Tensor:
    """One ``alif`` step; the threshold uses the previous adaptation trace."""
    if not st:
        st.update(v=torch.zeros_like(inp), a=torch.zeros_like(inp))
    th = p["v_threshold"] + p["beta"] * st["a"]
    st["v"] = st["v"] + dt / p["tau"] * (p["v_leak"] - st["v"] + p["r"] * inp)
    z = st["v"] > th
    st["v"] = st["v"] - z * th if p["reset"] == "subtract" else torch.where(z, p["v_reset"].expand_as(st["v"]), st["v"])
    st["a"] = st["a"] + dt / p["tau_adapt"] * (p["r_adapt"] * z - st["a"])
    return z.to(inp.dtype)


register_extension(Extension(ALIF, 1, True, alif_params, alif_step))

V_TAP = "v_tap"
register_extension(Extension(V_TAP, 1, False, lambda node, name: {}))


def v_tap_node(n: int) -> nir.NIRGraph:
    """``v_tap`` v1: an identity subgraph whose input edge carries the *membrane voltage*
    (after reset) of its source population instead of its spikes — a membrane readout."""
    nodes = {"input": nir.Input(input_type={"input": np.array([n])}),
             "output": nir.Output(output_type={"output": np.array([n])})}
    return nir.NIRGraph(nodes=nodes, edges=[("input", "output")],
                        metadata={"zoo.neuron": V_TAP, "zoo.version": 1})
