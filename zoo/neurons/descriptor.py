"""A neuron as data: the descriptor every back-end derives its neuron from.

A :class:`NeuronDescriptor` holds what the torch executor, the NIR reader/writer, the Lava
process models, the emulator and the online rules need to know about one neuron model:

  params        NIR-level parameters, with units and shapes (``Param``)
  state         state variable names; ``v`` is the membrane (Lava ``v_out``, NIR ``v_tap``)
  step          ``step(xp, num, p, state, i) -> z``: ONE step for every neuron, written once over
                an array namespace ``xp`` (numpy or torch) and a numerics object ``num``
                (:data:`zoo.numerics.FLOAT` or :data:`zoo.numerics.LOIHI`); updates ``state`` (a
                dict of arrays with any leading batch shape) and returns the spikes. ``i`` is the
                input current: float units (Float), or state units ``(a_in << 6) + BIAS`` (Loihi).
  coefficients  ``coefficients(xp, nir_params, dt) -> p``: the float step parameters
  quantize      ``quantize(p, U, name) -> (int params, notes)``: the Loihi step parameters, input
                arriving at U = 64*S state units per float unit (S: the population's scale)
  nir_node      ``nir_node(**nir_params, dt=dt) -> nir.NIRGraph``: the zoo extension subgraph
  nir_params    ``nir_params(node, name) -> dict``: read (and validate) that subgraph
  fixed         the fixed-point format (register widths and shifts)
  lif_registers ``lif_registers(nir_params, dt) -> dict`` for a neuron that runs on the LIF/ALIF
                population (``exporters.lava.procs.zoo_neuron``): its float registers du, dv, vth,
                bias_v, v_reset, reset, da, ja and input gain; such a neuron has no ``quantize``
                (the LIF register quantiser applies) and its ``step`` is float only

numpy + nir only (no torch, no Lava), so every back-end can import it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

Step = Callable[[Any, Any, dict, dict, Any], Any]


class NeuronError(ValueError):
    """Bad neuron parameters or subgraph; the message names the node/parameter."""


@dataclass(frozen=True)
class Param:
    """A NIR-level neuron parameter: ``unit`` (SI or "1"), ``shape`` ("n" per neuron | "scalar");
    ``init`` and ``learn`` configure the torch cell derived from the descriptor (zoo.neurons.cell)."""

    unit: str
    shape: str = "n"
    doc: str = ""
    init: float | tuple[float, float] | None = None  # torch cell default: value, or uniform (lo, hi)
    learn: bool = False  # a trainable parameter of the derived torch cell


@dataclass(frozen=True)
class FixedFormat:
    """Loihi fixed-point format of a neuron: ``state_bits``-bit signed state, coefficients with
    ``coef_bits`` fractional bits, state variable k stored at U / 2^state_shift[k] units."""

    state_bits: int = 24
    coef_bits: int = 23
    state_shift: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class NeuronDescriptor:
    """One neuron model (see module docstring)."""

    name: str
    version: int
    params: dict[str, Param]
    state: tuple[str, ...]
    step: Step
    coefficients: Callable[[Any, dict, float], dict]
    quantize: Callable[[dict, float, str], tuple[dict, list[str]]] | None
    nir_node: Callable[..., Any]
    nir_params: Callable[[Any, str], dict]
    fixed: FixedFormat = field(default_factory=FixedFormat)
    spiking: bool = True
    reset: str = "none"  # how a spike resets the membrane (documentation; the step does it)
    threshold: str = "theta"  # float parameter holding the firing threshold (the quantiser scales by it)
    aliases: tuple[str, ...] = ()
    doc: str = ""
    lif_registers: Callable[[dict, float], dict] | None = None  # runs on the LIF/ALIF population

    def init_state(self, zeros: Callable[[], Any]) -> dict[str, Any]:
        """All state variables at zero (``zeros()`` makes one array)."""
        return {k: zeros() for k in self.state}
