"""Convolutions in the Lava compiler (issue 20, item 1): compile memory vs input size, and the NIR
paper's N-MNIST CNN in Lava fixed point. Called by :mod:`benchmarks.lava.scale`.

Compile memory: one Conv2d (2 -> 16 channels, 3x3, stride 1, padding 1) into an IF population,
input 2 x S x S. *conv* = ``compile_plan`` + ``quantize_plan`` as they are (kernels); *dense* =
the same plan with every convolution stage expanded to its dense matrix through an identity
basis (``ConvSpec.weight``: the earlier compiler's method) and quantised, measured only where
the earlier compiler's own estimate (identity basis + two images of it, float64:
8 n_in (n_in + 2 n_out) bytes) is at most ``dense_limit`` bytes; that estimate is listed for
every size. Memory is the ``tracemalloc`` peak (Python and numpy allocations) of that call.

N-MNIST CNN (``cnn_sinabs.nir`` of github.com/neuromorphs/NIR, ``paper/02_cnn``; its path is an
argument, the file is not part of this repository): run in a fresh process (``python -m
benchmarks.lava.conv_scale cnn PATH``) so that its memory is its own. dt = 1 (Sinabs IAF:
v[t] = v[t-1] + input[t], NIR IF with r = 1). Inputs: random events, Bernoulli(``rate``) per
pixel, polarity and 1-ms step (N-MNIST's 2 x 34 x 34 frame shape; not recorded N-MNIST data).
Reported: peak PSS of the process tree (the run's process and every Lava worker; PSS counts each
shared page once across them) and peak RSS, compile and Lava seconds (spikes recorded, not
voltages), Lava fixed == emulator (spikes and output),
and spike agreement of Lava fixed point with the exact float semantics (the float plan in the
emulator, checked against the independent numpy reference ``exporters.nir.reference``).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
from dataclasses import replace
from pathlib import Path

import numpy as np

SIZES = (16, 32, 64, 128)
C_IN, C_OUT, KERNEL = 2, 16, 3


def conv_graph(size: int):
    import nir

    w = np.random.default_rng(0).normal(0.1, 0.3, (C_OUT, C_IN, KERNEL, KERNEL))
    shape = (C_OUT, size, size)
    return nir.NIRGraph(
        nodes={"input": nir.Input(input_type={"input": np.array([C_IN, size, size])}),
               "conv": nir.Conv2d(input_shape=(size, size), weight=w, stride=1, padding=1, dilation=1, groups=1,
                                  bias=np.zeros(C_OUT)),
               "if": nir.IF(r=np.ones(shape), v_threshold=np.ones(shape), v_reset=np.zeros(shape)),
               "output": nir.Output(output_type={"output": np.array(shape)})},
        edges=[("input", "conv"), ("conv", "if"), ("if", "output")], metadata={"dt": 1.0})


def densified(plan):
    """The plan with every convolution stage replaced by its dense matrix (identity-basis expansion)."""
    from exporters.lava.plan import DenseSpec

    return replace(plan, denses=[DenseSpec(d.name, d.src, d.dst, d.weight, d.recurrent, d.signal, d.delay)
                                 for d in plan.denses])


def _traced(fn):
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1], time.perf_counter() - t0
    finally:
        tracemalloc.stop()


def compile_memory(sizes=SIZES, dense_limit: float = 1.5e9, log=print) -> list[dict]:
    from exporters.lava.plan import compile_plan
    from exporters.lava.quantize import quantize_plan

    rows = []
    for s in sizes:
        g = conv_graph(s)
        n_in, n_out = C_IN * s * s, C_OUT * s * s
        row = {"size": s, "n_in": n_in, "n_out": n_out, "kernel_weights": C_OUT * C_IN * KERNEL ** 2,
               "dense_weights": n_in * n_out, "dense_estimate_bytes": 8 * n_in * (n_in + 2 * n_out)}
        row["conv_peak_bytes"], row["conv_seconds"] = _traced(lambda: quantize_plan(compile_plan(g)))
        if row["dense_estimate_bytes"] <= dense_limit:
            row["dense_peak_bytes"], row["dense_seconds"] = _traced(
                lambda: quantize_plan(densified(compile_plan(g))))
        log(json.dumps(row))
        rows.append(row)
    return rows


def _agreement(a: dict, b: dict) -> dict[str, float]:
    return {n: float((a[n] == b[n]).mean()) for n in a}


def cnn_run(path: str, samples: int, steps: int, rate: float, seed: int) -> dict:
    """Everything measured on the CNN (in this process; see :func:`cnn_result`)."""
    from benchmarks.lava.memory import PssSampler, peak_rss_mib, tree_pss_mib
    from exporters.lava import emulate, run_lava
    from exporters.lava.plan import ConvSpec, compile_plan
    from exporters.lava.quantize import quantize_plan
    from exporters.nir import read
    from exporters.nir.reference import simulate
    from zoo.metrics import fixed_footprint

    row = {"file": Path(path).name, "samples": samples, "steps": steps, "input_rate": rate, "seed": seed, "dt": 1.0,
           "inputs": f"Bernoulli({rate}) events per pixel, polarity and step, 2x34x34 (synthetic, not N-MNIST)",
           "pss_after_imports_mib": tree_pss_mib()}
    x = (np.random.default_rng(seed).random((samples, steps, 2, 34, 34)) < rate).astype(np.float64)
    with PssSampler() as mem:
        t0 = time.perf_counter()
        graph = read(path)
        plan = compile_plan(graph, 1.0)
        fixed = quantize_plan(plan)
        row["compile_seconds"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        lava = run_lava(fixed, x, record_v=False)  # spikes (bit-exactness of voltages: tests/test_lava_conv.py)
        row["lava_seconds"] = time.perf_counter() - t0
    row.update(peak_pss_mib=mem.peak_mib, peak_processes=mem.peak_processes, peak_rss_mib=peak_rss_mib(mem))
    emu_fixed, emu_float = emulate(fixed, x), emulate(plan, x)
    _, ref = simulate(graph, x, 1.0)
    ref_spikes = {n: ref[n].reshape(emu_float.spikes[n].shape) for n in emu_float.spikes}
    row["stages"] = {d.name: ("ConvSpec " + " -> ".join(type(op).__name__ for op in d.ops)) if isinstance(d, ConvSpec)
                     else "DenseSpec" for d in plan.denses}
    row["dense_equivalent_weights"] = int(sum(d.n_in * d.n_out for d in plan.denses))
    row["fixed_weights_bytes"] = fixed_footprint(fixed)["weights"]
    row["weights_zeroed"] = {n: r.weights_zeroed for n, r in fixed.report.items()}
    row["lava_fixed_equals_emulator"] = bool(
        all(np.array_equal(lava.spikes[n], emu_fixed.spikes[n]) for n in emu_fixed.spikes)
        and np.array_equal(lava.output_raw, emu_fixed.output_raw))
    row["float_emulator_vs_reference"] = _agreement(emu_float.spikes, ref_spikes)
    row["fixed_vs_float_spike_agreement"] = _agreement(lava.spikes, emu_float.spikes)
    row["spike_rate_float"] = {n: float(s.mean()) for n, s in emu_float.spikes.items()}
    row["spike_rate_fixed"] = {n: float(s.mean()) for n, s in lava.spikes.items()}
    out = plan.output_src
    counts_fixed, counts_float = lava.spikes[out].sum(axis=1), emu_float.spikes[out].sum(axis=1)
    row["output_spikes_fixed"], row["output_spikes_float"] = int(counts_fixed.sum()), int(counts_float.sum())
    row["class_agreement"] = float((counts_fixed.argmax(1) == counts_float.argmax(1)).mean())
    return row


def cnn_result(path: str, samples: int = 10, steps: int = 300, rate: float = 0.02, seed: int = 0) -> dict:
    """:func:`cnn_run` in a fresh Python process (its memory is measured alone)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cnn.json"
        subprocess.run([sys.executable, "-m", "benchmarks.lava.conv_scale", "cnn", str(path), "--samples",
                        str(samples), "--steps", str(steps), "--rate", str(rate), "--seed", str(seed), "--out",
                        str(out)], check=True)
        return json.loads(out.read_text())


def plot_memory(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = [r["size"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot(s, [r["conv_peak_bytes"] / 2 ** 20 for r in rows], "o-", label="conv (kernels), measured")
    dense = [(r["size"], r["dense_peak_bytes"] / 2 ** 20) for r in rows if "dense_peak_bytes" in r]
    ax.plot(*zip(*dense), "s-", label="dense (identity basis), measured")
    ax.plot(s, [r["dense_estimate_bytes"] / 2 ** 20 for r in rows], "s--", alpha=0.6,
            label="dense, the earlier compiler's estimate")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(s, [f"{v}x{v}" for v in s])
    ax.set_xlabel(f"input size ({C_IN} channels; Conv2d {C_IN}->{C_OUT}, {KERNEL}x{KERNEL})")
    ax.set_ylabel("compile peak memory (MiB)")
    ax.set_title("Compile memory: convolution stages vs dense matrices")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["cnn"])
    ap.add_argument("path")
    ap.add_argument("--samples", type=int, default=10)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--rate", type=float, default=0.02)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    row = cnn_run(args.path, args.samples, args.steps, args.rate, args.seed)
    Path(args.out).write_text(json.dumps(row, indent=2) + "\n")


if __name__ == "__main__":
    main()
