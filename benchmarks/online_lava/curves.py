"""Learning curves of one online rule trained by the same recipe in torch (float64), inside Lava
(float64 process models, Loihi-style fixed point) and in the fixed-point emulator at other
weight widths; plus the cost of a training step in each.

    python -m benchmarks.online_lava.curves [--recipe recipes/stop-digits-fc-online.toml]

Every backend starts from the same initial parameters and sees the same sample order
(``zoo.train``); the test split is measured ``--evals-per-epoch`` times per epoch in the backend
that learns. Claims checked: final test metric of Lava float within 0.5 points of torch, of
Lava fixed within 3 points. Writes ``results/<recipe name>.{json,png,txt}``.
"""
from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path

import torch

from benchmarks import save_results
from zoo.train import load_recipe, train

RESULTS = Path(__file__).resolve().parent / "results"
TOL = {"lava-float": 0.5, "lava-fixed": 3.0}  # points of the metric (x100)


def run(recipe: dict, backend: str, evals: int, test_samples: int | None, weight_bits: int | None = None) -> dict:
    r = copy.deepcopy(recipe)
    if weight_bits is not None:
        r.setdefault("lava_fixed", {})["weight_bits"] = weight_bits
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.time()
        meta = train(r, tmp, progress=False, backend=backend, evals_per_epoch=evals, test_samples=test_samples,
                     dtype=torch.float64)
        wall = time.time() - t0
    return {"history": meta["meta"]["history"], "seconds": round(wall, 1), "lava": meta["meta"].get("lava")}


def step_cost(recipe: dict, backend: str, samples: int) -> float:
    """Seconds per training time step: ``samples`` training samples, one 1-sample evaluation;
    Lava includes its compile and start-up."""
    r = copy.deepcopy(recipe)
    r["learning"].update(train_samples=samples, epochs=1)
    steps = samples * int(r["task"].get("steps", 1))
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.time()
        train(r, tmp, progress=False, backend=backend, evals_per_epoch=1, test_samples=1, dtype=torch.float64)
        return (time.time() - t0) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", default="recipes/stop-digits-fc-online.toml")
    ap.add_argument("--evals-per-epoch", type=int, default=2)
    ap.add_argument("--test-samples", type=int, default=None, help="default: the whole test split")
    ap.add_argument("--weight-bits", type=int, nargs="*", default=[6, 16],
                    help="extra emulator-fixed runs at these weight widths (precision effect)")
    ap.add_argument("--cost-samples", type=int, default=100)
    args = ap.parse_args()
    recipe = load_recipe(args.recipe)
    metric = None
    curves = {}
    for backend in ("torch", "lava-float", "lava-fixed", "emulator-fixed"):
        print(f"training in {backend} ...", flush=True)
        curves[backend] = run(recipe, backend, args.evals_per_epoch, args.test_samples)
    base_bits = recipe.get("lava_fixed", {}).get("weight_bits", 8)
    for bits in args.weight_bits:
        print(f"training in emulator-fixed, {bits}-bit weights ...", flush=True)
        curves[f"emulator-fixed-w{bits}"] = run(recipe, "emulator-fixed", args.evals_per_epoch, args.test_samples, bits)
    metric = next(k for k in curves["torch"]["history"][-1] if k.startswith("test_"))
    final = {b: c["history"][-1][metric] for b, c in curves.items()}
    claims = {b: {"final_diff_points": round(100 * abs(final[b] - final["torch"]), 3), "tolerance_points": tol,
                  "holds": 100 * abs(final[b] - final["torch"]) <= tol} for b, tol in TOL.items()}
    print("measuring cost per training step ...", flush=True)
    cost = {b: step_cost(recipe, b, args.cost_samples) for b in ("torch", "emulator-float", "emulator-fixed",
                                                                 "lava-float", "lava-fixed")}
    res = {"recipe": args.recipe, "metric": metric, "weight_bits": base_bits, "curves": curves, "final": final,
           "claims": claims, "emulator_fixed_equals_lava_fixed":
               curves["emulator-fixed"]["history"] == curves["lava-fixed"]["history"],
           "seconds_per_step": cost, "cost_samples": args.cost_samples,
           "torch_threads": torch.get_num_threads()}
    save_results(RESULTS, recipe["name"], res, plot, report)


def plot(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4))
    style = {"torch": "k-o", "lava-float": "C0--s", "lava-fixed": "C3-^"}
    for b, c in res["curves"].items():
        xs = [h["epoch"] for h in c["history"]]
        ys = [h[res["metric"]] for h in c["history"]]
        ax.plot(xs, ys, style.get(b, ":."), label=b, alpha=0.9 if b in style else 0.6)
    ax.set_xlabel("epoch")
    ax.set_ylabel(res["metric"].replace("_", " "))
    ax.set_title(f"{Path(res['recipe']).stem}: same rule, same data order")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def report(res: dict) -> str:
    m = res["metric"]
    lines = [f"# {Path(res['recipe']).stem}: {m} during training (same init, same sample order)", "",
             "| backend | " + " | ".join(f"ep {h['epoch']}" for h in res["curves"]["torch"]["history"]) + " | run s |",
             "| --- |" + " --- |" * (len(res["curves"]["torch"]["history"]) + 1)]
    for b, c in res["curves"].items():
        lines.append(f"| {b} | " + " | ".join(f"{h[m]:.4f}" for h in c["history"]) + f" | {c['seconds']} |")
    lines += ["", "| claim | final diff (points) | tolerance | holds |", "| --- | --- | --- | --- |"]
    for b, c in res["claims"].items():
        lines.append(f"| {b} vs torch | {c['final_diff_points']} | {c['tolerance_points']} | {c['holds']} |")
    lines += ["", f"emulator-fixed history == lava-fixed history (bit-exact): {res['emulator_fixed_equals_lava_fixed']}",
              "", f"seconds per training time step ({res['cost_samples']} samples, measured side by side; Lava "
              "includes compile + start-up):", "", "| backend | ms/step | x torch |", "| --- | --- | --- |"]
    t = res["seconds_per_step"]["torch"]
    for b, s in res["seconds_per_step"].items():
        lines.append(f"| {b} | {1e3 * s:.3f} | {s / t:.2f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
