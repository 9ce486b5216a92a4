"""Throughput (training samples per second) of HYPR for several lambda vs online e-prop vs BPTT.

    python -m benchmarks.hypr.throughput [--neuron brf] [--task ecg] [--repeats 3]

One gradient computation + optimizer step per batch (B=16, ECG: T=1300, 36 hidden BRF), median
and mean ± std over ``--repeats`` timed batches after one warm-up, single thread. HYPR (any
lambda) and online e-prop compute the identical update (tests/test_hypr.py), so "equal results"
holds by construction; BPTT computes the exact gradient. NOTE: timings on a shared machine;
the load average at start/end is recorded. Writes results/throughput.json and .png.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch

from benchmarks.hypr.common import DEFAULT_GAIN, N_OUT, make_learner
from zoo.models.hypr import RecurrentSNN
from zoo.tasks import get_task

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", default="ecg")
    ap.add_argument("--neuron", default="brf")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--lams", nargs="+", type=int, default=[10, 25, 50, 100, 200])
    ap.add_argument("--eprop-steps", type=int, default=None,
                    help="time e-prop on a crop of this many steps and scale (it is linear in T)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    task = get_task(args.task)
    x, y = task.load("train", n=args.batch)
    T = x.shape[1]
    configs = [("bptt", None)] + [("hypr", lam) for lam in args.lams] + [("eprop", None)]
    rows = []
    load0 = os.getloadavg()
    for rule, lam in configs:
        torch.manual_seed(0)
        model = RecurrentSNN(x.shape[-1], 36, N_OUT[args.task], neuron=args.neuron,
                             w_in_gain=DEFAULT_GAIN[args.neuron], w_rec_gain=DEFAULT_GAIN[args.neuron])
        learner = make_learner(rule, model, task, lam=lam or 1, lr=1e-3)
        xb, yb, scale = x, y, 1.0
        if rule == "eprop" and args.eprop_steps:
            xb, yb, scale = x[:, :args.eprop_steps], y[:, :args.eprop_steps], T / args.eprop_steps
        learner.step((xb[:, :min(50, xb.shape[1])], yb[:, :min(50, xb.shape[1])]))  # warm-up
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            learner.step((xb, yb))
            times.append((time.perf_counter() - t0) * scale)
        sps = [args.batch / t for t in times]
        rows.append({"rule": rule, "lam": lam, "seconds_per_batch": times, "samples_per_s_mean": statistics.mean(sps),
                     "samples_per_s_std": statistics.stdev(sps) if len(sps) > 1 else 0.0,
                     "samples_per_s_median": statistics.median(sps), "extrapolated_from_steps": args.eprop_steps
                     if rule == "eprop" else None})
        print(f"{rule:6} lam={str(lam):>5}  {statistics.mean(sps):8.2f} ± {rows[-1]['samples_per_s_std']:6.2f} samples/s"
              f"  (median {statistics.median(sps):.2f}; s/batch {statistics.mean(times):.2f})", flush=True)
    ep = next(r for r in rows if r["rule"] == "eprop")["samples_per_s_median"]
    for r in rows:
        r["speedup_vs_eprop"] = r["samples_per_s_median"] / ep
    print("speed-up vs online e-prop (medians): " + ", ".join(
        f"{r['rule']}{'' if r['lam'] is None else ' lam=' + str(r['lam'])}: {r['speedup_vs_eprop']:.1f}x" for r in rows))
    out = {"task": args.task, "neuron": args.neuron, "batch": args.batch, "T": T, "rows": rows,
           "loadavg_start": load0, "loadavg_end": os.getloadavg(), "date": time.strftime("%Y-%m-%d %H:%M:%S")}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "throughput.json").write_text(json.dumps(out, indent=1))
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 3.5))
        hy = [r for r in rows if r["rule"] == "hypr"]
        ax.errorbar([r["lam"] for r in hy], [r["samples_per_s_mean"] for r in hy],
                    yerr=[r["samples_per_s_std"] for r in hy], marker="o", label="HYPR")
        for r, ls in ((rows[0], "--"), (rows[-1], ":")):
            ax.axhline(r["samples_per_s_mean"], ls=ls, color="k" if r["rule"] == "bptt" else "r", label=r["rule"])
        ax.set_xscale("log")
        ax.set_xlabel("lambda (sub-sequence length)")
        ax.set_ylabel("samples / s")
        ax.set_title(f"{args.neuron} on {args.task}, B={args.batch}, T={T}")
        ax.legend()
        fig.tight_layout()
        fig.savefig(RESULTS / "throughput.png", dpi=100)
    except Exception as exc:
        print("plot failed:", exc)
    return out


if __name__ == "__main__":
    main()
