"""Peak training memory and time per sample against T: STOP-WTL vs BPTT (docs/papers.md §3 claim:
STOP's memory does not depend on T; BPTT's grows with T).

Measurement (identical for both rules, all in one process with one thread). For each
(rule, T, seed): build model and learner, draw a batch of ``--batch`` digits sequences of
length T (allocated before any measurement, so the input is excluded), run one warm-up step.

* Peak training memory (the headline number): one training step under
  ``torch.profiler`` with ``profile_memory=True``; every allocation/free of torch's CPU
  allocator is attributed to an event; the running sum of ``self_cpu_memory_usage`` over the
  events in start-time order gives the live tensor memory the step added, whose maximum is the
  peak (op granularity). Deterministic for given shapes, so it is measured for the first
  ``--mem-repeats`` seeds only.
* Peak RSS (secondary, noisy: kernel RSS counters are approximate): glibc malloc set with
  ``mallopt`` (blocks >= 64 KiB mmapped and unmapped when freed, heap trimmed), ``gc.collect()``,
  ``malloc_trim(0)``, reset the peak-RSS counter (``echo 5 > /proc/self/clear_refs``), one step,
  VmHWM - VmRSS before it.
* Time per sample: default-like allocator thresholds, median wall time of ``--steps`` steps /
  batch. The machine is shared by other jobs, so times are indicative.

    python -m benchmarks.stop.memory                # fc net, T in 8..256, 3 seeds
    python -m benchmarks.stop.memory --model conv
"""
from __future__ import annotations

import argparse
import ctypes
import gc
import json
import time
from pathlib import Path

from zoo.profiling import profiled_peak_bytes

RESULTS = Path(__file__).resolve().parent / "results"
TS = (8, 16, 32, 64, 128, 256)
_LIBC = ctypes.CDLL("libc.so.6")
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def _allocator(tight: bool) -> None:
    _LIBC.mallopt(M_MMAP_THRESHOLD, 65536 if tight else 32 * 2**20)
    _LIBC.mallopt(M_TRIM_THRESHOLD, 131072 if tight else 32 * 2**20)
    gc.collect()
    _LIBC.malloc_trim(0)


def measure(model_kind: str, variant: str, T: int, batch: int, steps: int, seed: int,
            with_profiler: bool = True) -> dict:
    import torch

    from zoo.learning.stop import STOP
    from zoo.models.stop import stop_digits_conv, stop_digits_fc
    from zoo.tasks import get_task
    from zoo.tasks.digits import load

    torch.manual_seed(seed)
    model = stop_digits_fc() if model_kind == "fc" else stop_digits_conv(v_threshold=0.5)
    learner = STOP(model, get_task("digits"), variant=variant, lr=1e-3)
    x, y = load("train", n=batch, steps=T, encoding="direct", image=(model_kind == "conv"))
    _allocator(tight=True)
    learner.step((x, y))  # warm-up
    tensor_peak = None
    if with_profiler:
        tensor_peak = profiled_peak_bytes(lambda: learner.step((x, y)))
    _allocator(tight=True)
    Path("/proc/self/clear_refs").write_text("5")
    base = _status("VmRSS")
    learner.step((x, y))
    rss_peak = _status("VmHWM") - base
    _allocator(tight=False)
    learner.step((x, y))
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        learner.step((x, y))
        times.append(time.perf_counter() - t0)
    seconds = sorted(times)[len(times) // 2] * steps  # median step (robust to other jobs' load)
    return {"model": model_kind, "variant": variant, "T": T, "seed": seed, "peak_bytes": tensor_peak,
            "rss_peak_bytes": rss_peak,
            "seconds_per_sample": seconds / (steps * batch)}


def _stats(vals: list[float]) -> tuple[float, float]:
    import numpy as np

    return float(np.mean(vals)), float(np.std(vals))


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", choices=("fc", "conv"), default="fc")
    ap.add_argument("--ts", type=int, nargs="+", default=list(TS))
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3, help="seeds for time and RSS")
    ap.add_argument("--mem-repeats", type=int, default=1, help="seeds measured with the profiler")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    rows = []
    for T in args.ts:
        for variant in ("WTL", "BPTT"):
            for seed in range(args.repeats):
                r = measure(args.model, variant, T, args.batch, args.steps, seed, seed < args.mem_repeats)
                rows.append(r)
                pk = f"{r['peak_bytes'] / 2**20:8.2f}" if r["peak_bytes"] is not None else "       -"
                print(f"  {variant:4s} T={T:3d} seed={seed}: tensor peak {pk} MiB  RSS peak "
                      f"{r['rss_peak_bytes'] / 2**20:8.2f} MiB  {r['seconds_per_sample'] * 1e3:7.3f} ms/sample", flush=True)

    summary = {}
    for variant in ("WTL", "BPTT"):
        per_t = {}
        for T in args.ts:
            sel = [r for r in rows if r["variant"] == variant and r["T"] == T]
            m, s = _stats([r["peak_bytes"] / 2**20 for r in sel if r["peak_bytes"] is not None])
            rm, rs = _stats([r["rss_peak_bytes"] / 2**20 for r in sel])
            tm, ts_ = _stats([r["seconds_per_sample"] * 1e3 for r in sel])
            per_t[T] = {"peak_mib_mean": m, "peak_mib_std": s, "rss_mib_mean": rm, "rss_mib_std": rs,
                        "ms_per_sample_mean": tm, "ms_per_sample_std": ts_}
        means = [per_t[T]["peak_mib_mean"] for T in args.ts]
        rss = [per_t[T]["rss_mib_mean"] for T in args.ts]
        summary[variant] = {"per_T": per_t, "max_over_min": max(means) / min(means),
                            "rss_max_over_min": max(rss) / min(rss)}
    T_last = args.ts[-1]
    ratio_last = summary["BPTT"]["per_T"][T_last]["peak_mib_mean"] / summary["WTL"]["per_T"][T_last]["peak_mib_mean"]

    name = {"WTL": "STOP-WTL", "BPTT": "BPTT"}
    print(f"\nPeak training memory (torch CPU allocator, profiler; {args.mem_repeats} seed(s)), peak RSS delta "
          f"and time per sample ({args.repeats} seeds, mean ± std) vs T; {args.model} net, batch {args.batch}")
    print(f"{'T':>5} | {'STOP-WTL MiB':>12} | {'BPTT MiB':>10} | {'STOP RSS MiB':>15} | {'BPTT RSS MiB':>15} | "
          f"{'STOP ms/sample':>16} | {'BPTT ms/sample':>16}")
    for T in args.ts:
        a, b = summary["WTL"]["per_T"][T], summary["BPTT"]["per_T"][T]
        print(f"{T:>5} | {a['peak_mib_mean']:12.3f} | {b['peak_mib_mean']:10.3f} | {a['rss_mib_mean']:6.2f} ± "
              f"{a['rss_mib_std']:6.2f} | {b['rss_mib_mean']:6.2f} ± {b['rss_mib_std']:6.2f} | "
              f"{a['ms_per_sample_mean']:7.3f} ± {a['ms_per_sample_std']:6.3f} | "
              f"{b['ms_per_sample_mean']:7.3f} ± {b['ms_per_sample_std']:6.3f}")
    for v in ("WTL", "BPTT"):
        print(f"{name[v]}: peak memory max/min over T = {summary[v]['max_over_min']:.3f}  "
              f"(peak RSS delta: {summary[v]['rss_max_over_min']:.3f})")
    print(f"BPTT / STOP-WTL peak memory at T={T_last}: {ratio_last:.1f}x")

    RESULTS.mkdir(parents=True, exist_ok=True)
    result = {"model": args.model, "batch": args.batch, "steps": args.steps, "repeats": args.repeats,
              "ts": args.ts, "method": "peak_bytes: torch.profiler profile_memory, max running sum of self_cpu_memory_usage over one training step after a warm-up step; rss_peak_bytes: VmHWM - VmRSS with mallopt thresholds 64/128 KiB",
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
