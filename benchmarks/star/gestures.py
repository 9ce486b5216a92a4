"""Event-task accuracy: generated event-camera gestures (8 classes), 3 seeds.

Models as in recipes/star-gestures.toml (128 recurrent neurons, LI readout of spikes, tau_out
10 steps): STAR trained with TBPTT K=1 (the recipe), the plain LIF-RSNN with TBPTT K=1, and
STAR trained with full BPTT (K = T = 30; same epochs and batch size, so 30x fewer updates).
Target of issue 5: STAR test accuracy >= 90 %.

    python -m benchmarks.star.gestures [--epochs 4] [--seeds 0 1 2]
"""
from __future__ import annotations

import argparse

import numpy as np

from benchmarks.star.common import RESULTS, mean_std, run, save_json

MODEL = dict(n_inputs=512, n_hidden=128, n_outputs=8, readout="li", tau_out=10.0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = ap.parse_args()
    n_updates = args.epochs * 50 * 30
    rows = [("STAR K=1", "star", dict(rule="tbptt", K=1, update_every=1, lr=1e-3, lr_decay=0.17 ** (1 / n_updates))),
            ("plain K=1", "plain", dict(rule="tbptt", K=1, update_every=1, lr=1e-3, lr_decay=0.17 ** (1 / n_updates))),
            ("STAR BPTT", "star", dict(rule="tbptt", K=30, update_every=None, lr=2e-3))]
    results: dict = {"epochs": args.epochs, "seeds": args.seeds, "runs": {}}
    lines = ["| model | test accuracy | hidden spike rate |", "|---|---|---|"]
    for label, variant, learn in rows:
        runs = []
        for seed in args.seeds:
            r = run("gestures", dict(MODEL, variant=variant), learn, args.epochs, 32, seed)
            runs.append(r)
            print(f"{label:10s} seed {seed}: accuracy {r['test_accuracy']:.4f} rate {r['spike_rate']:.3f}"
                  f" ({r['seconds']:.0f}s)", flush=True)
        results["runs"][label] = {"learning": learn, "runs": runs}
        m, s = mean_std([r["test_accuracy"] for r in runs])
        rm, rs = mean_std([r["spike_rate"] for r in runs])
        lines.append(f"| {label} | {100 * m:.2f} ± {100 * s:.2f} % | {rm:.3f} ± {rs:.3f} |")
        save_json("gestures.json", results)
    table = "\n".join(lines)
    print(table)
    (RESULTS / "gestures.md").write_text(table + "\n")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for label in results["runs"]:
        c = np.array([r["test_accuracy_curve"] for r in results["runs"][label]["runs"]])
        ep = np.arange(1, c.shape[1] + 1)
        ax.errorbar(ep, c.mean(0), yerr=c.std(0), label=label, capsize=3)
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy")
    ax.set_title("generated gestures, mean ± std over seeds")
    ax.legend()
    fig.tight_layout()
    fig.savefig(RESULTS / "gestures_accuracy.png", dpi=120)


if __name__ == "__main__":
    main()
