"""Zoo NIR extensions: neurons without a NIR primitive, stored as a ``NIRGraph`` subgraph of
primitives plus ``metadata = {"zoo.neuron": NAME, "zoo.version": V}`` (docs/nir-extensions.md).

Plain NIR tools load the file (the subgraph is made of primitives); tools that ignore the
metadata see the base neuron without its extra dynamics. The zoo's torch executor and Lava
compiler read the parameters from the subgraph's nodes and run the exact semantics.

``alif`` v1 (LIF with an adaptive threshold: STAR-SNN, ALIF) is a descriptor neuron
(:mod:`zoo.neurons.lif`: its subgraph, reader and step); ``alif_node`` / ``alif_params`` are
re-exported here for the graph writers.

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
from zoo.neurons import lif
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


ALIF = lif.NAME


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


alif_node = lif.nir_node


def alif_params(node: nir.NIRGraph, name: str = "") -> dict[str, Any]:
    """Parameters of an ``alif`` subgraph (:func:`zoo.neurons.lif.nir_params`; errors as NIRError)."""
    return _nir_error(lif.nir_params, name)(node, name)


V_TAP = "v_tap"
register_extension(Extension(V_TAP, 1, False, lambda node, name: {}))


def v_tap_node(n: int) -> nir.NIRGraph:
    """``v_tap`` v1: an identity subgraph whose input edge carries the *membrane voltage*
    (after reset) of its source population instead of its spikes — a membrane readout."""
    nodes = {"input": nir.Input(input_type={"input": np.array([n])}),
             "output": nir.Output(output_type={"output": np.array([n])})}
    return nir.NIRGraph(nodes=nodes, edges=[("input", "output")],
                        metadata={"zoo.neuron": V_TAP, "zoo.version": 1})
