"""How zoo NIR extensions become Lava populations (the Lava side of
:mod:`exporters.nir.extensions`).

``SPECS[name](node_name, node, dt, latency) -> (NeuronSpec, gain)`` maps an extension node to
a population; ``gain`` scales its incoming weight rows. A population either runs on the
generic :class:`~exporters.lava.procs.zoo_neuron.ZooNeuron` (``spec.kind`` not in ``KINDS``),
or on its own process model registered in ``KINDS`` (neurons whose dynamics ZooNeuron cannot
express, e.g. oscillators): a :class:`PopulationKind` gives the state variables, one step of
the dynamics for float and fixed point (shared by the Lava ProcessModel and the emulator), the
quantisation of its parameters, and the Lava Process class.

Every neuron of :mod:`zoo.neurons.registry` becomes a kind and a spec here, derived from its
descriptor (:func:`descriptor_kind`, :func:`descriptor_spec`), and runs on the one generic
:class:`~exporters.lava.procs.neuron.NeuronPopulation` — except a descriptor with
``lif_registers`` (``alif``), which gets only a spec (:func:`lif_spec`) and runs on ZooNeuron. Its input current is
I = a_in + c (float; c the summed Affine bias reaching the population, ``params["bias"]``, set
by the compiler) or (a_in << 6) + BIAS with BIAS = round(c U) (fixed; U = 64 S state units).
"""
from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from typing import Any, Callable

import nir
import numpy as np

from exporters.lava.specs import NeuronSpec
from exporters.nir.extensions import UnknownName, extension_name, is_extension
from exporters.nir.io import NIRError
from zoo.neurons import registry as neurons
from zoo.neurons.descriptor import NeuronDescriptor, NeuronError
from zoo.numerics import ACT_SHIFT, FLOAT, LOIHI, shl
from zoo.registries import Registry

SpecBuilder = Callable[[str, nir.NIRGraph, float, int], tuple[NeuronSpec, np.ndarray]]


@dataclass(frozen=True)
class PopulationKind:
    """A population with its own Lava process model.

    ``step(state, a_in, params, fixed) -> spikes`` advances every neuron one step (arrays with a
    leading batch axis), updating ``state`` in place; ``state["v"]`` is what ``v_out`` sends.
    ``quantize(spec, scale) -> (int params, notes)`` at state scale S (threshold units x S x 64).
    ``process`` is "module:Class" of a :class:`~exporters.lava.procs.windowed.WindowedPopulation`.
    ``graded`` kinds send graded messages to other populations; in fixed point the quantiser
    sets ``params["msg_shift"]`` = k (one message unit = 2^k state units). ``deltas`` kinds send
    changes of a reconstruction (sigma-delta): only an LI chain sums them back (the compiler
    refuses other receivers and makes a chain fed by them accumulate)."""

    name: str
    state: tuple[str, ...]
    step: Callable[[dict, np.ndarray, dict, bool], np.ndarray]
    quantize: Callable[[NeuronSpec, float], tuple[dict[str, np.ndarray], list[str]]]
    process: str
    graded: bool = False  # v_out carries graded messages (fixed point: state >> params["msg_shift"])
    generic: bool = False  # runs on the generic NeuronPopulation (a descriptor neuron)
    deltas: bool = False  # v_out sends changes of a reconstruction: a receiver must sum them (an LI chain)

    def process_class(self):
        module, cls = self.process.split(":")
        proc = getattr(importlib.import_module(module), cls)
        return functools.partial(proc, kind=self.name, n_state=len(self.state)) if self.generic else proc

    def init_state(self, batch: int, n: int, fixed: bool) -> dict[str, np.ndarray]:
        return {k: np.zeros((batch, n), np.int64 if fixed else np.float64) for k in self.state}


SPECS: Registry[SpecBuilder] = Registry("Lava mapping of zoo extension", UnknownName,
                                         loader=lambda: load_plugins())
KINDS: Registry[PopulationKind] = Registry("population kind", UnknownName, loader=lambda: load_plugins())


def register_spec(name: str) -> Callable[[SpecBuilder], SpecBuilder]:
    def deco(fn: SpecBuilder) -> SpecBuilder:
        return SPECS.register(name, fn)
    return deco


def register_kind(kind: PopulationKind) -> PopulationKind:
    return KINDS.register(kind.name, kind)


def _node_error(exc: NeuronError, name: str) -> NIRError:
    msg = str(exc)
    return NIRError(msg if msg.startswith("node ") else f"node {name!r}: {msg}")


def _bias_int(spec: NeuronSpec, U: float) -> np.ndarray:
    bias = spec.params.get("bias") if spec.params else None
    bias = spec.bias_v if bias is None else bias
    return np.round(np.broadcast_to(np.asarray(bias, float), (spec.n,)) * U).astype(np.int64)


def descriptor_kind(desc: NeuronDescriptor) -> PopulationKind:
    """The population kind of a descriptor neuron: its ``step`` under FLOAT or LOIHI numerics."""
    def step(state: dict, a_in: np.ndarray, p: dict, fixed: bool) -> np.ndarray:
        if fixed:
            return desc.step(np, LOIHI, p, state, shl(a_in, ACT_SHIFT) + p["BIAS"])
        bias = p.get("bias")
        return desc.step(np, FLOAT, p, state, a_in if bias is None or not np.any(bias) else a_in + bias)

    def quantize(spec: NeuronSpec, scale: float) -> tuple[dict[str, np.ndarray], list[str]]:
        U = 64.0 * scale
        try:
            q, notes = desc.quantize(spec.params, U, spec.name)
        except NeuronError as exc:
            raise _node_error(exc, spec.name) from None
        q["BIAS"] = _bias_int(spec, U)
        return q, notes

    return PopulationKind(desc.name, desc.state, step, quantize, "exporters.lava.procs.neuron:NeuronPopulation",
                          generic=True)


def descriptor_spec(desc: NeuronDescriptor) -> SpecBuilder:
    """NIR extension node -> NeuronSpec of a descriptor neuron (float step parameters, gain 1)."""
    def build(name: str, node: nir.NIRGraph, dt: float, latency: int) -> tuple[NeuronSpec, np.ndarray]:
        try:
            params = desc.coefficients(np, desc.nir_params(node, name), dt)
        except NeuronError as exc:
            raise _node_error(exc, name) from None
        theta = np.ravel(np.asarray(params[desc.threshold], float))
        n = theta.size
        params = {k: (np.full(n, float(v)) if np.ndim(v) == 0 else v) for k, v in params.items()}
        one = np.ones(n)
        spec = NeuronSpec(name, n, one, one.copy(), theta.copy(), np.zeros(n), np.zeros(n), np.zeros(n), desc.reset,
                          desc.spiking, latency, desc.name, params=params)
        return spec, one.copy()
    return build


def lif_spec(desc: NeuronDescriptor) -> SpecBuilder:
    """NIR extension node -> NeuronSpec of a descriptor neuron that runs on the LIF/ALIF population
    (``desc.lif_registers``: float registers and the input gain)."""
    def build(name: str, node: nir.NIRGraph, dt: float, latency: int) -> tuple[NeuronSpec, np.ndarray]:
        try:
            reg = desc.lif_registers(desc.nir_params(node, name), dt)
        except NeuronError as exc:
            raise _node_error(exc, name) from None
        n = reg["dv"].size
        spec = NeuronSpec(name, n, reg["du"], reg["dv"], reg["vth"], np.zeros(n), reg["bias_v"], reg["v_reset"],
                          reg["reset"], desc.spiking, latency, desc.name, da=reg["da"], ja=reg["ja"])
        return spec, reg["gain"]
    return build


_loaded: list[bool] = []


def load_plugins() -> None:
    """Register the descriptor neurons and import the modules that register further
    populations (once, on the first lookup: no import cycles)."""
    if _loaded:
        return
    _loaded.append(True)
    for desc in neurons.descriptors():
        if desc.lif_registers is not None:  # runs on the LIF/ALIF population (ZooNeuron)
            SPECS.register(desc.name, lif_spec(desc))
            continue
        SPECS.register(desc.name, descriptor_spec(desc))
        KINDS.register(desc.name, descriptor_kind(desc))
    for module in PLUGINS:
        importlib.import_module(module)


PLUGINS: list[str] = [  # modules calling register_spec/register_kind
    "exporters.lava.gamma_populations",
]
def custom_kind(spec: NeuronSpec) -> PopulationKind | None:
    return KINDS[spec.kind] if spec.kind in KINDS else None


def sends_deltas(node: nir.NIRNode | None) -> bool:
    """True when ``node`` is a zoo extension whose population kind sends deltas (``PopulationKind.deltas``)."""
    if node is None or not is_extension(node):
        return False
    ext = extension_name(node)
    return ext in KINDS and KINDS[ext].deltas


def spec_for_extension(name: str, node: nir.NIRGraph, ext: str, dt: float, latency: int
                       ) -> tuple[NeuronSpec, np.ndarray]:
    if ext not in SPECS:
        raise NIRError(f"node {name!r}: zoo extension {ext!r} has no Lava mapping")
    return SPECS[ext](name, node, dt, latency)


__all__: list[Any] = ["KINDS", "PopulationKind", "SPECS", "custom_kind", "register_kind", "register_spec",
                      "sends_deltas", "spec_for_extension"]
