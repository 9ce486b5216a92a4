"""NeuroBench-style complexity metrics for any registered model, from its NIR graph, the Lava
plan (``exporters.lava.plan.compile_plan``) and recorded activity. Definitions: ``docs/metrics.md``.

Static (model only):
  * ``parameter_count``: number of torch parameters (NeuroBench ``ParameterCount``).
  * ``footprint``: bytes of torch parameters + persistent buffers (NeuroBench ``Footprint``;
    float32 = 4 B; hidden-state buffers excluded).
  * ``fixed_footprint``: bytes of the Loihi fixed-point plan: 8-bit Dense weights (+1 byte
    ``weight_exp`` per Dense) and per-neuron registers (zoo definition; NeuroBench has none).
  * ``connection_sparsity``: zero weights / all weights over the weight-bearing NIR nodes
    (Affine, Linear, Conv1d/2d; NeuroBench ``ConnectionSparsity`` over Linear/Conv/RNN layers).
Dynamic (per sample, averaged over samples; NeuroBench workload metrics):
  * ``activation_sparsity``: 1 - spikes / neuron-steps over all spiking populations.
  * ``synaptic_operations``: per Dense stage (what Lava runs: linear NIR nodes between two
    populations are fused into one matrix) and time step, ``Dense`` counts every
    structurally present synapse (weights and inputs set to one), effective operations count
    (nonzero input, nonzero weight) pairs; they are ACs when the stage's source is binary
    (spikes, or 0/1 inputs) and MACs when it is graded (NeuroBench ``SynapticOperations``).
  * ``membrane_updates``: all neurons at the first step, then the neuron-steps whose membrane
    potential changed (v_t != v_{t-1}), over all populations (NeuroBench ``MembraneUpdates``);
    ``dense`` = N*T.

This module imports neither Lava nor the exporters at import time.
"""
from __future__ import annotations

import copy
from typing import Any, Mapping

import numpy as np
import torch

INPUT = "__input__"  # same as exporters.lava.plan.INPUT
OUTPUT = "__output__"

# Fixed-point register widths (bits) per neuron, as stored by ZooNeuron / Lava LIF
# (see exporters/lava/neuron_math.py and quantize.py). Storage is rounded up to whole bytes
# per register.
NEURON_REGISTERS_BITS = {"u": 24, "v": 24, "du": 12, "dv": 12, "vth": 17, "bias_u": 16, "bias_v": 16,
                         "v_reset": 24}
ADAPTATION_REGISTERS_BITS = {"a": 24, "da": 12, "ja": 24}  # only when a population adapts
WEIGHT_BITS = 8
WEIGHT_EXP_BYTES = 1


def _bytes(bits: int) -> int:
    return -(-bits // 8)


# ---------------------------------------------------------------- static metrics
def parameter_count(model: torch.nn.Module) -> int:
    """Number of scalar parameters (NeuroBench ``parameter_count``)."""
    return int(sum(p.numel() for p in model.parameters()))


def footprint(model: torch.nn.Module) -> int:
    """Bytes of parameters and persistent buffers (the ``state_dict``) at their stored dtype
    (NeuroBench ``footprint``). Non-persistent buffers are hidden state (snnTorch's ``mem`` is
    resized to the last batch) and are left out, so the value does not depend on the batch."""
    return int(sum(t.numel() * t.element_size() for t in model.state_dict().values() if isinstance(t, torch.Tensor)))


WEIGHT_NODES = ("Affine", "Linear", "Conv1d", "Conv2d")


def connection_sparsity(graph: Any) -> float:
    """Zero weights / all weights over Affine, Linear and Conv nodes of a NIR graph (biases
    excluded), recursing into subgraphs. NaN if the graph has no weights."""
    zeros, total = 0, 0
    for node in _walk(graph):
        if type(node).__name__ in WEIGHT_NODES:
            w = np.asarray(node.weight)
            zeros += int((w == 0).sum())
            total += int(w.size)
    return zeros / total if total else float("nan")


def _walk(graph: Any):
    for node in graph.nodes.values():
        if hasattr(node, "nodes") and hasattr(node, "edges"):
            yield from _walk(node)
        else:
            yield node


def fixed_footprint(fplan: Any) -> dict[str, int]:
    """Bytes of a :class:`exporters.lava.quantize.FixedPlan`: 8-bit weights of every Dense
    stage (full matrices, as Lava's ``Dense`` stores them) + one ``weight_exp`` byte per Dense,
    and per neuron the registers of :data:`NEURON_REGISTERS_BITS` (plus
    :data:`ADAPTATION_REGISTERS_BITS` for adaptive-threshold populations)."""
    w_bytes = sum(int(np.asarray(w).size) * _bytes(WEIGHT_BITS) + WEIGHT_EXP_BYTES for w in fplan.weights.values())
    n_bytes = sum(population_bytes(spec) for spec in fplan.neurons.values())
    return {"weights": int(w_bytes), "neurons": int(n_bytes), "total": int(w_bytes + n_bytes)}


def population_bytes(spec: Any) -> int:
    """Bytes of one fixed-point population's registers (state and per-neuron parameters)."""
    custom = _custom_population_bytes(spec)
    if custom is not None:
        return custom
    per_neuron = sum(_bytes(b) for b in NEURON_REGISTERS_BITS.values())
    per_adapt = sum(_bytes(b) for b in ADAPTATION_REGISTERS_BITS.values())
    adapts = getattr(spec, "ja", None) is not None and np.any(np.asarray(spec.ja) != 0)
    return int(spec.n * (per_neuron + (per_adapt if adapts else 0)))


def _int_bytes(a: np.ndarray) -> int:
    """Bytes of the smallest signed integer register holding every value of ``a``."""
    m = int(np.abs(np.asarray(a, dtype=np.int64)).max()) if np.size(a) else 0
    return _bytes(m.bit_length() + 1)


def _custom_population_bytes(spec: Any) -> int | None:
    """Populations with their own process model (``exporters.lava.populations.KINDS``): each
    state variable a 24-bit register per neuron, each integer parameter the smallest signed
    register holding its values, per neuron when it is an array of n values, else once.
    None for ZooNeuron populations."""
    params = getattr(spec, "params", None)
    if params is None:
        return None
    try:
        from exporters.lava.populations import KINDS

        state = KINDS[spec.kind].state
    except (ImportError, KeyError):
        state = ("v",)
    total = spec.n * len(state) * _bytes(24)
    for v in params.values():
        a = np.asarray(v)
        if not np.issubdtype(a.dtype, np.number):
            continue
        total += (spec.n if a.size >= spec.n and a.size % spec.n == 0 else 1) * _int_bytes(a) * max(1, a.size // spec.n)
    return int(total)


def neuron_count(plan: Any) -> dict[str, int]:
    """Neurons per population of a float :class:`Plan`."""
    return {n: int(s.n) for n, s in plan.neurons.items()}


def dense_structure(graph: Any, plan: Any) -> dict[str, int]:
    """Structural synapse count per Dense stage: nonzeros of the fused matrix compiled from a
    copy of ``graph`` whose Affine/Linear/Conv weights are all ones (NeuroBench counts dense
    operations with weights set to one: zero-valued weights count, conv padding does not)."""
    from exporters.lava.plan import compile_plan

    ones = copy.deepcopy(graph)
    for node in _walk(ones):
        if type(node).__name__ in WEIGHT_NODES:
            node.weight = np.ones_like(np.asarray(node.weight, dtype=float))
    try:
        p1 = compile_plan(ones, plan.dt)
        got = {d.name: int(np.count_nonzero(d.weight)) for d in p1.denses}
    except Exception:  # noqa: BLE001 - the ones-copy did not compile: count full matrices (an upper bound)
        got = {}
    return {d.name: got.get(d.name, int(d.weight.size)) for d in plan.denses}


# ---------------------------------------------------------------- dynamic metrics
def activation_sparsity(spikes: Mapping[str, np.ndarray]) -> float:
    """1 - (number of spikes) / (number of neuron-steps) over all given spiking populations
    (arrays (B, T, n)); NeuroBench ``activation_sparsity``."""
    total = sum(int(np.asarray(s).size) for s in spikes.values())
    nz = sum(int(np.count_nonzero(s)) for s in spikes.values())
    return (total - nz) / total if total else float("nan")


def membrane_updates(voltages: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Per sample: ``effective`` = every neuron at the first step, then the neuron-steps with
    v_t != v_{t-1}; ``dense`` = neurons * steps; voltages (B, T, n) per population (NeuroBench
    ``MembraneUpdates``: numel of the first recorded potential + nonzero(post - pre) after)."""
    eff, dense, batch = 0, 0, None
    for v in voltages.values():
        v = np.asarray(v)
        batch = v.shape[0]
        eff += int(v[:, :1].size) + int(np.count_nonzero(v[:, 1:] != v[:, :-1]))
        dense += int(np.prod(v.shape[1:]))
    return {"effective": eff / batch if batch else 0.0, "dense": float(dense)}


def synaptic_operations(plan: Any, inputs: np.ndarray, activity: Mapping[str, np.ndarray],
                        weights: Mapping[str, np.ndarray] | None = None,
                        structure: Mapping[str, int] | None = None) -> dict[str, Any]:
    """Synaptic operations per sample over the Dense stages of float ``plan``.

    ``inputs`` (B, T, ...) feeds ``__input__`` stages; ``activity[pop]`` (B, T, n) is the output
    of each source population on the torch time axis (spikes for spiking populations, v for
    non-spiking ones). ``weights`` (default: the float plan matrices; pass a FixedPlan's integer
    weights for fixed point) decide which synapses are nonzero. ``structure``: structural
    synapse counts per stage (:func:`dense_structure`; default: full matrices).
    Returns ``{"Dense", "Effective_MACs", "Effective_ACs", "stages": {name: {...}}}``."""
    x = np.asarray(inputs)
    x = x.reshape(x.shape[0], x.shape[1], -1)
    batch, steps = x.shape[:2]
    out = {"Dense": 0.0, "Effective_MACs": 0.0, "Effective_ACs": 0.0, "stages": {}}
    for d in plan.denses:
        # a stage absent from the integer weights is computed on the host (e.g. a membrane readout)
        w = weights[d.name] if weights is not None and d.name in weights else None
        w = d.expand(w) if hasattr(d, "expand") else np.asarray(d.weight if w is None else w)  # conv stage: its matrix
        if d.src == INPUT:
            src = x
            binary = bool(np.isin(src, (0, 1)).all())
        elif getattr(d, "signal", "spikes") == "v":  # membrane tap: graded voltages of the population
            src = np.asarray(activity[f"{d.src}:v"]).reshape(batch, steps, -1)
            binary = False
        else:
            src = np.asarray(activity[d.src]).reshape(batch, steps, -1)
            binary = bool(plan.neurons[d.src].spiking)
        if getattr(d, "recurrent", False):  # s_t reaches its target at t+1: the last step's spikes are never sent
            src = src[:, :-1]
        col_nnz = np.count_nonzero(w, axis=0).astype(np.float64)  # synapses leaving each source neuron
        eff = float(((src != 0).reshape(-1, src.shape[-1]).astype(np.float64) @ col_nnz).sum()) / batch
        dense = float((structure or {}).get(d.name, w.size)) * steps
        kind = "AC" if binary else "MAC"
        out["Dense"] += dense
        out["Effective_ACs" if binary else "Effective_MACs"] += eff
        out["stages"][d.name] = {"dense": dense, "effective": eff, "kind": kind}
    return out


def _none_if_nan(v: float) -> float | None:
    return None if v != v else v  # strict JSON has no NaN


def neurobench(model: torch.nn.Module | None, graph: Any, plan: Any, inputs: np.ndarray,
               runs: Mapping[str, Mapping[str, Any]], fixed_plan: Any | None = None) -> dict[str, Any]:
    """All metrics in one JSON-able dict (the ``neurobench`` section of ``zoo eval``).

    ``runs[label]`` holds ``spikes`` and/or ``voltages`` dicts of (B, T, n) arrays on the torch
    time axis and optionally ``fixed: True`` (use the fixed plan's integer weights for
    effective operations)."""
    structure = dense_structure(graph, plan)
    res: dict[str, Any] = {
        "definitions": "docs/metrics.md",
        "samples": int(np.asarray(inputs).shape[0]),
        "steps": int(np.asarray(inputs).shape[1]),
        "static": {
            "neurons": int(sum(neuron_count(plan).values())),
            "synapses_structural": int(sum(structure.values())),
            "connection_sparsity": _none_if_nan(connection_sparsity(graph)),
        },
        "dynamic": {},
    }
    if model is not None:
        res["static"]["parameter_count"] = parameter_count(model)
        res["static"]["footprint_bytes"] = footprint(model)
    if fixed_plan is not None:
        ff = fixed_footprint(fixed_plan)
        res["static"]["fixed_footprint_bytes"] = ff["total"]
        res["static"]["fixed_footprint_weights_bytes"] = ff["weights"]
        res["static"]["fixed_footprint_neurons_bytes"] = ff["neurons"]
    for label, rec in runs.items():
        spikes = dict(rec.get("spikes", {}))
        volts = dict(rec.get("voltages", {}))
        fixed = bool(rec.get("fixed")) and fixed_plan is not None
        activity = {n: (spikes[n] if s.spiking else volts.get(n)) for n, s in plan.neurons.items()
                    if (spikes.get(n) if s.spiking else volts.get(n)) is not None}
        activity.update({f"{n}:v": v for n, v in volts.items()})  # membrane taps (DenseSpec.signal == "v")
        sp = activation_sparsity({n: a for n, a in spikes.items() if n in plan.neurons and plan.neurons[n].spiking})
        d: dict[str, Any] = {"activation_sparsity": None if sp != sp else sp}  # None: no spiking population
        needed = {dd.src + (":v" if getattr(dd, "signal", "spikes") == "v" else "") for dd in plan.denses
                  if dd.src != INPUT}
        if needed <= set(activity):
            sops = synaptic_operations(plan, inputs, activity, fixed_plan.weights if fixed else None, structure)
            d.update({k: sops[k] for k in ("Dense", "Effective_MACs", "Effective_ACs")})
            d["stages"] = sops["stages"]
        if volts and set(plan.neurons) <= set(volts):
            mu = membrane_updates({n: volts[n] for n in plan.neurons})
            d["membrane_updates"] = mu["effective"]
            d["membrane_updates_dense"] = mu["dense"]
        res["dynamic"][label] = d
    return res


def spike_match_per_step(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]) -> list[float]:
    """Per torch step t: fraction of equal (sample, neuron) spike values over all spiking
    populations present in both (arrays (B, T, n)); the "agreement over time" curve."""
    keys = sorted(set(a) & set(b))
    if not keys:
        return []

    def flat(r: np.ndarray) -> np.ndarray:  # (B, T, *shape) -> (B, T, n): conv populations
        r = np.asarray(r)
        return r.reshape(r.shape[0], r.shape[1], -1)

    eq = sum((flat(a[k]) == flat(b[k])).sum(axis=(0, 2)) for k in keys)
    tot = sum(flat(a[k])[:, 0].size for k in keys)
    return [float(v) / tot for v in eq]


def from_evaluation(model: torch.nn.Module | None, graph: Any, inputs: np.ndarray,
                    ref_spikes: Mapping[str, np.ndarray], runs: Mapping[str, Any],
                    plans: Mapping[str, Any]) -> dict[str, Any]:
    """The ``neurobench`` section of ``zoo eval``: static metrics, and dynamic ones for
    ``torch`` (spikes of the NIR float64 reference; membrane potentials from the float plan
    emulated, the arithmetic of Lava float) and for every Lava/emulator backend run
    (``RunResult``s; fixed-point runs count effective operations with the integer weights).
    Input-stage operations are counted on the float inputs for every backend."""
    from exporters.lava import compile_plan, emulate

    fplan = plans.get("float") or compile_plan(graph)
    fixed = plans.get("fixed")
    x = np.asarray(inputs)
    float_run = runs.get("lava-float") or emulate(fplan, x)
    recs: dict[str, dict[str, Any]] = {"torch": {"spikes": dict(ref_spikes), "voltages": float_run.voltages}}
    for backend, run in runs.items():
        recs[backend] = {"spikes": run.spikes, "voltages": run.voltages, "fixed": backend != "lava-float"}
    return neurobench(model, graph, fplan, x, recs, fixed)
