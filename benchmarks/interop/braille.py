"""Spike agreement of every backend with the independent NIR reference on a NIR file (the NIR
paper's braille RNNs, paper/03_rnn/*.nir, are what this was written for):

    python -m benchmarks.interop.braille FILE.nir [--dt 1e-4] [--samples 4] [--steps 300] [--p 0.3]
                                         [--seed 0] [--no-lava] [--json]

Inputs: Bernoulli(p) spikes (samples x steps x inputs). Backends: the zoo's torch executor,
Lava float, Lava fixed (real Lava processes), the emulator (fixed point), the emulator with the
fixed-point scale calibrated on the same inputs' float run (``quantize_plan(calibration=...)``:
no 24-bit state saturation) and, in the emulator and in Lava, calibrated with every Dense split
into two 8-bit stages (``quantize_plan(split=True)``, ~15-bit weights). Reported per
backend: the fraction of equal spike entries over all spiking populations, and over the
Output's population alone, against :mod:`exporters.nir.reference`.
"""
from __future__ import annotations

import argparse
import json

import numpy as np


def measure(path: str, dt: float, samples: int, steps: int, p: float, seed: int, lava: bool) -> dict:
    import torch

    from exporters.lava import build_plan, emulate, quantize_plan, run_lava
    from exporters.nir import from_nir, read
    from exporters.nir.reference import Reference

    graph = read(path)
    ref_sim = Reference(graph, dt)
    n_in = int(np.prod(next(iter(graph.nodes[ref_sim.input].input_type.values()))))
    x = (np.random.default_rng(seed).random((samples, steps, n_in)) < p).astype(np.float64)
    _, ref = ref_sim.run(x)
    plan = build_plan(graph, "float", dt=dt)
    pops = [n for n, s in plan.neurons.items() if s.spiking]
    out_pop = plan.output_src if plan.output_kind == "spikes" else None
    spikes: dict[str, dict[str, np.ndarray]] = {}
    ex = from_nir(graph, dt=dt)
    with torch.no_grad():
        ex(torch.from_numpy(x).transpose(0, 1), record=True)
    spikes["torch executor"] = {n: ex.records[n].transpose(0, 1).numpy() for n in pops}
    fixed = build_plan(graph, "fixed", dt=dt)
    cal = emulate(plan, x).state_max
    split = quantize_plan(plan, split=True, calibration=cal)
    runs = {"emulator float": emulate(plan, x), "emulator fixed": emulate(fixed, x),
            "emulator fixed, calibrated": emulate(quantize_plan(plan, calibration=cal), x),
            "emulator fixed, split+calibrated": emulate(split, x)}
    if lava:
        runs["lava float"] = run_lava(plan, x)
        runs["lava fixed"] = run_lava(fixed, x)
        runs["lava fixed, split+calibrated"] = run_lava(split, x)
    spikes.update({k: r.spikes for k, r in runs.items()})
    report: dict = {"file": path, "dt": dt, "inputs": [samples, steps, n_in], "p": p, "seed": seed,
                    "populations": pops, "output_population": out_pop, "reference_rate":
                    {n: float(ref[n].mean()) for n in pops}}
    for name, s in spikes.items():
        eq = sum(int((s[n].reshape(ref[n].shape) == ref[n]).sum()) for n in pops)
        row = {"all": eq / sum(ref[n].size for n in pops)}
        if out_pop:
            row["output"] = float((s[out_pop].reshape(ref[out_pop].shape) == ref[out_pop]).mean())
        report[name] = row
    if lava:
        for a, b in (("lava fixed", "emulator fixed"),
                     ("lava fixed, split+calibrated", "emulator fixed, split+calibrated")):
            report[f"{b} bit-exact with {a}"] = bool(all(np.array_equal(runs[a].spikes[n], runs[b].spikes[n])
                                                         and np.array_equal(runs[a].voltages[n], runs[b].voltages[n])
                                                         for n in pops))
    return report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file")
    ap.add_argument("--dt", type=float, default=1e-4)
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--p", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-lava", action="store_true", help="skip the real Lava runs (emulator only)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    rep = measure(a.file, a.dt, a.samples, a.steps, a.p, a.seed, not a.no_lava)
    if a.json:
        print(json.dumps(rep, indent=2))
        return
    for k, v in rep.items():
        if isinstance(v, dict) and "all" in v:
            print(f"{k:30s} all populations {v['all']:.4f}" + (f"   output {v['output']:.4f}" if "output" in v else ""))
        else:
            print(f"{k:30s} {v}")


if __name__ == "__main__":
    main()
