"""BPTT vs HYPR vs e-prop test accuracy for BRF, SE-adLIF and ALIF (short runs, >= 3 seeds).

    python -m benchmarks.hypr.table [--tasks ecg bsd] [--seeds 0 1 2] [--quick]

SHORT RUNS (labelled in the output): ECG on the first ``--ecg-train`` training sequences cropped
to ``--ecg-steps`` steps (test: full test set, same crop), BSD on ``--bsd-train`` sequences;
``--epochs`` epochs each. Online e-prop computes exactly HYPR's update (tests/test_hypr.py), so
it is run only with ``--with-eprop`` (slow: one eligibility update per step).
Writes benchmarks/hypr/results/table.json and table.png.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from benchmarks.hypr.common import run

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", nargs="+", default=["ecg", "bsd"])
    ap.add_argument("--neurons", nargs="+", default=["brf", "seadlif", "alif"])
    ap.add_argument("--rules", nargs="+", default=["bptt", "hypr"])
    ap.add_argument("--with-eprop", action="store_true")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--lam", type=int, default=50)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--ecg-train", type=int, default=160)
    ap.add_argument("--ecg-steps", type=int, default=500)
    ap.add_argument("--bsd-train", type=int, default=480)
    ap.add_argument("--bsd-test", type=int, default=200)
    ap.add_argument("--out", default="table")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    rules = list(args.rules) + (["eprop"] if args.with_eprop else [])
    rows = []
    for task in args.tasks:
        if task == "ecg":
            kw = {"n_train": args.ecg_train, "task_params": {"steps": args.ecg_steps}}
        else:
            kw = {"n_train": args.bsd_train, "n_test": args.bsd_test}
        for neuron in args.neurons:
            for rule in rules:
                for seed in args.seeds:
                    r = run(task, neuron, rule, seed=seed, epochs=args.epochs, lam=args.lam, lr=args.lr,
                            lr_final_frac=0.1, **kw)
                    r.pop("model")
                    rows.append(r)
    summary = []
    for task in args.tasks:
        for neuron in args.neurons:
            entry = {"task": task, "neuron": neuron}
            for rule in rules:
                accs = [r["test"] for r in rows if (r["task"], r["neuron"], r["rule"]) == (task, neuron, rule)]
                entry[rule] = (statistics.mean(accs), statistics.stdev(accs) if len(accs) > 1 else 0.0, len(accs))
            if "bptt" in entry and "hypr" in entry:
                entry["gap_bptt_minus_hypr"] = entry["bptt"][0] - entry["hypr"][0]
            summary.append(entry)
    label = (f"SHORT RUNS: {args.epochs} epochs; ECG: {args.ecg_train} train seqs cropped to {args.ecg_steps} steps; "
             f"BSD: {args.bsd_train} train / {args.bsd_test} test; HYPR lambda={args.lam}; lr={args.lr}; seeds={args.seeds}")
    print(label)
    head = f"{'task':5} {'neuron':8} " + " ".join(f"{r:>16}" for r in rules) + "   BPTT-HYPR gap"
    print(head)
    for e in summary:
        cells = " ".join(f"{100 * e[r][0]:7.2f} ± {100 * e[r][1]:5.2f}" for r in rules)
        gap = f"{100 * e['gap_bptt_minus_hypr']:+7.2f}" if "gap_bptt_minus_hypr" in e else ""
        print(f"{e['task']:5} {e['neuron']:8} {cells}   {gap}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = {"label": label, "args": vars(args), "summary": summary, "runs": rows,
           "date": time.strftime("%Y-%m-%d %H:%M:%S")}
    (RESULTS / f"{args.out}.json").write_text(json.dumps(out, indent=1))
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, len(args.tasks), figsize=(5 * len(args.tasks), 3.5), squeeze=False)
        for ax, task in zip(axes[0], args.tasks):
            es = [e for e in summary if e["task"] == task]
            w = 0.8 / len(rules)
            for k, rule in enumerate(rules):
                ax.bar([i + k * w for i in range(len(es))], [100 * e[rule][0] for e in es], w,
                       yerr=[100 * e[rule][1] for e in es], label=rule)
            ax.set_xticks([i + w * (len(rules) - 1) / 2 for i in range(len(es))], [e["neuron"] for e in es])
            ax.set_title(f"{task} (short runs)")
            ax.set_ylabel("test accuracy (%)")
            ax.legend()
        fig.tight_layout()
        fig.savefig(RESULTS / f"{args.out}.png", dpi=100)
    except Exception as exc:  # plotting is optional
        print("plot failed:", exc)
    return out


if __name__ == "__main__":
    main()
