"""Learning curves of one online rule trained by the same recipe in torch (float64), inside Lava
(float64 process models, Loihi-style fixed point) and in the fixed-point emulator at other
weight widths; plus the cost of a training step in each.

    python -m benchmarks.online_lava.curves [--recipe recipes/stop-digits-fc-online.toml]
    python -m benchmarks.online_lava.curves --recipe ... --reproduce   # re-run the curves, compare

``--reproduce`` re-runs only the learning curves (torch, Lava float, Lava fixed, emulator fixed)
with the current code and compares every history point's metric and the final metric with the
stored results file exactly, and the mean training loss to 1e-9 relative (a sum whose order
depends on the thread count); exit status 1 if any differs; the report goes to
``results/<name>.reproduce.txt``.

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

import numpy as np
import torch

from benchmarks import save_results
from zoo.train import load_recipe, train

RESULTS = Path(__file__).resolve().parent / "results"
TOL = {"lava-float": 0.5, "lava-fixed": 3.0}  # points of the metric (x100)


def run(recipe: dict, backend: str, evals: int, test_samples: int | None, weight_bits: int | None = None,
        round_seed: int | None = None, seed: int | None = None) -> dict:
    r = copy.deepcopy(recipe)
    if weight_bits is not None:
        r.setdefault("lava_fixed", {})["weight_bits"] = weight_bits
    if round_seed is not None:
        r.setdefault("lava_fixed", {})["round_seed"] = round_seed
    if seed is not None:
        r["seed"] = seed
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.time()
        meta = train(r, tmp, progress=False, backend=backend, evals_per_epoch=evals, test_samples=test_samples,
                     dtype=torch.float64)
        wall = time.time() - t0
    return {"history": meta["meta"]["history"], "test": meta["meta"]["metrics"], "seconds": round(wall, 1),
            "lava": meta["meta"].get("lava")}


def load_task_steps(recipe: dict) -> int:
    """Time steps per sample of the recipe's task."""
    from zoo.tasks import get_task

    task_cfg = {k: v for k, v in recipe["task"].items() if k != "name"}
    return int(get_task(recipe["task"]["name"]).load("train", n=1, **task_cfg)[0].shape[1])


def _timed_train(recipe: dict, backend: str, samples: int) -> float:
    r = copy.deepcopy(recipe)
    r["learning"].update(train_samples=samples, epochs=1)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.time()
        train(r, tmp, progress=False, backend=backend, evals_per_epoch=1, test_samples=1, dtype=torch.float64)
        return time.time() - t0


def step_cost(recipe: dict, backend: str, samples: int) -> float:
    """Marginal seconds per training time step: (time for 3n samples - time for n) / (2n T), so
    fixed costs (Lava compile and start-up, data loading, file output) cancel; best of two
    repetitions (the first torch call in a process pays one-off initialisation)."""
    steps = load_task_steps(recipe)
    return min((_timed_train(recipe, backend, 3 * samples) - _timed_train(recipe, backend, samples))
               / (2 * samples * steps) for _ in range(2))


def divergence(recipe: dict, every: int, epochs: int) -> list[list[float]]:
    """[[samples seen, max |parameter difference|], ...] between the torch learner (float64) and
    the float plastic layers (Lava float's arithmetic, run by the emulator) on the same samples:
    how fast float64 rounding-order differences grow during training."""
    from exporters.lava.plastic.rules import plastic_pass, update_every_step
    from exporters.lava.plastic.run import Schedule, emulate
    from exporters.nir.export import to_nir
    from zoo.learning import make_learner
    from zoo.registry import get_entry
    from zoo.tasks import get_task
    from zoo.train import data_orders
    from zoo.train_lava import step_targets, with_label_steps

    learn = {k: v for k, v in recipe["learning"].items() if k not in ("rule", "epochs", "batch_size", "train_samples")}
    rule, batch = recipe["learning"]["rule"], int(recipe["learning"].get("batch_size", 1))
    task_cfg = {k: v for k, v in recipe["task"].items() if k != "name"}
    task = get_task(recipe["task"]["name"])
    x, y = task.load("train", **task_cfg)
    n = int(recipe["learning"].get("train_samples") or len(x))
    x, y = x[:n], y[:n]
    idx = torch.cat(data_orders(n, int(recipe.get("seed", 0)), epochs))
    torch.manual_seed(int(recipe.get("seed", 0)))
    model = get_entry(recipe["model"]).builder(**recipe.get("model_config", {})).double()
    steps = int(x.shape[1])
    targets = step_targets(task.name, y, steps)
    layers = plastic_pass(to_nir(model, float(recipe["dt"])), rule, model, steps,
                          with_label_steps(rule, learn, targets, "recipe"), False, int(recipe.get("seed", 0)))
    cps = tuple(range(0, len(idx) + 1, every))
    sched = Schedule(x.numpy()[idx], targets[idx], np.ones(len(idx), bool), batch,
                     update_every_step=update_every_step(rule, learn))
    emu = emulate(layers, sched, checkpoints=cps)
    learner = make_learner(rule, model, task, **learn)
    out = []
    for i in range(0, len(idx) + 1, batch):
        if i in emu.checkpoints:
            state = dict(model.named_parameters())
            out.append([i, max(float(np.max(np.abs(v - state[k].detach().numpy())))
                               for k, v in emu.checkpoints[i].items() if k in state)])
        if i < len(idx):
            b = idx[i:i + batch]
            learner.step((x[b].double(), y[b]))
    return out


def reproduce(recipe: dict, evals: int, test_samples: int | None) -> int:
    """Re-run the stored backends' curves; write and print a comparison; 0 if all are identical."""
    import json

    stored = json.loads((RESULTS / f"{recipe['name']}.json").read_text())
    lines = [f"# {recipe['name']}: stored curves re-run with the current code", "",
             "| backend | history points | metric points identical | final stored | final now | "
             "max relative loss difference |", "| --- | --- | --- | --- | --- | --- |"]
    same = True
    for backend in ("torch", "lava-float", "lava-fixed", "emulator-fixed"):
        print(f"re-running {backend} ...", flush=True)
        now = run(recipe, backend, evals, test_samples)
        old, final = stored["curves"][backend], next(iter(now["test"].values()))
        metric = [{k: v for k, v in h.items() if k != "loss"} for h in old["history"]]
        ok = metric == [{k: v for k, v in h.items() if k != "loss"} for h in now["history"]] \
            and final == stored["final"][backend]
        loss = max(abs(a["loss"] - b["loss"]) / abs(a["loss"]) for a, b in zip(old["history"], now["history"]))
        same &= ok and loss < 1e-9  # the mean training loss may differ in its last bits (summation order)
        lines.append(f"| {backend} | {len(old['history'])} | {ok} | {stored['final'][backend]:.4f} | {final:.4f} | "
                     f"{loss:.1e} |")
    text = "\n".join(lines)
    (RESULTS / f"{recipe['name']}.reproduce.txt").write_text(text + "\n")
    print(text)
    return 0 if same else 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", default="recipes/stop-digits-fc-online.toml")
    ap.add_argument("--evals-per-epoch", type=int, default=2)
    ap.add_argument("--test-samples", type=int, default=None, help="default: the whole test split")
    ap.add_argument("--weight-bits", type=int, nargs="*", default=[4, 6, 8, 12, 16],
                    help="emulator-fixed runs at these weight widths (precision effect)")
    ap.add_argument("--seeds", type=int, default=3,
                    help="rounding seeds per weight width; as many init/order seeds for the float spread")
    ap.add_argument("--cost-samples", type=int, default=100)
    ap.add_argument("--divergence-every", type=int, default=400, help="samples between parameter comparisons")
    ap.add_argument("--divergence-only", action="store_true",
                    help="recompute only the divergence table of an existing results file")
    ap.add_argument("--reproduce", action="store_true",
                    help="re-run the learning curves and compare them with the stored results file")
    args = ap.parse_args()
    recipe = load_recipe(args.recipe)
    if args.reproduce:
        raise SystemExit(reproduce(recipe, args.evals_per_epoch, args.test_samples))
    if args.divergence_only:
        import json

        res = json.loads((RESULTS / f"{recipe['name']}.json").read_text())
        res["divergence"] = divergence(recipe, args.divergence_every, int(recipe["learning"].get("epochs", 1)))
        save_results(RESULTS, recipe["name"], res, plot, report)
        return
    metric = None
    curves = {}
    for backend in ("torch", "lava-float", "lava-fixed", "emulator-fixed"):
        print(f"training in {backend} ...", flush=True)
        curves[backend] = run(recipe, backend, args.evals_per_epoch, args.test_samples)
    rule = recipe["learning"]["rule"]
    if rule in ("eprop", "hypr"):  # the same update by another algorithm: rounding order alone differs
        alt = copy.deepcopy(recipe)
        steps = int(load_task_steps(recipe))
        alt["learning"].update(rule="hypr", lam=steps)
        print(f"training in torch, HYPR lambda = {steps} ...", flush=True)
        curves[f"torch-hypr-lam{steps}"] = run(alt, "torch", args.evals_per_epoch, args.test_samples)
    print("parameter divergence torch vs float layers ...", flush=True)
    diverge = divergence(recipe, args.divergence_every, int(recipe["learning"].get("epochs", 1)))
    base_bits = recipe.get("lava_fixed", {}).get("weight_bits", 8)
    # curves: validation split when the task has one; finals: the test split, read once after training
    metric = next(k for k in curves["torch"]["history"][-1] if k.startswith(("val_", "test_")))
    final_metric = next(iter(curves["torch"]["test"]))
    final = {b: c["test"][final_metric] for b, c in curves.items()}
    precision = {}
    for bits in args.weight_bits:
        print(f"emulator-fixed, {bits}-bit weights, {args.seeds} rounding seeds ...", flush=True)
        finals = [run(recipe, "emulator-fixed", 1, args.test_samples, bits, round_seed=1000 + s)["test"][final_metric]
                  for s in range(args.seeds)]
        precision[f"w{bits}"] = {"finals": finals, "mean": float(np.mean(finals)), "std": float(np.std(finals))}
    print(f"emulator-float, {args.seeds} init/order seeds ...", flush=True)
    finals = [run(recipe, "emulator-float", 1, args.test_samples, seed=1000 + s)["test"][final_metric]
              for s in range(args.seeds)]
    precision["float (other init/order seeds)"] = {"finals": finals, "mean": float(np.mean(finals)),
                                                   "std": float(np.std(finals))}
    claims = {b: {"final_diff_points": round(100 * abs(final[b] - final["torch"]), 3), "tolerance_points": tol,
                  "holds": 100 * abs(final[b] - final["torch"]) <= tol} for b, tol in TOL.items()}
    print("measuring cost per training step ...", flush=True)
    cost = {b: step_cost(recipe, b, args.cost_samples) for b in ("torch", "emulator-float", "emulator-fixed",
                                                                 "lava-float", "lava-fixed")}
    alt = next((b for b in curves if b.startswith("torch-hypr")), None)
    if alt:
        claims[f"{alt} vs torch (same update, other rounding order)"] = {
            "final_diff_points": round(100 * abs(final[alt] - final["torch"]), 3), "tolerance_points": None,
            "holds": None}
    res = {"recipe": args.recipe, "metric": metric, "final_metric": final_metric, "weight_bits": base_bits,
           "curves": curves, "final": final,
           "precision": precision, "seeds": args.seeds, "divergence": diverge,
           "claims": claims, "emulator_fixed_equals_lava_fixed":
               curves["emulator-fixed"]["history"] == curves["lava-fixed"]["history"],
           "seconds_per_step": cost, "cost_samples": args.cost_samples,
           "torch_threads": torch.get_num_threads()}
    save_results(RESULTS, recipe["name"], res, plot, report)


def plot(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 4), gridspec_kw={"width_ratios": [3, 2]})
    style = {"torch": "k-o", "lava-float": "C0--s", "lava-fixed": "C3-^"}
    for b, c in res["curves"].items():
        xs = [h["epoch"] for h in c["history"]]
        ys = [h[res["metric"]] for h in c["history"]]
        ax.plot(xs, ys, style.get(b, ":."), label=b, alpha=0.9 if b in style else 0.6)
    ax.set_xlabel("epoch")
    ax.set_ylabel(res["metric"].replace("_", " "))
    ax.set_title(f"{Path(res['recipe']).stem}: same rule, same data order", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    widths = {int(k[1:]): p for k, p in res["precision"].items() if k.startswith("w")}
    bits = sorted(widths)
    ax2.errorbar(bits, [widths[b]["mean"] for b in bits], yerr=[widths[b]["std"] for b in bits], fmt="C3-o",
                 capsize=3, label="fixed point (emulator)")
    flt = next(p for k, p in res["precision"].items() if not k.startswith("w"))
    ax2.axhspan(flt["mean"] - flt["std"], flt["mean"] + flt["std"], color="C0", alpha=0.2, label="float, seed spread")
    ax2.set_xlabel("weight bits")
    ax2.set_title(f"final {res.get('final_metric', res['metric']).replace('_', ' ')} vs weight precision", fontsize=10)
    ax2.grid(alpha=0.3)
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def report(res: dict) -> str:
    m = res["metric"]
    lines = [f"# {Path(res['recipe']).stem}: {m} during training (same init, same sample order)", "",
             "| backend | " + " | ".join(f"ep {h['epoch']:.2f}" for h in res["curves"]["torch"]["history"])
             + " | run s |",
             "| --- |" + " --- |" * (len(res["curves"]["torch"]["history"]) + 1)]
    for b, c in res["curves"].items():
        lines.append(f"| {b} | " + " | ".join(f"{h[m]:.4f}" for h in c["history"]) + f" | {c['seconds']} |")
    lines += ["", "| claim | final diff (points) | tolerance | holds |", "| --- | --- | --- | --- |"]
    for b, c in res["claims"].items():
        name = b if " vs " in b else f"{b} vs torch"
        tol = "-" if c["tolerance_points"] is None else c["tolerance_points"]
        holds = "-" if c["holds"] is None else c["holds"]
        lines.append(f"| {name} | {c['final_diff_points']} | {tol} | {holds} |")
    lines += ["", "Max |parameter difference|, torch (float64) vs the float plastic layers (Lava float's arithmetic), "
              "same samples:", "", "| samples | " + " | ".join(str(d[0]) for d in res["divergence"]) + " |",
              "| --- |" + " --- |" * len(res["divergence"]),
              "| max diff | " + " | ".join(f"{d[1]:.1e}" for d in res["divergence"]) + " |"]
    lines += ["", f"Weight precision (emulator-fixed, bit-exact to Lava fixed; final {res.get('final_metric', m)}, "
              f"{res['seeds']} "
              "stochastic-rounding seeds each; last row: float with other init/order seeds = the spread of the rule "
              "itself):", "", "| weights | mean | std | runs |", "| --- | --- | --- | --- |"]
    for k, p in res["precision"].items():
        lines.append(f"| {k} | {p['mean']:.4f} | {p['std']:.4f} | {', '.join(f'{v:.4f}' for v in p['finals'])} |")
    lines += ["", f"emulator-fixed history == lava-fixed history (bit-exact): {res['emulator_fixed_equals_lava_fixed']}",
              "", f"marginal seconds per training time step (3x{res['cost_samples']} minus {res['cost_samples']} "
              "samples, measured side by side in one run, so start-up and Lava compile cancel):", "", "| backend | ms/step | x torch |", "| --- | --- | --- |"]
    t = res["seconds_per_step"]["torch"]
    for b, s in res["seconds_per_step"].items():
        lines.append(f"| {b} | {1e3 * s:.3f} | {s / t:.2f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
