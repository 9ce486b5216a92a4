"""Emulator vs real Lava fixed point on the same network and inputs: bit-exactness and speed.

    python -m benchmarks.lava.emulator_speed [--samples 64] [--steps 1000]

Cases: the shipped lif-digits network (samples x its steps) and a 256-neuron recurrent LIF
network (1 sample x 1000 steps). Prints one table, writes benchmarks/lava/results/emulator_speed.json.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import nir
import numpy as np


def recurrent_graph(n: int = 256, n_in: int = 32, seed: int = 0) -> nir.NIRGraph:
    rng = np.random.default_rng(seed)
    tau = rng.uniform(5e-3, 2e-2, n)
    nodes = {"input": nir.Input(input_type={"input": np.array([n_in])}),
             "fc": nir.Linear(weight=rng.normal(0, 0.6, (n, n_in))),
             "lif": nir.LIF(tau=tau, r=tau / 1e-3, v_leak=np.zeros(n), v_threshold=np.ones(n), v_reset=np.zeros(n)),
             "rec": nir.Linear(weight=rng.normal(0, 0.08, (n, n))),
             "output": nir.Output(output_type={"output": np.array([n])})}
    edges = [("input", "fc"), ("fc", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": 1e-3})


def measure(name: str, graph: nir.NIRGraph, x: np.ndarray) -> dict:
    from exporters.lava import build_plan, emulate, run_lava

    plan = build_plan(graph, "fixed")
    t0 = time.perf_counter()
    lava = run_lava(plan, x, record_v=True)
    t_lava = time.perf_counter() - t0
    t0 = time.perf_counter()
    emu = emulate(plan, x)
    t_emu = time.perf_counter() - t0
    exact = all(np.array_equal(lava.spikes[k], emu.spikes[k]) for k in emu.spikes) and all(
        np.array_equal(lava.voltages[k], emu.voltages[k]) for k in emu.voltages)
    steps = x.shape[0] * (x.shape[1] + plan.plan.latency)
    return {"case": name, "lava_steps": steps, "bit_exact": bool(exact), "lava_s": t_lava, "emulator_s": t_emu,
            "speedup": t_lava / t_emu, "lava_steps_per_s": steps / t_lava, "emulator_steps_per_s": steps / t_emu,
            "spikes": int(sum(v.sum() for v in emu.spikes.values()))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=64)
    ap.add_argument("--steps", type=int, default=1000)
    args = ap.parse_args()
    import zoo
    from zoo.evaluate import export_graph
    from zoo.tasks.digits import load

    x, _ = load("test", n=args.samples)
    rows = [measure(f"lif-digits {args.samples} samples", export_graph("lif-digits", zoo.get_model("lif-digits")),
                    x.numpy())]
    rng = np.random.default_rng(1)
    rows.append(measure(f"recurrent 256 LIF x {args.steps} steps", recurrent_graph(),
                        (rng.random((1, args.steps, 32)) < 0.2).astype(float)))
    print(f"{'case':34s} {'bit-exact':9s} {'Lava s':>8s} {'emu s':>8s} {'speed-up':>9s} {'Lava steps/s':>12s}")
    for r in rows:
        print(f"{r['case']:34s} {str(r['bit_exact']):9s} {r['lava_s']:8.2f} {r['emulator_s']:8.3f} "
              f"{r['speedup']:9.0f} {r['lava_steps_per_s']:12.0f}")
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "emulator_speed.json").write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
