"""Evaluate a registered model on every backend side by side and measure their agreement.

Backends: ``torch`` (the trained module, float32), ``lava-float`` and ``lava-fixed`` (real
Lava processes from the NIR export, one Lava run for all samples), ``emulator`` (numpy twin of
the fixed-point Lava network). Agreement is measured on the same inputs against the NIR graph
simulated in torch float64 (``exporters.nir.from_nir``), per spiking population, after latency
alignment. This module imports Lava only through ``exporters.lava`` when a Lava backend runs.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from zoo.pipeline import Pipeline, calibration_inputs, export_graph, load_eval_data, torch_outputs  # noqa: F401
from zoo.registry import ZooError
from zoo.stats import bootstrap_ci

BACKENDS = ("torch", "lava-float", "lava-fixed", "emulator")
_torch_outputs = torch_outputs  # the name benchmarks used


def input_shape(name: str) -> tuple[int, ...]:
    """See :attr:`zoo.pipeline.Pipeline.input_shape`."""
    return Pipeline(name).input_shape


def test_set_size(name: str) -> int:
    """Number of samples in the model's whole test split."""
    return Pipeline(name).test_set_size


def spike_match(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    """Fraction of equal neuron-steps over all spiking populations present in both."""
    keys = sorted(set(a) & set(b))
    if not keys:
        return float("nan")
    # populations of conv layers: (B, T, C, H, W) in the torch records, (B, T, n) in Lava runs
    eq = sum(int((np.asarray(a[k]).reshape(np.shape(b[k])) == np.asarray(b[k])).sum()) for k in keys)
    return eq / sum(np.asarray(a[k]).size for k in keys)


# Measured: batched Lava costs ~0.04 ms per sample-step on long runs (hypr-brf-ecg 141 x 1300 steps in
# 7.1 s) and 0.4 ms on short ones where start-up dominates (lif-digits 300 x 16 in 2.0 s; both
# `python -m benchmarks.lava.scale`, results/scale.json); we take 0.1 ms. A second worker adds ~21 s of start-up
# (Lava import, compile, fork; `python -m benchmarks.distributed.eval_sharding`). Sharding pays only
# beyond ~42 s of Lava work: rarely since runs are batched.
LAVA_SECONDS_PER_STEP = 0.0001
WORKER_STARTUP_SECONDS = 21.0


def auto_workers(samples: int, steps: int, cpus: int | None = None) -> int:
    """Processes for the Lava backends: 2 (or more, up to the CPUs) only when the estimated Lava
    time saved exceeds the measured start-up cost of the extra workers, else 1."""
    import os

    cpus = cpus if cpus is not None else (os.cpu_count() or 1)
    est = samples * steps * LAVA_SECONDS_PER_STEP
    best = 1
    for w in range(2, max(1, cpus) + 1):
        if est / w + (w - 1) * WORKER_STARTUP_SECONDS < est / best + (best - 1) * WORKER_STARTUP_SECONDS:
            best = w
    return best


def evaluate_with_lava_subset(name: str | Pipeline, samples: int | None, lava_samples: int,
                              backends: tuple[str, ...] = BACKENDS, **kw: Any) -> dict[str, Any]:
    """torch and the emulator on ``samples`` (None: the whole test set), the Lava backends on the
    first ``lava_samples`` of them (with the emulator again, so bit-exactness and the Lava
    agreement are measured on the same inputs): the emulator makes whole-test-set fixed point cheap."""
    name = name if isinstance(name, Pipeline) else Pipeline(name)
    fast = tuple(b for b in backends if b in ("torch", "emulator"))
    slow = tuple(b for b in backends if b.startswith("lava"))
    res = evaluate(name, samples, fast, **kw)
    if not slow or lava_samples >= res["samples"]:
        return evaluate(name, samples, backends, **kw) if slow else res
    sub = evaluate(name, lava_samples, slow + ("emulator",), **kw)
    for b in slow:
        res["backends"][b] = {**sub["backends"][b], "samples": sub["samples"]}
    res["lava_samples"] = sub["samples"]
    res["agreement_lava_subset"] = sub["agreement"]
    return res


def evaluate(name: str | Pipeline, samples: int | None = 300, backends: tuple[str, ...] = BACKENDS,
             log=lambda msg: None, workers: int | None = 1, shard_all: bool = False) -> dict[str, Any]:
    """Metric per backend and agreement figures; the JSON layout of ``zoo eval --json``.

    ``name``: a model reference or its :class:`~zoo.pipeline.Pipeline` (whose plans are then
    reused). ``workers > 1``: the Lava backends' samples are sharded over that many processes
    and the outputs merged in sample order (:func:`zoo.shards.sharded_outputs`); ``workers=None``
    picks the count by :func:`auto_workers`. The emulator and torch stay in this process (sharding
    them only adds start-up time) unless ``shard_all``."""
    for b in backends:
        if b not in BACKENDS:
            raise ZooError(f"unknown backend {b!r}; choose from {', '.join(BACKENDS)}")
    pipe = name if isinstance(name, Pipeline) else Pipeline(name)
    task = pipe.task
    x, y = pipe.data("test", samples)
    result: dict[str, Any] = {"model": pipe.name, "weights_sha256": pipe.weights.sha256, "samples": int(len(x)),
                              "test_set_size": pipe.test_set_size,
                              "metric": task.metric_name, "higher_is_better": task.higher_is_better,
                              "backends": {}, "agreement": {}}
    if workers is None:
        workers = auto_workers(len(x), int(x.shape[1])) if {"lava-float", "lava-fixed"} & set(backends) else 1
    if workers > 1:
        from zoo.shards import sharded_outputs

        result["workers"] = int(workers)
    out = None
    if "torch" in backends:
        t0 = time.time()
        out = (sharded_outputs("torch", pipe.name, None, x, workers) if workers > 1 and shard_all
               else pipe.torch_outputs(x))
        result["backends"]["torch"] = {"value": task.metric(out, y), "seconds": round(time.time() - t0, 3),
                                       "ci95": bootstrap_ci(task.metric, out, y)}
        log(f"torch: {result['backends']['torch']['value']:.4f}")
    lava_backends = [b for b in backends if b != "torch"]
    if not lava_backends:
        return result
    from exporters.lava import emulate, run_lava
    if workers > 1:  # same calls, samples sharded over processes, merged in sample order
        run_lava = lambda plan, xin: sharded_outputs("lava", pipe.name, plan, xin, workers)  # noqa: E731
        if shard_all:
            emulate = lambda plan, xin: sharded_outputs("emulator", pipe.name, plan, xin, workers)  # noqa: E731
    from exporters.lava.quantize import quantize_inputs
    from exporters.nir import NIRError
    from exporters.nir.executor import is_spiking

    ref = pipe.reference()
    with torch.no_grad():
        ref_out = ref(x.transpose(0, 1).double(), record=True).transpose(0, 1)
    pops = {n for n, node in ref.nodes.items() if is_spiking(node)}
    ref_spikes = {n: ref.records[n].transpose(0, 1).numpy() for n in pops}
    if out is not None:
        result["agreement"]["torch_fp32_vs_nir_fp64_output_max_abs_diff"] = float(
            np.abs(out.double().numpy() - ref_out.numpy()).max()) if out.shape == ref_out.shape else float("nan")
    x_fixed, frac_bits, in_err = quantize_inputs(x.numpy())
    if frac_bits:
        result["input_quantization"] = {"frac_bits": frac_bits, "max_abs_rounding_error": in_err}
    plans, runs = {}, {}
    for backend in lava_backends:
        precision = "float" if backend == "lava-float" else "fixed"
        try:
            plans[precision] = plan = pipe.plan(precision, frac_bits)
            xin = x.numpy() if precision == "float" else x_fixed
            t0 = time.time()
            run = emulate(plan, xin) if backend == "emulator" else run_lava(plan, xin)
        except NIRError as exc:  # a backend this model cannot use yet: say why, keep the others
            result["backends"][backend] = {"value": None, "seconds": None, "error": str(exc)}
            log(f"{backend}: unavailable: {exc}")
            continue
        runs[backend] = run
        value = task.metric(torch.from_numpy(run.output), y)
        result["backends"][backend] = {"value": value, "seconds": round(time.time() - t0, 3),
                                       "ci95": bootstrap_ci(task.metric, torch.from_numpy(run.output), y)}
        log(f"{backend}: {value:.4f} ({time.time() - t0:.1f}s)")
    _agreement(result, runs, plans, ref, ref_out.numpy(), ref_spikes)
    if "fixed" in plans:
        from zoo.hardware import deployment

        result["quantization"] = {k: v.as_dict() for k, v in plans["fixed"].report.items()}
        result["hardware"] = deployment(plans["fixed"], runs.get("emulator") or runs.get("lava-fixed"))
    from zoo.metrics import from_evaluation, spike_match_per_step  # NeuroBench-style, docs/metrics.md

    result["agreement_per_step"] = {f"spike_match_{b.replace('-', '_')}_vs_torch": spike_match_per_step(r.spikes, ref_spikes)
                                    for b, r in runs.items()}
    result["neurobench"] = from_evaluation(pipe.model, pipe.graph, x.numpy(), ref_spikes, runs, plans)
    return result


def _agreement(result: dict[str, Any], runs: dict[str, Any], plans: dict[str, Any], ref, ref_out: np.ndarray,
               ref_spikes: dict[str, np.ndarray]) -> None:
    """Agreement of every Lava-side run with the float64 NIR reference, into ``result``."""
    agr = result["agreement"]
    for backend, run in runs.items():
        key = backend.replace("-", "_")
        agr[f"spike_match_{key}_vs_torch"] = spike_match(run.spikes, ref_spikes)
        agr[f"output_max_abs_diff_{key}_vs_torch"] = float(np.abs(run.output - ref_out).max())
        plan = plans["float" if backend == "lava-float" else "fixed"]
        plan = plan.plan if hasattr(plan, "plan") else plan
        sd = [n for n, sp in plan.neurons.items() if sp.kind == "sigma_delta"]
        if sd:  # graded spikes: does a delta event happen at the same neuron-steps?
            agr[f"event_match_{key}_vs_torch"] = float(np.mean([
                ((run.voltages[n] != 0) == (np.diff(ref.records[n].transpose(0, 1).numpy(), axis=1, prepend=0) != 0)
                 ).mean() for n in sd]))
    if "lava-float" in runs:
        agr["voltage_max_abs_diff_lava_float_vs_torch"] = float(max(
            (np.abs(runs["lava-float"].voltages[n] - ref.records[n].transpose(0, 1).numpy()).max()
             for n in runs["lava-float"].voltages
             if not plans["float"].neurons[n].spiking and plans["float"].neurons[n].params is None), default=0.0))
    if "lava-fixed" in runs and "emulator" in runs:
        a, b = runs["lava-fixed"], runs["emulator"]
        agr["emulator_bit_exact"] = bool(
            all(np.array_equal(a.spikes[k], b.spikes[k]) for k in b.spikes)
            and all(np.array_equal(a.voltages[k], b.voltages[k]) for k in b.voltages)
            and np.array_equal(a.output_raw, b.output_raw))
        agr["emulator_speedup_vs_lava_fixed"] = round(result["backends"]["lava-fixed"]["seconds"]
                                                      / max(result["backends"]["emulator"]["seconds"], 1e-9), 1)
    if plans:
        agr["latency_steps"] = int(plans["float"].latency if "float" in plans else plans["fixed"].plan.latency)
