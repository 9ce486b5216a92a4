"""Deployment view: what a model needs on Loihi 2, from its fixed-point plan and a measured run.

Per population (a Lava process): neurons; fan-in (non-zero incoming weights per neuron, mean and
max); synaptic memory at the widths used (8-bit weights of every incoming Dense stage, stored as
full matrices as Lava's ``Dense`` stores them; a convolution stage stores its kernels only, shared
by every position; plus one ``weight_exp`` byte per stage); neuron
state memory (registers of :func:`zoo.metrics.population_bytes`); messages sent per step,
measured on the given run (spikes of spiking populations; graded populations send every
non-zero value); and an estimate of Loihi 2 neuro-cores.

Per-core limits (:data:`LOIHI2`) come from Intel's published chip figures: 128 neuro-cores per
chip, up to 1 million neurons and 120 million synapses per chip, 128 KB of SRAM per core shared by
synapses and neuron state (Intel Labs, "Taking Neuromorphic Computing to the Next Level with
Loihi 2", technology brief, 2021). Neurons and synapses per core are the chip totals divided by
128: upper bounds (a core's real capacity depends on the neuron program's state size), so the
core count is a lower-bound estimate, never a compiler result.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from zoo.metrics import WEIGHT_BITS, WEIGHT_EXP_BYTES, population_bytes

LOIHI2 = {
    "source": "Intel Labs, 'Taking Neuromorphic Computing to the Next Level with Loihi 2', technology brief (2021)",
    "cores_per_chip": 128,
    "neurons_per_core": 1_048_576 // 128,  # 1M neurons per chip / 128 cores
    "synapses_per_core": 120_000_000 // 128,  # 120M synapses per chip / 128 cores
    "sram_bytes_per_core": 128 * 1024,
}


def _messages_per_step(name: str, run: Any) -> float | None:
    """Mean messages per step and sample sent by population ``name`` in ``run`` (None: not recorded)."""
    if run is None:
        return None
    if name in run.spikes:
        a = np.asarray(run.spikes[name])
    elif name in run.voltages:
        a = np.asarray(run.voltages[name])
    else:
        return None
    b, t = a.shape[0], a.shape[1]
    return float(np.count_nonzero(a) / max(1, b * t))


def _fan_in(fplan: Any, d: Any) -> np.ndarray:
    """Nonzero incoming weights per target neuron of one stage (a convolution stage: nonzero kernel taps
    that land inside the input, through every kernel of its chain)."""
    if hasattr(d, "ops"):
        from exporters.lava.linear_map import fan_in

        return fan_in(fplan.int_ops(d))
    return (np.asarray(fplan.weights[d.name]) != 0).sum(axis=1)


def _stored_weights(fplan: Any, d: Any) -> int:
    """Weights a stage stores: a Dense matrix's entries, or every kernel value of a convolution stage."""
    if hasattr(d, "ops"):
        return int(sum(np.size(getattr(op, "weight", op)) for op in fplan.int_ops(d)))
    return int(np.asarray(fplan.weights[d.name]).size)


def deployment(fplan: Any, run: Any = None) -> dict[str, Any]:
    """Per-population resources of a :class:`exporters.lava.quantize.FixedPlan` and the Loihi 2
    core estimate; ``run`` (an emulator or Lava fixed-point :class:`RunResult`) supplies the
    measured messages per step."""
    plan = fplan.plan
    rows = []
    for name, spec in fplan.neurons.items():
        incoming = [d for d in plan.denses if d.dst == name and d.name in fplan.weights]
        nnz = sum((_fan_in(fplan, d) for d in incoming), np.zeros(spec.n, dtype=np.int64))
        syn_bits = sum(_stored_weights(fplan, d) * WEIGHT_BITS + 8 * WEIGHT_EXP_BYTES for d in incoming)
        state_bytes = population_bytes(spec)
        synapses = int(nnz.sum())
        cores = max(1, math.ceil(spec.n / LOIHI2["neurons_per_core"]),
                    math.ceil(synapses / LOIHI2["synapses_per_core"]),
                    math.ceil((syn_bits / 8 + state_bytes) / LOIHI2["sram_bytes_per_core"]))
        rows.append({"population": name, "kind": spec.kind, "neurons": int(spec.n),
                     "fan_in_mean": float(nnz.mean()) if nnz.size else 0.0, "fan_in_max": int(nnz.max(initial=0)),
                     "synapses": synapses, "synaptic_memory_bits": int(syn_bits),
                     "state_memory_bits": int(8 * state_bytes),
                     "messages_per_step": _messages_per_step(name, run), "loihi2_cores": int(cores)})
    host = [d.name for d in plan.denses if d.name not in fplan.weights]
    return {"populations": rows, "loihi2_cores": int(sum(r["loihi2_cores"] for r in rows)),
            "loihi2_chips": math.ceil(sum(r["loihi2_cores"] for r in rows) / LOIHI2["cores_per_chip"]),
            "host_stages": host, "limits": LOIHI2}


def render(report: dict[str, Any]) -> list[str]:
    """Markdown lines: one row per population, then the totals and the limits' source."""
    lines = ["| population | kind | neurons | fan-in mean / max | synaptic memory (bits) | state memory (bits) | "
             "messages / step | Loihi 2 cores (est.) |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in report["populations"]:
        msg = "-" if r["messages_per_step"] is None else f"{r['messages_per_step']:.2f}"
        lines.append(f"| {r['population']} | {r['kind']} | {r['neurons']:,} | {r['fan_in_mean']:.1f} / {r['fan_in_max']} | "
                     f"{r['synaptic_memory_bits']:,} | {r['state_memory_bits']:,} | {msg} | {r['loihi2_cores']} |")
    lim = report["limits"]
    lines += ["", f"Estimated Loihi 2 neuro-cores: **{report['loihi2_cores']}** "
              f"({report['loihi2_chips']} chip{'s' if report['loihi2_chips'] != 1 else ''}); per-core limits used: "
              f"{lim['neurons_per_core']:,} neurons, {lim['synapses_per_core']:,} synapses, "
              f"{lim['sram_bytes_per_core'] // 1024} KB SRAM, derived from the chip totals of {lim['source']}. "
              "An estimate from published limits, not a Loihi compiler result; messages per step measured on the "
              "fixed-point run of the evaluation."]
    if report["host_stages"]:
        lines.append(f"Stages computed on the host (float readout from voltages): {', '.join(report['host_stages'])}.")
    return lines
