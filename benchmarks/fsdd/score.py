"""Score trained FSDD weights on the validation split (torch), e.g. a `zoo train --out runs/X` result
before shipping it:

    ZOO_DATA_DIR=... python -m benchmarks.fsdd.score runs/hypr-brf-fsdd [--split val]

Prints the task metric and the learning history's length; never used to pick on test."""
from __future__ import annotations

import argparse

from benchmarks.hypr.common import evaluate
from zoo.registry import get_model, get_weights
from zoo.tasks import get_task


def main(argv: list[str] | None = None) -> float:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", help="registered name or path reference (runs/NAME, NAME.json)")
    ap.add_argument("--split", default="val", choices=("train", "val", "test"))
    args = ap.parse_args(argv)
    params = dict(get_weights(args.model).meta["task"])
    task = get_task(params.pop("name"))
    x, y = task.load(args.split, **params)
    acc = evaluate(get_model(args.model).float(), task, x, y)
    print(f"{args.model}: {args.split} {task.metric_name} {acc:.4f} on {len(x)} samples")
    return acc


if __name__ == "__main__":
    main()
