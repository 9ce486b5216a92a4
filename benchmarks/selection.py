"""Hyper-parameter selection on a holdout of the training split — never the test split.

    ZOO_THREADS=1 python -m benchmarks.selection recipes/stop-digits-conv.toml \\
        --candidate learning.lr=0.0025 --candidate learning.lr=0.01 --candidate learning.epochs=20

Every candidate (the recipe as committed, then one per ``--candidate``, each a group of
``KEY=VALUE`` overrides separated by ``;``, VALUE parsed as TOML) is trained with the recipe's model,
learner, seed and sample order (as ``zoo train``) on the task's ``"fit"`` split and scored on its
``"holdout"`` split (the digits tasks: 80 / 20 % of ``"train"``, stratified). Writes
``benchmarks/results/selection_<recipe>.json`` and ``.md`` (a table: candidate, holdout metric).
The winner is the best holdout metric; a tie goes to the committed recipe (listed first). The
shipped model is then trained on the whole ``"train"`` split with the winner (``zoo train``).
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import time
from pathlib import Path

import torch

from benchmarks.fsdd.val import apply
from zoo.learning import make_learner
from zoo.train import data_orders, evaluate_torch, load_recipe, recipe_parts

RESULTS = Path(__file__).resolve().parent / "results"


def score(recipe: dict, fit: str = "fit", holdout: str = "holdout") -> dict:
    """Train ``recipe`` on ``fit``; return the holdout metric, the sample counts and seconds."""
    seed = int(recipe.get("seed", 0))
    torch.manual_seed(seed)
    entry, task, task_cfg, model, learn = recipe_parts(recipe)
    rule, epochs, batch_size = learn.pop("rule"), int(learn.pop("epochs", 10)), int(learn.pop("batch_size", 64))
    x, y = task.load(fit, **task_cfg)
    learner = make_learner(rule, model, task, **learn)
    t0 = time.time()
    for order in data_orders(len(x), seed, epochs):
        for i in range(0, len(order), batch_size):
            learner.step((x[order[i:i + batch_size]], y[order[i:i + batch_size]]))
    metric = evaluate_torch(model, task.name, task_cfg, split=holdout)
    return {f"holdout_{task.metric_name}": float(metric), "fit_samples": len(x),
            "holdout_samples": len(task.load(holdout, **task_cfg)[1]), "seconds": round(time.time() - t0, 1)}


def table(rows: list[dict], key: str) -> str:
    lines = [f"| candidate | {key} |", "|---|---|"]
    lines += [f"| {r['candidate']}{' (chosen)' if r['chosen'] else ''} | {r[key]:.4f} |" for r in rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("recipe")
    ap.add_argument("--candidate", action="append", default=[], metavar="KEY=VALUE[;KEY=VALUE]")
    ap.add_argument("--out", default=str(RESULTS), help="directory of the .json/.md results")
    args = ap.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("ZOO_THREADS", "1")))
    base = load_recipe(args.recipe)
    rows = []
    for group in ["", *args.candidate]:
        recipe = copy.deepcopy(base)
        overrides = dict(apply(recipe, a.strip()) for a in group.split(";") if a.strip())
        label = "; ".join(f"{k}={v}" for k, v in overrides.items()) or "committed recipe"
        row = {"candidate": label, "overrides": overrides, **score(recipe)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    key = next(k for k in rows[0] if k.startswith("holdout_") and k != "holdout_samples")
    best = max(range(len(rows)), key=lambda i: (rows[i][key], -i))  # ties: the earliest (committed) wins
    for i, r in enumerate(rows):
        r["chosen"] = i == best
    name = base["name"]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = {"recipe": args.recipe, "seed": int(base.get("seed", 0)), "metric": key, "candidates": rows,
              "command": "python -m benchmarks.selection " + " ".join(
                  [args.recipe, *(f"--candidate '{c}'" for c in args.candidate)])}
    (out / f"selection_{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / f"selection_{name}.md").write_text(f"# Selection of {name} on the holdout of the training split\n\n"
                                              f"`{result['command']}`\n\n" + table(rows, key))
    print(table(rows, key))
    return result


if __name__ == "__main__":
    main()
