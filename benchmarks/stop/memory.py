"""Peak training memory and time per sample against T: STOP-WTL vs BPTT (papers.md §3 claim:
STOP's memory does not depend on T; BPTT's grows with T).

Measurement (identical for both rules, one benchmark run): every (rule, T, repeat) runs in a
fresh worker process with one thread: build the model and learner, run one warm-up training
step with the same T (allocates optimizer state and lazy library buffers; glibc malloc runs
with fixed ``MALLOC_MMAP_THRESHOLD_=65536`` and ``MALLOC_TRIM_THRESHOLD_=131072`` so that freed
memory leaves the resident set), ``gc.collect()``, reset the
kernel's peak-RSS counter (``echo 5 > /proc/self/clear_refs``), read ``VmRSS``, run
``--steps`` training steps on a batch of ``--batch`` digits sequences of length T, read
``VmHWM``. Peak training memory = VmHWM - VmRSS before the steps (bytes of resident memory the
step added at its peak: activations/graph for BPTT, traces and one step's tensors for STOP;
the input batch is allocated before and is excluded). Time per sample = wall time of the
measured steps / (steps * batch), from a second worker run with the default allocator settings
(the tuned ones cost page faults; the machine is shared, so times are indicative).

    python -m benchmarks.stop.memory                # fc net, T in 8..256, 3 repeats
    python -m benchmarks.stop.memory --model conv
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
TS = (8, 16, 32, 64, 128, 256)


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def worker(model_kind: str, variant: str, T: int, batch: int, steps: int, seed: int) -> dict:
    import torch

    torch.set_num_threads(1)
    from zoo.learning.stop import STOP
    from zoo.models.stop import stop_digits_conv, stop_digits_fc
    from zoo.tasks import get_task
    from zoo.tasks.digits import load

    torch.manual_seed(seed)
    model = stop_digits_fc() if model_kind == "fc" else stop_digits_conv(v_threshold=0.5)
    learner = STOP(model, get_task("digits"), variant=variant, lr=1e-3)
    x, y = load("train", n=batch, steps=T, encoding="direct", image=(model_kind == "conv"))
    learner.step((x, y))  # warm-up at the same T: steady-state allocator, optimizer state
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")
    base = _status("VmRSS")
    t0 = time.perf_counter()
    for _ in range(steps):
        learner.step((x, y))
    seconds = time.perf_counter() - t0
    peak = _status("VmHWM") - base
    return {"model": model_kind, "variant": variant, "T": T, "seed": seed, "peak_bytes": peak,
            "seconds_per_sample": seconds / (steps * batch)}


def _stats(vals: list[float]) -> tuple[float, float]:
    import numpy as np

    return float(np.mean(vals)), float(np.std(vals))


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", choices=("fc", "conv"), default="fc")
    ap.add_argument("--ts", type=int, nargs="+", default=list(TS))
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--worker", nargs=3, metavar=("VARIANT", "T", "SEED"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        variant, T, seed = args.worker
        print(json.dumps(worker(args.model, variant, int(T), args.batch, args.steps, int(seed))))
        return {}

    # fixed glibc thresholds: blocks >= 64 KiB are mmapped (and unmapped when freed), freed heap
    # is trimmed, so resident memory follows live memory instead of the allocator's history
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "131072"}
    # timing runs use the default allocator (the tuned one adds page faults to every step)
    time_env = {k: v for k, v in env.items() if not k.startswith("MALLOC_")}
    rows = []
    for T in args.ts:
        for variant in ("WTL", "BPTT"):
            for seed in range(args.repeats):
                cmd = [sys.executable, "-m", "benchmarks.stop.memory", "--model", args.model, "--batch",
                       str(args.batch), "--steps", str(args.steps), "--worker", variant, str(T), str(seed)]
                runs = [json.loads(subprocess.run(cmd, capture_output=True, text=True, env=e, check=True,
                                                  cwd=Path(__file__).resolve().parents[2]).stdout.strip()
                                   .splitlines()[-1]) for e in (env, time_env)]
                rows.append({**runs[0], "seconds_per_sample": runs[1]["seconds_per_sample"]})
                print(f"  {variant:4s} T={T:3d} seed={seed}: peak {rows[-1]['peak_bytes'] / 2**20:8.2f} MiB  "
                      f"{rows[-1]['seconds_per_sample'] * 1e3:7.3f} ms/sample", flush=True)

    summary = {}
    for variant in ("WTL", "BPTT"):
        per_t = {}
        for T in args.ts:
            sel = [r for r in rows if r["variant"] == variant and r["T"] == T]
            m, s = _stats([r["peak_bytes"] / 2**20 for r in sel])
            tm, ts_ = _stats([r["seconds_per_sample"] * 1e3 for r in sel])
            per_t[T] = {"peak_mib_mean": m, "peak_mib_std": s, "ms_per_sample_mean": tm, "ms_per_sample_std": ts_}
        means = [per_t[T]["peak_mib_mean"] for T in args.ts]
        summary[variant] = {"per_T": per_t, "max_over_min": max(means) / min(means)}
    T_last = args.ts[-1]
    ratio_last = summary["BPTT"]["per_T"][T_last]["peak_mib_mean"] / summary["WTL"]["per_T"][T_last]["peak_mib_mean"]

    name = {"WTL": "STOP-WTL", "BPTT": "BPTT"}
    print(f"\nPeak training memory and time per sample vs T ({args.model} net, batch {args.batch}, "
          f"{args.repeats} repeats, mean ± std)")
    print(f"{'T':>5} | {'STOP-WTL MiB':>16} | {'BPTT MiB':>16} | {'STOP ms/sample':>16} | {'BPTT ms/sample':>16}")
    for T in args.ts:
        a, b = summary["WTL"]["per_T"][T], summary["BPTT"]["per_T"][T]
        print(f"{T:>5} | {a['peak_mib_mean']:7.2f} ± {a['peak_mib_std']:6.2f} | {b['peak_mib_mean']:7.2f} ± "
              f"{b['peak_mib_std']:6.2f} | {a['ms_per_sample_mean']:7.3f} ± {a['ms_per_sample_std']:6.3f} | "
              f"{b['ms_per_sample_mean']:7.3f} ± {b['ms_per_sample_std']:6.3f}")
    for v in ("WTL", "BPTT"):
        print(f"{name[v]}: peak memory max/min over T = {summary[v]['max_over_min']:.3f}")
    print(f"BPTT / STOP-WTL peak memory at T={T_last}: {ratio_last:.1f}x")

    RESULTS.mkdir(parents=True, exist_ok=True)
    result = {"model": args.model, "batch": args.batch, "steps": args.steps, "repeats": args.repeats,
              "ts": args.ts, "method": "fresh process per run; VmHWM - VmRSS around the measured steps",
              "rows": rows, "summary": summary, f"bptt_over_stop_at_T{T_last}": ratio_last}
    stem = f"memory_{args.model}"
    (RESULTS / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for v in ("WTL", "BPTT"):
        pt = summary[v]["per_T"]
        axes[0].errorbar(args.ts, [pt[T]["peak_mib_mean"] for T in args.ts],
                         yerr=[pt[T]["peak_mib_std"] for T in args.ts], marker="o", label=name[v], capsize=3)
        axes[1].errorbar(args.ts, [pt[T]["ms_per_sample_mean"] for T in args.ts],
                         yerr=[pt[T]["ms_per_sample_std"] for T in args.ts], marker="o", label=name[v], capsize=3)
    for ax, lab in zip(axes, ("peak training memory [MiB]", "time per sample [ms]")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("time steps T")
        ax.set_ylabel(lab)
        ax.legend()
    fig.suptitle(f"STOP vs BPTT, {args.model} net, batch {args.batch}")
    fig.tight_layout()
    fig.savefig(RESULTS / f"{stem}.png", dpi=120)
    print(f"wrote {RESULTS / (stem + '.json')} and {stem}.png")
    return result


if __name__ == "__main__":
    main()
