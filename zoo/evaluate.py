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

from zoo.registry import ZooError, get_entry, get_model, get_weights
from zoo.stats import bootstrap_ci
from zoo.tasks import get_task

BACKENDS = ("torch", "lava-float", "lava-fixed", "emulator")


def export_graph(name: str, model: torch.nn.Module | None = None):
    """The NIR graph of registered model ``name`` with its numerical contract in metadata."""
    from exporters.nir import to_nir

    w = get_weights(name)
    model = model if model is not None else get_model(name)
    dt = w.meta.get("dt")
    if dt is None:
        raise ZooError(f"model {name!r}: weights metadata has no dt")
    contract = {k: v for k, v in w.meta.get("contract", {}).items()}
    return to_nir(model, dt=dt, metadata={"model": name, "recipe": w.recipe, "sha256": w.sha256, **contract},
                  input_shape=input_shape(name))


def input_shape(name: str) -> tuple[int, ...]:
    """Shape of one input step (without batch and time): from the weights metadata (written by
    ``zoo train``), so exporting and card rendering need no data; else from one test sample."""
    shape = get_weights(name).meta.get("input_shape")
    if shape is not None:
        return tuple(int(d) for d in shape)
    x, _ = load_eval_data(name, 1)
    return tuple(x.shape[2:])


def load_eval_data(name: str, samples: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    w = get_weights(name)
    params = dict(w.meta.get("task", {}))
    task = get_task(params.pop("name", get_entry(name).task))
    return task.load("test", n=samples, **params)


def test_set_size(name: str) -> int:
    """Number of samples in the model's whole test split."""
    return int(len(load_eval_data(name, None)[1]))


def calibration_inputs(name: str, frac_bits: int, n: int = 32) -> np.ndarray:
    """A few *training* samples (never the evaluation set) on the fixed-point input grid, run
    once in float to bound the state of populations without a threshold."""
    w = get_weights(name)
    params = dict(w.meta.get("task", {}))
    task = get_task(params.pop("name", get_entry(name).task))
    x, _ = task.load("train", n=n, **params)
    x = x.numpy().astype(np.float64)
    return x if frac_bits == 0 else np.round(x * 2 ** frac_bits) / 2 ** frac_bits


def _torch_outputs(model: torch.nn.Module, x: torch.Tensor, batch: int = 256) -> torch.Tensor:
    outs = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            outs.append(model(x[i:i + batch].transpose(0, 1)).transpose(0, 1))
    return torch.cat(outs)


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


def evaluate_with_lava_subset(name: str, samples: int | None, lava_samples: int,
                              backends: tuple[str, ...] = BACKENDS, **kw: Any) -> dict[str, Any]:
    """torch and the emulator on ``samples`` (None: the whole test set), the Lava backends on the
    first ``lava_samples`` of them (with the emulator again, so bit-exactness and the Lava
    agreement are measured on the same inputs): the emulator makes whole-test-set fixed point cheap."""
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


def evaluate(name: str, samples: int | None = 300, backends: tuple[str, ...] = BACKENDS,
             log=lambda msg: None, workers: int | None = 1, shard_all: bool = False) -> dict[str, Any]:
    """Metric per backend and agreement figures; the JSON layout of ``zoo eval --json``.

    ``workers > 1``: the Lava backends' samples are sharded over that many processes and the
    outputs merged in sample order (:func:`zoo.distributed.sharded_outputs`); ``workers=None``
    picks the count by :func:`auto_workers`. The emulator and torch stay in this process (sharding
    them only adds start-up time) unless ``shard_all``."""
    for b in backends:
        if b not in BACKENDS:
            raise ZooError(f"unknown backend {b!r}; choose from {', '.join(BACKENDS)}")
    entry = get_entry(name)
    task = get_task(get_weights(name).meta.get("task", {}).get("name", entry.task))
    model = get_model(name)
    x, y = load_eval_data(name, samples)
    result: dict[str, Any] = {"model": name, "weights_sha256": get_weights(name).sha256, "samples": int(len(x)),
                              "test_set_size": test_set_size(name),
                              "metric": task.metric_name, "higher_is_better": task.higher_is_better,
                              "backends": {}, "agreement": {}}
    runs: dict[str, Any] = {}
    if workers is None:
        workers = auto_workers(len(x), int(x.shape[1])) if {"lava-float", "lava-fixed"} & set(backends) else 1
    if workers > 1:
        from zoo.distributed import sharded_outputs

        result["workers"] = int(workers)
    if "torch" in backends:
        t0 = time.time()
        out = (sharded_outputs("torch", name, None, x, workers) if workers > 1 and shard_all
               else _torch_outputs(model, x))
        result["backends"]["torch"] = {"value": task.metric(out, y), "seconds": round(time.time() - t0, 3),
                                       "ci95": bootstrap_ci(task.metric, out, y)}
        log(f"torch: {result['backends']['torch']['value']:.4f}")
    lava_backends = [b for b in backends if b != "torch"]
    if not lava_backends:
        return result
    from exporters.lava import build_plan, emulate, run_lava
    if workers > 1:  # same calls, samples sharded over processes, merged in sample order
        run_lava = lambda plan, xin: sharded_outputs("lava", name, plan, xin, workers)  # noqa: E731
        if shard_all:
            emulate = lambda plan, xin: sharded_outputs("emulator", name, plan, xin, workers)  # noqa: E731
    from exporters.nir import NIRError, from_nir

    graph = export_graph(name, model)
    ref = from_nir(graph)
    with torch.no_grad():
        ref_out = ref(x.transpose(0, 1).double(), record=True).transpose(0, 1)
    from exporters.nir.executor import is_spiking

    pops = {n for n, node in ref.nodes.items() if is_spiking(node)}
    ref_spikes = {n: ref.records[n].transpose(0, 1).numpy() for n in pops}
    if "torch" in backends:
        result["agreement"]["torch_fp32_vs_nir_fp64_output_max_abs_diff"] = float(
            np.abs(out.double().numpy() - ref_out.numpy()).max()) if out.shape == ref_out.shape else float("nan")
    from exporters.lava.quantize import quantize_inputs

    x_fixed, frac_bits, in_err = quantize_inputs(x.numpy())
    if frac_bits:
        result["input_quantization"] = {"frac_bits": frac_bits, "max_abs_rounding_error": in_err}
    calib = calibration_inputs(name, frac_bits)
    plans = {}
    for backend in lava_backends:
        precision = "float" if backend == "lava-float" else "fixed"
        try:
            if precision not in plans:
                plans[precision] = build_plan(graph, precision, input_frac_bits=frac_bits,
                                              calibrate=calib if precision == "fixed" else None)
            plan = plans[precision]
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
    agr = result["agreement"]
    for backend, run in runs.items():
        key = backend.replace("-", "_")
        agr[f"spike_match_{key}_vs_torch"] = spike_match(run.spikes, ref_spikes)
        agr[f"output_max_abs_diff_{key}_vs_torch"] = float(np.abs(run.output - ref_out.numpy()).max())
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
    if "fixed" in plans:
        from zoo.hardware import deployment

        result["quantization"] = {k: v.as_dict() for k, v in plans["fixed"].report.items()}
        result["hardware"] = deployment(plans["fixed"], runs.get("emulator") or runs.get("lava-fixed"))
    from zoo.metrics import from_evaluation, spike_match_per_step  # NeuroBench-style, docs/metrics.md

    result["agreement_per_step"] = {f"spike_match_{b.replace('-', '_')}_vs_torch": spike_match_per_step(r.spikes, ref_spikes)
                                    for b, r in runs.items()}
    result["neurobench"] = from_evaluation(model, graph, x.numpy(), ref_spikes, runs, plans)
    return result
