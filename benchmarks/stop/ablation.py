"""STOP ablation on digits: STOP-W / -WT / -WL / -WTL and BPTT on the same network, >= 3 seeds.

Every run trains the recipe (``recipes/stop-digits-<model>.toml``) with ``zoo.train.train``,
overriding only the learning-rule variant and the seed (same optimizer, lr, epochs, batch
size, loss and clamps for every variant; thresholds and/or leaks stay at their initial values
when a variant does not learn them). Also measured per seed, at initialisation on one batch of
64 training samples: the cosine similarity between each STOP variant's update and the full
BPTT gradient of the same parameters.

    python -m benchmarks.stop.ablation                     # fc and conv, seeds 0 1 2
    python -m benchmarks.stop.ablation --models fc --epochs 10
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parents[2]
VARIANTS = ("W", "WT", "WL", "WTL", "BPTT")
LABEL = {"W": "STOP-W", "WT": "STOP-WT", "WL": "STOP-WL", "WTL": "STOP-WTL", "BPTT": "BPTT"}


def init_cosines(recipe: dict, seed: int) -> dict[str, float]:
    """cos(STOP-variant update, BPTT gradient) at initialisation, on the variant's parameters."""
    import torch

    from zoo.learning.stop import bptt_gradients, cosine, stop_gradients
    from zoo.registry import get_entry
    from zoo.tasks import get_task

    torch.manual_seed(seed)
    model = get_entry(recipe["model"]).builder(**recipe.get("model_config", {}))
    task_cfg = {k: v for k, v in recipe["task"].items() if k != "name"}
    x, y = get_task("digits").load("train", n=64, **task_cfg)
    x = x.transpose(0, 1)
    full, _ = bptt_gradients(model, x, y)
    out = {}
    for v in VARIANTS[:-1]:
        g, _ = stop_gradients(model, x, y, v)
        out[v] = cosine(g, full)
    return out


def run(models: list[str], seeds: list[int], epochs: int | None) -> dict:
    import numpy as np
    import torch

    from zoo.train import load_recipe, train

    os.environ["ZOO_THREADS"] = "1"
    torch.set_num_threads(1)
    results: dict = {"seeds": seeds, "models": {}}
    for kind in models:
        base = load_recipe(ROOT / f"recipes/stop-digits-{kind}.toml")
        if epochs is not None:
            base["learning"]["epochs"] = epochs
        runs = {v: [] for v in VARIANTS}
        cos = {v: [] for v in VARIANTS[:-1]}
        for seed in seeds:
            c = init_cosines(base, seed)
            for v in c:
                cos[v].append(c[v])
            for v in VARIANTS:
                recipe = {**base, "seed": seed, "learning": {**base["learning"], "variant": v}}
                t0 = time.time()
                with tempfile.TemporaryDirectory() as tmp:
                    meta = train(recipe, tmp, progress=False)
                hist = meta["meta"]["history"]
                runs[v].append({"seed": seed, "test_accuracy": hist[-1]["test_accuracy"],
                                "curve": [h["test_accuracy"] for h in hist], "seconds": time.time() - t0})
                print(f"  {kind:4s} {LABEL[v]:9s} seed {seed}: test acc {hist[-1]['test_accuracy']:.4f}  "
                      f"({time.time() - t0:.0f}s)", flush=True)
        table = {}
        for v in VARIANTS:
            accs = [r["test_accuracy"] for r in runs[v]]
            table[v] = {"mean": float(np.mean(accs)), "std": float(np.std(accs)),
                        "seconds_mean": float(np.mean([r["seconds"] for r in runs[v]]))}
            if v in cos:
                table[v]["cos_bptt_init_mean"] = float(np.mean(cos[v]))
                table[v]["cos_bptt_init_std"] = float(np.std(cos[v]))
        results["models"][kind] = {"epochs": base["learning"]["epochs"], "runs": runs, "table": table}
    return results


def report(results: dict) -> None:
    for kind, res in results["models"].items():
        print(f"\nstop-digits-{kind}: test accuracy after {res['epochs']} epochs, seeds {results['seeds']} "
              f"(mean ± std); cos = cosine(update, BPTT gradient) at init")
        print(f"{'rule':10s} | {'test accuracy':>17s} | {'cos to BPTT @init':>18s} | {'train s/run':>11s}")
        for v in VARIANTS:
            r = res["table"][v]
            cos = (f"{r['cos_bptt_init_mean']:.4f} ± {r['cos_bptt_init_std']:.4f}" if "cos_bptt_init_mean" in r
                   else f"{'1 (reference)':>18s}")
            print(f"{LABEL[v]:10s} | {100 * r['mean']:6.2f} ± {100 * r['std']:4.2f} % | {cos:>18s} | "
                  f"{r['seconds_mean']:11.1f}")


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    kinds = list(results["models"])
    fig, axes = plt.subplots(len(kinds), 2, figsize=(10, 3.5 * len(kinds)), squeeze=False)
    for row, kind in enumerate(kinds):
        res = results["models"][kind]
        means = [100 * res["table"][v]["mean"] for v in VARIANTS]
        stds = [100 * res["table"][v]["std"] for v in VARIANTS]
        ax = axes[row][0]
        ax.bar([LABEL[v] for v in VARIANTS], means, yerr=stds, capsize=4,
               color=["#9ecae1", "#6baed6", "#4292c6", "#08519c", "#fd8d3c"])
        ax.set_ylim(min(means) - 5, 100)
        ax.set_ylabel("test accuracy [%]")
        ax.set_title(f"stop-digits-{kind} ({len(results['seeds'])} seeds, mean ± std)")
        ax = axes[row][1]
        for v in VARIANTS:
            curves = np.array([r["curve"] for r in res["runs"][v]]) * 100
            ep = np.arange(1, curves.shape[1] + 1)
            ax.plot(ep, curves.mean(0), label=LABEL[v])
            ax.fill_between(ep, curves.mean(0) - curves.std(0), curves.mean(0) + curves.std(0), alpha=0.15)
        ax.set_xlabel("epoch")
        ax.set_ylabel("test accuracy [%]")
        ax.set_ylim(80, 100)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", choices=("fc", "conv"), default=["fc", "conv"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=None, help="override the recipes' epochs")
    args = ap.parse_args(argv)
    results = run(args.models, args.seeds, args.epochs)
    report(results)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = "ablation_" + "_".join(args.models)
    (RESULTS / f"{stem}.json").write_text(json.dumps(results, indent=2) + "\n")
    plot(results, RESULTS / f"{stem}.png")
    print(f"wrote {RESULTS / (stem + '.json')} and {stem}.png")
    return results


if __name__ == "__main__":
    main()
