"""Peak memory of one training step vs sequence length T: HYPR (fixed lambda) vs BPTT.

    python -m benchmarks.hypr.memory [--Ts 250 500 1000 2000] [--lam 50]

Each (rule, T) runs in a fresh subprocess; memory = peak RSS (ru_maxrss) of that process minus
the peak RSS of a baseline subprocess that builds the same model and data and runs a no-grad
forward pass. Synthetic random spike inputs (4 channels, 6 classes), BRF, B=32, 36 hidden.
Writes results/memory.json and memory.png.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"

CHILD = r"""
import resource, sys, torch
torch.set_num_threads(1)
from benchmarks.hypr.common import make_learner
from zoo.models.hypr import RecurrentSNN
from zoo.tasks.ecg import TASK
rule, T, lam, B = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.manual_seed(0)
x = (torch.rand(B, T, 4) < 0.08).float(); y = torch.randint(0, 6, (B, T))
m = RecurrentSNN(4, 36, 6, neuron="brf", w_in_gain=80.0, w_rec_gain=80.0)
with torch.no_grad():
    m(x.transpose(0, 1))
if rule != "baseline":
    make_learner(rule, m, TASK, lam=lam, lr=1e-3).step((x, y))
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def measure(rule: str, T: int, lam: int, B: int) -> float:
    out = subprocess.run([sys.executable, "-c", CHILD, rule, str(T), str(lam), str(B)], capture_output=True,
                         text=True, check=True, cwd=Path(__file__).resolve().parents[2])
    return int(out.stdout.strip().splitlines()[-1]) / 1024.0  # MiB


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser()
    ap.add_argument("--Ts", nargs="+", type=int, default=[250, 500, 1000, 2000])
    ap.add_argument("--lam", type=int, default=50)
    ap.add_argument("--batch", type=int, default=32)
    args = ap.parse_args(argv)
    rows = []
    for T in args.Ts:
        base = measure("baseline", T, args.lam, args.batch)
        row = {"T": T, "baseline_MiB": base}
        for rule in ("hypr", "bptt"):
            row[rule + "_MiB"] = measure(rule, T, args.lam, args.batch) - base
        rows.append(row)
        print(f"T={T:5d}  HYPR(lambda={args.lam}) +{row['hypr_MiB']:7.1f} MiB   BPTT +{row['bptt_MiB']:7.1f} MiB"
              f"   (baseline peak RSS {base:.0f} MiB)", flush=True)
    out = {"lam": args.lam, "batch": args.batch, "rows": rows, "date": time.strftime("%Y-%m-%d %H:%M:%S"),
           "method": "peak RSS of a fresh process minus a no-grad-forward baseline process"}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "memory.json").write_text(json.dumps(out, indent=1))
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5, 3.5))
        ax.plot([r["T"] for r in rows], [r["hypr_MiB"] for r in rows], "o-", label=f"HYPR (lambda={args.lam})")
        ax.plot([r["T"] for r in rows], [r["bptt_MiB"] for r in rows], "s-", label="BPTT")
        ax.set_xlabel("sequence length T")
        ax.set_ylabel("extra peak RSS (MiB)")
        ax.legend()
        fig.tight_layout()
        fig.savefig(RESULTS / "memory.png", dpi=100)
    except Exception as exc:
        print("plot failed:", exc)
    return out


if __name__ == "__main__":
    main()
