"""Effect of STOP's leak-update reduction, ``leak_reduction = "sum"`` (exact gradient, default) vs
``"mean"`` (per-neuron mean, the third-party reading of the paper), on a validation split.

    python -m benchmarks.stop.leak_reduction [--recipes stop-digits-fc stop-digits-fc-online]
                                             [--epochs 5 2] [--seeds 0 1 2]

Per recipe, option and seed: the recipe's model, STOP variant, optimizer, lr, batch size and
clamps, trained for ``--epochs`` epochs (one value per recipe, or one for all; short runs, not
the recipes' full schedules) on the
digits training split minus a held-out validation split (20 %, stratified,
``random_state=0``, the same for every run); the score is the validation accuracy after the
last epoch (the test split is not used). Also recorded: each layer's leak alpha at the end.
One thread. Writes results/leak_reduction.json, .png and .txt (the table).
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from benchmarks import save_results

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parents[2]
OPTIONS = ("sum", "mean")


def split(task_cfg: dict):
    """(train inputs, train targets, val inputs, val targets): the digits training split with a
    stratified 20 % validation part held out."""
    import numpy as np
    from sklearn.model_selection import train_test_split

    from zoo.tasks import get_task

    x, y = get_task("digits").load("train", **task_cfg)
    idx_tr, idx_val = train_test_split(np.arange(len(y)), test_size=0.2, random_state=0, stratify=y.numpy())
    return x[idx_tr], y[idx_tr], x[idx_val], y[idx_val]


def run_one(recipe: dict, option: str, seed: int, epochs: int, data) -> dict:
    import torch

    from zoo.learning.stop import STOP
    from zoo.registry import get_entry
    from zoo.tasks import get_task
    from zoo.train import data_orders

    xtr, ytr, xval, yval = data
    torch.manual_seed(seed)
    model = get_entry(recipe["model"]).builder(**recipe.get("model_config", {}))
    learn = {k: v for k, v in recipe["learning"].items() if k not in ("rule", "epochs", "batch_size")}
    learn["leak_reduction"] = option
    task = get_task("digits")
    learner = STOP(model, task, **learn)
    bs = int(recipe["learning"]["batch_size"])
    curve = []
    t0 = time.time()
    for order in data_orders(len(xtr), seed, epochs):
        for i in range(0, len(order), bs):
            idx = order[i:i + bs]
            learner.step((xtr[idx], ytr[idx]))
        model.eval()
        with torch.no_grad():
            curve.append(task.metric(model(xval.transpose(0, 1)).transpose(0, 1), yval))
    return {"seed": seed, "val_accuracy": curve[-1], "curve": curve, "seconds": round(time.time() - t0, 1),
            "alpha": [float(b.lif.alpha.detach()) for b in model.blocks]}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--recipes", nargs="+", default=["stop-digits-fc", "stop-digits-fc-online"])
    ap.add_argument("--epochs", type=int, nargs="+", default=[5, 2],
                    help="epochs per recipe (one value: the same for all)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = ap.parse_args(argv)
    epochs = args.epochs * len(args.recipes) if len(args.epochs) == 1 else args.epochs
    if len(epochs) != len(args.recipes):
        ap.error("--epochs: one value, or one per recipe")
    os.environ["ZOO_THREADS"] = "1"
    import numpy as np
    import torch

    from zoo.train import load_recipe

    torch.set_num_threads(1)
    out = {"seeds": args.seeds, "validation": "20 % of the digits training split, "
           "stratified, random_state=0", "date": time.strftime("%Y-%m-%d %H:%M:%S"), "recipes": {}}
    for name, n_epochs in zip(args.recipes, epochs):
        recipe = load_recipe(ROOT / f"recipes/{name}.toml")
        data = split({k: v for k, v in recipe["task"].items() if k != "name"})
        res = {"optimizer": recipe["learning"].get("optimizer", "adam"), "lr": recipe["learning"]["lr"],
               "batch_size": recipe["learning"]["batch_size"], "variant": recipe["learning"].get("variant", "WTL"),
               "epochs": n_epochs, "runs": {}, "table": {}}
        for opt in OPTIONS:
            runs = []
            for seed in args.seeds:
                r = run_one(recipe, opt, seed, n_epochs, data)
                runs.append(r)
                print(f"  {name} leak_reduction={opt} seed {seed}: val acc {r['val_accuracy']:.4f}  alpha "
                      f"{[round(a, 4) for a in r['alpha']]}  ({r['seconds']:.0f}s)", flush=True)
            accs = [r["val_accuracy"] for r in runs]
            res["runs"][opt] = runs
            res["table"][opt] = {"val_mean": float(np.mean(accs)), "val_std": float(np.std(accs)),
                                 "alpha_mean": [float(np.mean([r["alpha"][i] for r in runs]))
                                                for i in range(len(runs[0]["alpha"]))]}
        out["recipes"][name] = res
    save_results(RESULTS, "leak_reduction", out, plot, report)
    return out


def report(out: dict) -> str:
    lines = [f"validation accuracy after the last epoch, seeds {out['seeds']} (mean ± std over seeds)",
             "| recipe | epochs | optimizer | leak_reduction | val accuracy (%) | final alpha per layer (mean over seeds) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for name, res in out["recipes"].items():
        for opt in OPTIONS:
            t = res["table"][opt]
            lines.append(f"| {name} | {res['epochs']} | {res['optimizer']} lr={res['lr']} B={res['batch_size']} | {opt} | "
                         f"{100 * t['val_mean']:.2f} ± {100 * t['val_std']:.2f} | "
                         f"{', '.join(f'{a:.4f}' for a in t['alpha_mean'])} |")
    return "\n".join(lines)


def plot(out: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, len(out["recipes"]), figsize=(5 * len(out["recipes"]), 3.5), squeeze=False)
    for ax, (name, res) in zip(axes[0], out["recipes"].items()):
        for opt in OPTIONS:
            c = np.array([r["curve"] for r in res["runs"][opt]]) * 100
            ax.errorbar(np.arange(1, c.shape[1] + 1), c.mean(0), yerr=c.std(0), marker="o", capsize=3,
                        label=f"leak_reduction={opt}")
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation accuracy [%]")
        ax.set_title(f"{name} ({res['optimizer']}), {len(out['seeds'])} seeds")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    main()
