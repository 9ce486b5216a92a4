"""Sharded evaluation throughput: ``zoo eval NAME --workers N`` for N = 1 and 2.

For each backend, the wall time of :func:`zoo.evaluate.evaluate` restricted to that backend
(``workers=1``: in-process, as ``zoo eval`` without ``--workers``; ``workers=2``: two fresh
worker processes, *including* their start-up, imports and the merge) on the same samples,
repeated ``--repeats`` times. The backend's own ``seconds`` entry and samples/s are reported,
and every sharded result is checked to equal the unsharded one (metric and agreement).

    python -m benchmarks.distributed.eval_sharding                         # lif-digits, 48 samples
    python -m benchmarks.distributed.eval_sharding --backends emulator torch --samples 450
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from benchmarks.distributed import save_results



def run(name: str, samples: int, backends: list[str], repeats: int) -> dict:
    import numpy as np
    import torch

    from zoo.evaluate import evaluate

    os.environ.setdefault("ZOO_THREADS", "1")
    torch.set_num_threads(1)
    res: dict = {"model": name, "samples": samples, "repeats": repeats, "cpu_count": os.cpu_count(), "backends": {}}
    for backend in backends:
        rows = {}
        ref = None
        for workers in (1, 2):
            secs, loads = [], []
            for _ in range(repeats):
                loads.append(os.getloadavg()[0])
                out = evaluate(name, samples, (backend,), workers=workers)
                secs.append(out["backends"][backend]["seconds"])
                value = out["backends"][backend]["value"]
                ref = value if ref is None else ref
                assert value == ref, f"{backend}: sharded metric {value} != unsharded {ref}"
            a = np.array(secs)
            rows[str(workers)] = {"seconds": secs, "mean_s": float(a.mean()), "std_s": float(a.std(ddof=1)) if len(a) > 1 else 0.0,
                                  "samples_per_s": float(samples / a.mean()), "loadavg_1min": loads, "metric": value}
            print(f"{backend} workers={workers}: {a.mean():.2f} ± {rows[str(workers)]['std_s']:.2f} s "
                  f"({samples / a.mean():.1f} samples/s), load {min(loads):.1f}..{max(loads):.1f}", file=sys.stderr)
        ratio = np.array(rows["1"]["seconds"]) / np.array(rows["2"]["seconds"])
        rows["speedup_2_vs_1"] = {"mean": float(ratio.mean()), "std": float(ratio.std(ddof=1)) if len(ratio) > 1 else 0.0}
        res["backends"][backend] = rows
    return res


def report(res: dict) -> str:
    lines = [f"{res['model']}: sharded evaluation of {res['samples']} samples, {res['repeats']} repeats, "
             f"{res['cpu_count']} CPUs (shared); times include worker start-up",
             f"{'backend':12s} {'workers':>7s} {'seconds (mean ± std)':>22s} {'samples/s':>10s}"]
    for b, rows in res["backends"].items():
        for w in ("1", "2"):
            r = rows[w]
            lines.append(f"{b:12s} {w:>7s} {r['mean_s']:12.2f} ± {r['std_s']:<7.2f} {r['samples_per_s']:10.1f}")
        s = rows["speedup_2_vs_1"]
        lines.append(f"{b:12s} speed-up 2 vs 1 workers: {s['mean']:.2f} ± {s['std']:.2f}")
    return "\n".join(lines)


def plot(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    backends = list(res["backends"])
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for j, w in enumerate(("1", "2")):
        ax.bar([i + 0.38 * j for i in range(len(backends))], [res["backends"][b][w]["mean_s"] for b in backends],
               0.36, yerr=[res["backends"][b][w]["std_s"] for b in backends], capsize=3, label=f"{w} worker(s)")
    ax.set_xticks([i + 0.19 for i in range(len(backends))], backends)
    ax.set_ylabel("seconds (incl. worker start-up)")
    ax.set_title(f"{res['model']}: sharded eval of {res['samples']} samples (2 shared cores)", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.distributed.eval_sharding")
    p.add_argument("--name", default="lif-digits")
    p.add_argument("--samples", type=int, default=48)
    p.add_argument("--backends", nargs="+", default=["lava-fixed", "emulator"])
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    res = run(args.name, args.samples, args.backends, args.repeats)
    save_results("eval_sharding", res, plot, report)


if __name__ == "__main__":
    main()
