"""What a network that learned inside Lava fixed point gives when it is then run for inference.

    python -m benchmarks.online_lava.requantise [--recipe recipes/a.toml ...]

For each online recipe: train in ``emulator-fixed`` (bit-exact with ``--backend lava-fixed``,
tests/test_plastic_*), which reports the final test metric measured inside the plastic layers'
own fixed-point format; then evaluate the saved weights on the whole test set in torch and in
the inference path's fixed point (``zoo eval`` backend ``emulator``, bit-exact with Lava fixed),
which re-quantises the learned parameters with the inference quantiser. The difference is the
cost of the two fixed-point formats (the plastic layers' and the inference quantiser's) not
being one. Writes ``results/requantise.{json,txt}`` (a run of some recipes replaces their rows).
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

from zoo.evaluate import evaluate
from zoo.train import load_recipe, train

RESULTS = Path(__file__).resolve().parent / "results"
RECIPES = ("recipes/stop-digits-fc-online.toml", "recipes/star-gestures-online.toml",
           "recipes/eprop-alif-rowdigits.toml")


def measure(path: str) -> dict:
    """Train ``path`` in emulator-fixed and evaluate the result for inference (see module docstring)."""
    recipe = load_recipe(path)
    with tempfile.TemporaryDirectory() as tmp:
        meta = train(recipe, tmp, progress=False, backend="emulator-fixed", dtype=torch.float32)
        key, learned = next(iter(meta["meta"]["metrics"].items()))
        ev = evaluate(str(Path(tmp) / f"{recipe['name']}.json"), samples=None, backends=("torch", "emulator"))
    return {"recipe": path, "metric": key, "samples": ev["samples"], "test_set_size": ev["test_set_size"],
            "learned_fixed": learned, "torch": ev["backends"]["torch"]["value"],
            "inference_fixed": ev["backends"]["emulator"]["value"]}


def report(rows: list[dict]) -> str:
    lines = ["| recipe | test samples | learned in fixed point (plastic format) | same weights, torch | "
             "same weights, inference fixed point | inference - learned (points) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {Path(r['recipe']).stem} | {r['samples']} | {r['learned_fixed']:.4f} | {r['torch']:.4f} | "
                     f"{r['inference_fixed']:.4f} | {100 * (r['inference_fixed'] - r['learned_fixed']):+.2f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", action="append", help="repeatable; default: the three online recipes")
    args = ap.parse_args()
    out = RESULTS / "requantise.json"
    rows = {r["recipe"]: r for r in (json.loads(out.read_text()) if out.exists() else [])}
    for path in args.recipe or RECIPES:
        print(f"{path} ...", flush=True)
        rows[path] = measure(path)
    rows = [rows[k] for k in sorted(rows)]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "requantise.json").write_text(json.dumps(rows, indent=2) + "\n")
    text = report(rows)
    (RESULTS / "requantise.txt").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
