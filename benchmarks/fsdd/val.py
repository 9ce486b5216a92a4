"""Train a recipe on the FSDD train split and score it on the *validation* split (index 5-9) after
every epoch — the hyper-parameter search never looks at the test split.

    ZOO_DATA_DIR=... ZOO_THREADS=1 python -m benchmarks.fsdd.val recipes/lif-fsdd.toml \\
        [--set learning.lr=0.005 --set model_config.n_hidden=256 ...] [--json OUT.json]

``--set KEY=VALUE`` overrides one recipe key (VALUE parsed as TOML, e.g. ``0.5``, ``"delta"``,
``[1, 2]``). Prints one line per epoch (loss, val accuracy, seconds) and, with ``--json``, writes
the curve and the overrides. Same model builder, learner, seed and sample order as ``zoo train``.
"""
from __future__ import annotations

import argparse
import json
import os
import time

import torch

from benchmarks.hypr.common import evaluate
from zoo.learning import make_learner
from zoo.train import data_orders, load_recipe, recipe_parts

try:
    import tomllib  # type: ignore[import-not-found]
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


def apply(recipe: dict, assignment: str) -> tuple[str, object]:
    key, _, text = assignment.partition("=")
    value = tomllib.loads(f"v = {text}")["v"]
    *path, last = key.split(".")
    table = recipe
    for p in path:
        table = table.setdefault(p, {})
    table[last] = value
    return key, value


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("recipe")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    recipe = load_recipe(args.recipe)
    overrides = dict(apply(recipe, a) for a in args.set)
    torch.set_num_threads(int(os.environ.get("ZOO_THREADS", "1")))
    seed = int(recipe.get("seed", 0))
    torch.manual_seed(seed)
    entry, task, task_cfg, model, learn = recipe_parts(recipe)
    rule, epochs, batch_size = learn.pop("rule"), int(learn.pop("epochs")), int(learn.pop("batch_size"))
    x, y = task.load("train", **task_cfg)
    xv, yv = task.load("val", **task_cfg)
    learner = make_learner(rule, model, task, **learn)
    curve, t0 = [], time.time()
    for epoch, order in enumerate(data_orders(len(x), seed, epochs)):
        losses = [learner.step((x[order[i:i + batch_size]], y[order[i:i + batch_size]]))["loss"]
                  for i in range(0, len(order), batch_size)]
        acc = evaluate(model, task, xv, yv)
        curve.append({"epoch": epoch + 1, "loss": sum(losses) / len(losses), "val_accuracy": acc,
                      "seconds": round(time.time() - t0, 1)})
        print(f"epoch {epoch + 1}/{epochs}  loss {curve[-1]['loss']:.4f}  val {acc:.4f}  ({curve[-1]['seconds']}s)",
              flush=True)
    out = {"recipe": args.recipe, "seed": seed, "overrides": overrides, "val_samples": len(xv),
           "train_samples": len(x), "curve": curve}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    return out


if __name__ == "__main__":
    main()
