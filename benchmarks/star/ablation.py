"""STAR-SNN ablation under truncated BPTT K=1 on Mackey-Glass and Lorenz-63 (one-step forecasting).

Variants (64 recurrent neurons, membrane readout, same init scale, same optimiser):
plain LIF-RSNN (fixed homogeneous leak tau=5, fixed threshold, plain surrogate), +adaptation
(learnable heterogeneous leak + adaptive threshold), +SPSG, STAR (both) -- all trained with
TBPTT K=1 with one step of lookback (``--lookback 1``, the default since issue 19: the loss of
step t backpropagates through step t and step t-1, where the spike of step t-1 enters the
recurrence, the reset and the adaptation trace, so SPSG changes the update; see
zoo/learning/tbptt.py; Adam update every step; ``--lookback 0`` is the former reading, state
detached every step) -- and STAR trained with full
BPTT (TBPTT with K = T = 200, which equals BPTT exactly, see tests/test_star.py; minibatches
of 4 windows so it gets a comparable number of updates). Seeds 0, 1, 2. Reports test MSE and
NRMSE (mean ± std), the MSE ratio plain/STAR, per-epoch training-loss curves (PNG), and the
ESN baseline (benchmarks/star/esn.py) on the same splits.

    python -m benchmarks.star.ablation [--epochs 40] [--seeds 0 1 2]
    python -m benchmarks.star.ablation --systems lorenz --suffix _lorenz     # one system per process
    python -m benchmarks.star.ablation --systems lorenz --variants "STAR K=1" --suffix _lz_star  # one row
    python -m benchmarks.star.ablation --merge _mackey_glass _lorenz          # -> results/ablation.*
    python -m benchmarks.star.ablation --K 5 --no-bptt --systems mackey_glass   # K=5 check
      (writes results/ablation_K5.*; the "K=1" labels then mean K=5, see the JSON "K" field)
"""
from __future__ import annotations

import argparse

import numpy as np

from benchmarks.star.common import RESULTS, mean_std, run, save_json

SYSTEMS = {"mackey_glass": 1, "lorenz": 3}
VARIANTS = [("plain K=1", "plain", "k1"), ("+adaptation K=1", "adapt", "k1"), ("+SPSG K=1", "spsg", "k1"),
            ("STAR K=1", "star", "k1"), ("STAR BPTT", "star", "bptt")]


def configs(epochs: int, dim: int, variant: str, rule: str, K: int = 1, lookback: int = 1):
    model_kw = dict(n_inputs=dim, n_outputs=dim, n_hidden=64, variant=variant, input_scale=3.0)
    if rule == "k1":
        learn = dict(rule="tbptt", K=K, update_every=1, lr=1e-3, lr_decay=0.05 ** (1 / (epochs * -(-200 // K))),
                     lookback=lookback)
        return model_kw, learn, 68
    n_updates = epochs * 17
    learn = dict(rule="tbptt", K=200, update_every=None, lr=3e-3, lr_decay=0.05 ** (1 / n_updates))
    return model_kw, learn, 4


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--systems", nargs="+", default=list(SYSTEMS))
    ap.add_argument("--K", type=int, default=1, help="truncation of the non-BPTT rows")
    ap.add_argument("--no-bptt", action="store_true")
    ap.add_argument("--variants", nargs="+", default=None,
                    help="only these rows (labels as in the table, e.g. 'STAR K=1'); one process per row, then --merge")
    ap.add_argument("--lookback", type=int, default=1, help="TBPTT lookback of the non-BPTT rows (0 or 1)")
    ap.add_argument("--suffix", default=None, help="output name suffix (default: '' for K=1, _K<K> otherwise)")
    ap.add_argument("--merge", nargs="+", default=None,
                    help="suffixes of per-system runs to merge into results/ablation.* (no training)")
    args = ap.parse_args()
    if args.merge:
        import json
        parts = [json.loads((RESULTS / f"ablation{m}.json").read_text()) for m in args.merge]
        merged = {k: v for k, v in parts[0].items() if k not in ("runs", "summary")}
        merged.update(suffix="", systems=sorted({s for p in parts for s in p.get("systems", [])}, key=list(SYSTEMS).index),
                      runs={k: v for p in parts for k, v in p["runs"].items()})
        for p in parts[1:]:
            if p["epochs"] != merged["epochs"] or p["seeds"] != merged["seeds"] or p.get("lookback") != merged.get("lookback"):
                raise SystemExit("--merge: the parts differ in epochs, seeds or lookback")
        report(merged)
        for m in args.merge:
            for f in (f"ablation{m}.json", f"ablation{m}.md", f"ablation{m}_loss_curves.png"):
                (RESULTS / f).unlink(missing_ok=True)
        return
    suffix = args.suffix if args.suffix is not None else ("" if args.K == 1 else f"_K{args.K}")
    results: dict = {"epochs": args.epochs, "seeds": args.seeds, "K": args.K, "lookback": args.lookback,
                     "suffix": suffix, "systems": args.systems, "threads": 1, "runs": {}}
    for system in args.systems:
        for label, variant, rule in VARIANTS:
            if (rule == "bptt" and args.no_bptt) or (args.variants and label not in args.variants):
                continue
            model_kw, learn, bs = configs(args.epochs, SYSTEMS[system], variant, rule, args.K, args.lookback)
            runs = []
            for seed in args.seeds:
                r = run(system, model_kw, learn, args.epochs, bs, seed)
                runs.append(r)
                print(f"{system:13s} {label:16s} seed {seed}: MSE {r['test_mse']:.3e} NRMSE {r['test_nrmse']:.4f}"
                      f" rate {r['spike_rate']:.3f} ({r['seconds']:.0f}s)", flush=True)
            results["runs"][f"{system}/{label}"] = {"model": model_kw, "learning": learn, "batch_size": bs,
                                                    "runs": runs}
            save_json(f"ablation{suffix}.json", results)
    if not args.variants:  # one row of a split run: --merge reports
        report(results)


def report(results: dict) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from benchmarks.star.esn import evaluate as esn_eval
    lines = ["| system | model | test MSE | test NRMSE |", "|---|---|---|---|"]
    summary = {}
    systems = sorted({k.split("/")[0] for k in results["runs"]}, key=list(SYSTEMS).index)
    for system in systems:
        for label, _, _ in VARIANTS:
            key = f"{system}/{label}"
            if key not in results["runs"]:
                continue
            runs = results["runs"][key]["runs"]
            m, s = mean_std([r["test_mse"] for r in runs])
            n, ns = mean_std([r["test_nrmse"] for r in runs])
            summary[key] = {"mse": [m, s], "nrmse": [n, ns]}
            lines.append(f"| {system} | {label} | {m:.3e} ± {s:.1e} | {n:.4f} ± {ns:.4f} |")
        for n_res in (64, 500):
            esn = [esn_eval(system, seed, n=n_res) for seed in results["seeds"]]
            m, s = mean_std([r["test_mse"] for r in esn])
            n, ns = mean_std([r["test_nrmse"] for r in esn])
            summary[f"{system}/ESN-{n_res}"] = {"mse": [m, s], "nrmse": [n, ns], "runs": esn}
            lines.append(f"| {system} | ESN-{n_res} ridge | {m:.3e} ± {s:.1e} | {n:.4f} ± {ns:.4f} |")
        from zoo.tasks import get_task
        x, y = get_task(system).load("test")
        from zoo.tasks.forecasting import mse, nrmse
        summary[f"{system}/persistence"] = {"mse": [mse(x, y), 0.0], "nrmse": [nrmse(x, y), 0.0]}
        lines.append(f"| {system} | persistence (y_t = x_t) | {mse(x, y):.3e} | {nrmse(x, y):.4f} |")
        p, st = f"{system}/plain K=1", f"{system}/STAR K=1"
        if p in results["runs"] and st in results["runs"]:
            ratios = [a["test_mse"] / b["test_mse"] for a, b in zip(results["runs"][p]["runs"], results["runs"][st]["runs"])]
            ratio = summary[p]["mse"][0] / summary[st]["mse"][0]
            summary[f"{system}/mse_ratio_plain_over_star"] = {"ratio_of_means": ratio, "per_seed": ratios}
            lines.append(f"| {system} | **MSE ratio plain/STAR (K=1)** | {ratio:.2f}x (per seed: "
                         f"{', '.join(f'{r:.2f}' for r in ratios)}) | |")
    table = "\n".join(lines)
    print(table)
    results["summary"] = summary
    suffix = results.get("suffix", "")
    save_json(f"ablation{suffix}.json", results)
    (RESULTS / f"ablation{suffix}.md").write_text(table + "\n")
    fig, axes = plt.subplots(1, len(systems), figsize=(6 * len(systems), 4), squeeze=False)
    for ax, system in zip(axes[0], systems):
        for label, _, _ in VARIANTS:
            key = f"{system}/{label}"
            if key not in results["runs"]:
                continue
            curves = np.array([r["train_loss"] for r in results["runs"][key]["runs"]])
            m, s = curves.mean(0), curves.std(0)
            ep = np.arange(1, len(m) + 1)
            ax.plot(ep, m, label=label)
            ax.fill_between(ep, m - s, m + s, alpha=0.2)
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("training MSE (mean over epoch)")
        ax.set_title(f"{system}: training loss, mean ± std over {len(results['seeds'])} seeds")
        ax.legend()
    fig.tight_layout()
    fig.savefig(RESULTS / f"ablation{suffix}_loss_curves.png", dpi=120)
    print(f"wrote {RESULTS}/ablation{suffix}.json, .md, _loss_curves.png")


if __name__ == "__main__":
    main()
