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

The exact inverse of ``nir_node`` is derived (:meth:`NeuronDescriptor.params_from_node`):
``nir_params`` gives a first guess, then each parameter is the nearest float (of the model's
dtype) for which ``nir_node`` writes the subgraph's fields bit for bit (:func:`zoo.numerics.nearest_preimage`),
so a new neuron needs no inverse of its own.

numpy + nir only (no torch, no Lava), so every back-end can import it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from zoo.numerics import nearest_preimage

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

    def params_from_node(self, node: Any, dt: float, free: tuple[str, ...], fixed: dict[str, Any],
                         dtype: Any = np.float64, name: str = "", prefer: dict[str, Any] | None = None
                         ) -> dict[str, np.ndarray]:
        """Values (n,) of the parameters ``free``, on the float grid of ``dtype``, for which
        ``nir_node(dt=dt, **fixed, **values)`` writes ``node`` exactly (module docstring).

        A parameter is solved from the fields that depend on it and on no unsolved parameter
        (found by perturbing it): ``prefer[k]`` where it writes them, else the float nearest the
        ``nir_params`` reading. Raises NeuronError naming the node, parameter and neurons when no
        float reproduces the fields."""
        guess = self.nir_params(node, name)
        vals = {k: np.asarray(guess[k], np.float64).ravel() for k in free}
        target = node_fields(node)

        def write(v: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            return node_fields(self.nir_node(dt=dt, **fixed, **v))

        base = write(vals)
        missing = sorted(set(base) - set(target))
        if missing:
            raise NeuronError(f"node {name!r}: {self.name} subgraph lacks field(s) {missing}")
        deps = {k: {f for f, a in write({**vals, k: vals[k] * (1 + 2.0 ** -10) + 2.0 ** -20}).items()
                    if not np.array_equal(a, base[f])} for k in free}
        todo = list(free)
        while todo:
            usable = {k: {f for f in deps[k] if not any(f in deps[j] for j in todo if j != k)} for k in todo}
            ready = [k for k in todo if usable[k]]
            if not ready:
                raise NeuronError(f"node {name!r}: cannot solve {self.name} parameters {todo} from the subgraph "
                                  "(no field depends on one of them alone)")
            for k in ready:
                def match(x: np.ndarray, k: str = k) -> np.ndarray:
                    out = write({**vals, k: x})
                    return np.all([same_per_neuron(out[f], target[f], x.size) for f in usable[k]], axis=0)
                vals[k], ok = nearest_preimage(match, vals[k], dtype, prefer=(prefer or {}).get(k))
                if not ok.all():
                    raise NeuronError(f"node {name!r}: no {np.dtype(dtype).name} value of {self.name} parameter {k} "
                                      f"writes the subgraph's {sorted(usable[k])} for neuron(s) "
                                      f"{np.flatnonzero(~ok)[:8].tolist()}")
                todo.remove(k)
        return vals


def node_fields(node: Any, prefix: str = "") -> dict[str, np.ndarray]:
    """Every array (or tuple: ``nir.read`` turns those into arrays) field of a NIR node, or of the
    nodes of a subgraph (``sub.field``); not the input/output types."""
    if hasattr(node, "nodes"):
        return {f: a for k, sub in node.nodes.items() for f, a in node_fields(sub, f"{prefix}{k}.").items()}
    return {prefix + k: np.asarray(v) for k, v in vars(node).items()
            if isinstance(v, (np.ndarray, tuple)) and k not in ("input_type", "output_type")}


def same_per_neuron(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    """(n,) bool: neuron j's entries of ``a`` and ``b`` (leading axis n, or one shared value) are equal."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return np.zeros(n, bool)
    eq = np.asarray(a == b)
    return eq.reshape(n, -1).all(axis=1) if eq.ndim and eq.shape[0] == n else np.full(n, bool(eq.all()))
