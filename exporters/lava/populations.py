"""How zoo NIR extensions become Lava populations (the Lava side of
:mod:`exporters.nir.extensions`).

``SPECS[name](node_name, node, dt, latency) -> (NeuronSpec, gain)`` maps an extension node to
a population; ``gain`` scales its incoming weight rows. A population either runs on the
generic :class:`~exporters.lava.procs.zoo_neuron.ZooNeuron` (``spec.kind`` not in ``KINDS``),
or on its own process model registered in ``KINDS`` (neurons whose dynamics ZooNeuron cannot
express, e.g. oscillators): a :class:`PopulationKind` gives the state variables, one step of
the dynamics for float and fixed point (shared by the Lava ProcessModel and the emulator), the
quantisation of its parameters, and the Lava Process class.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable

import nir
import numpy as np

from exporters.lava.plan import NeuronSpec
from exporters.nir.extensions import ALIF, alif_params
from exporters.nir.io import NIRError

SpecBuilder = Callable[[str, nir.NIRGraph, float, int], tuple[NeuronSpec, np.ndarray]]
SPECS: dict[str, SpecBuilder] = {}


@dataclass(frozen=True)
class PopulationKind:
    """A population with its own Lava process model.

    ``step(state, a_in, params, fixed) -> spikes`` advances every neuron one step (arrays with a
    leading batch axis), updating ``state`` in place; ``state["v"]`` is what ``v_out`` sends.
    ``quantize(spec, scale) -> (int params, notes)`` at state scale S (threshold units x S x 64).
    ``process`` is "module:Class" of a :class:`~exporters.lava.procs.windowed.WindowedPopulation`.
    ``graded`` kinds send graded messages to other populations; in fixed point the quantiser
    sets ``params["msg_shift"]`` = k (one message unit = 2^k state units)."""

    name: str
    state: tuple[str, ...]
    step: Callable[[dict, np.ndarray, dict, bool], np.ndarray]
    quantize: Callable[[NeuronSpec, float], tuple[dict[str, np.ndarray], list[str]]]
    process: str
    graded: bool = False  # v_out carries graded messages (fixed point: state >> params["msg_shift"])

    def process_class(self):
        module, cls = self.process.split(":")
        return getattr(importlib.import_module(module), cls)

    def init_state(self, batch: int, n: int, fixed: bool) -> dict[str, np.ndarray]:
        return {k: np.zeros((batch, n), np.int64 if fixed else np.float64) for k in self.state}


KINDS: dict[str, PopulationKind] = {}


def register_spec(name: str) -> Callable[[SpecBuilder], SpecBuilder]:
    def deco(fn: SpecBuilder) -> SpecBuilder:
        SPECS[name] = fn
        return fn
    return deco


def register_kind(kind: PopulationKind) -> PopulationKind:
    KINDS[kind.name] = kind
    return kind


@register_spec(ALIF)
def _alif_spec(name: str, node: nir.NIRGraph, dt: float, latency: int) -> tuple[NeuronSpec, np.ndarray]:
    """alif -> ZooNeuron: LIF part as LIF, da = dt/tau_adapt, ja = beta*da*r_adapt."""
    p = alif_params(node, name)
    dv, da = dt / p["tau"], dt / p["tau_adapt"]
    if np.any(dv > 1) or np.any(da > 1):
        raise NIRError(f"node {name!r}: dt/tau > 1 (time constant shorter than the step)")
    n = dv.size
    spec = NeuronSpec(name, n, np.ones(n), dv, p["v_threshold"], np.zeros(n), dv * p["v_leak"], p["v_reset"],
                      p["reset"], True, latency, ALIF, da=da, ja=p["beta"] * da * p["r_adapt"])
    return spec, dt * p["r"] / p["tau"]


def load_plugins() -> None:
    """Import the modules that register further populations (kept lazy: no import cycles)."""
    for module in PLUGINS:
        importlib.import_module(module)


PLUGINS: list[str] = [  # modules calling register_spec/register_kind
    "exporters.lava.hypr_populations",
    "exporters.lava.gamma_populations",
]


def custom_kind(spec: NeuronSpec) -> PopulationKind | None:
    load_plugins()
    return KINDS.get(spec.kind)


def spec_for_extension(name: str, node: nir.NIRGraph, ext: str, dt: float, latency: int
                       ) -> tuple[NeuronSpec, np.ndarray]:
    load_plugins()
    if ext not in SPECS:
        raise NIRError(f"node {name!r}: zoo extension {ext!r} has no Lava mapping")
    return SPECS[ext](name, node, dt, latency)


__all__: list[Any] = ["KINDS", "PopulationKind", "SPECS", "custom_kind", "register_kind", "register_spec",
                      "spec_for_extension"]
