"""HYPR models on the Lava backends: task metric of torch (fp32 module), the NIR graph (fp64
torch executor), Lava float and Lava fixed point, and their spike agreement.

Lava float and Lava fixed are measured through their numpy twins (``exporters.lava.emulate``
on the float and fixed plans): tests/test_hypr_lava.py checks on real Lava runs that the float
twin equals Lava float and that the fixed twin equals Lava fixed bit for bit, and
``zoo eval NAME --samples N --json`` measures the real Lava runs on a few samples (ECG has
T = 1300 steps; the Lava simulator is far too slow for the whole test set here). The
evaluation is deterministic (shipped weights, fixed test set): one run, no seeds.

    python -m benchmarks.hypr.lava_agreement [--samples N] [--models hypr-brf-ecg ...]
writes benchmarks/hypr/results/lava_agreement.{json,png}.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).resolve().parent / "results"
MODELS = ("hypr-brf-ecg", "hypr-seadlif-ecg", "hypr-brf-bsd")


def measure(name: str, samples: int | None, batch: int = 64) -> dict:
    from exporters.lava import build_plan, emulate
    from exporters.nir import from_nir
    from zoo.evaluate import export_graph, load_eval_data, spike_match
    from zoo.registry import get_entry, get_model, get_weights
    from zoo.tasks import get_task

    w = get_weights(name)
    task = get_task(w.meta.get("task", {}).get("name", get_entry(name).task))
    model = get_model(name).eval()
    x, y = load_eval_data(name, samples)
    graph = export_graph(name, model)
    ref = from_nir(graph)
    pf, pq = build_plan(graph, "float"), build_plan(graph, "fixed")
    outs = {k: [] for k in ("torch", "nir_fp64", "lava_float", "lava_fixed")}
    match = {"lava_float": [], "lava_fixed": []}
    per_step = []  # fixed vs NIR spike agreement per time step, summed over samples and neurons
    t0 = time.time()
    for i in range(0, len(x), batch):
        xb = x[i:i + batch]
        with torch.no_grad():
            outs["torch"].append(model(xb.transpose(0, 1)).transpose(0, 1).double())
            outs["nir_fp64"].append(ref(xb.transpose(0, 1).double(), record=True).transpose(0, 1))
        zr = {"cell": ref.records["cell"].transpose(0, 1).numpy()}
        for key, plan in (("lava_float", pf), ("lava_fixed", pq)):
            run = emulate(plan, xb.numpy())
            outs[key].append(torch.from_numpy(run.output))
            match[key].append((spike_match(run.spikes, zr), zr["cell"].size))
            if key == "lava_fixed":
                per_step.append((run.spikes["cell"] == zr["cell"]).sum(axis=(0, 2)))
    res = {"model": name, "weights_sha256": w.sha256, "samples": int(len(x)), "metric": task.metric_name,
           "seconds": round(time.time() - t0, 1)}
    for k, v in outs.items():
        res[k] = float(task.metric(torch.cat(v), y))
    for k, v in match.items():
        res[f"spike_match_{k}_vs_nir"] = float(sum(m * n for m, n in v) / sum(n for _, n in v))
    res["fixed_minus_torch_points"] = 100.0 * (res["lava_fixed"] - res["torch"])
    res["quantization_notes"] = pq.report["cell"].notes
    per_step_match = np.sum(per_step, axis=0) / (len(x) * pq.neurons["cell"].n)
    res["spike_match_lava_fixed_per_step"] = per_step_match.round(5).tolist()
    return res


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.8))
    keys = ("torch", "nir_fp64", "lava_float", "lava_fixed")
    w = 0.2
    for i, k in enumerate(keys):
        a1.bar(np.arange(len(rows)) + (i - 1.5) * w, [100 * r[k] for r in rows], w, label=k)
    a1.set_xticks(np.arange(len(rows)), [r["model"] for r in rows], fontsize=8)
    a1.set_ylabel("test accuracy (%)")
    a1.legend(fontsize=7)
    a1.set_title("task metric per backend")
    for r in rows:
        a2.plot(r["spike_match_lava_fixed_per_step"], label=r["model"], lw=0.8)
    a2.set_xlabel("time step")
    a2.set_ylabel("spike match, Lava fixed vs torch fp64")
    a2.set_title("fixed-point agreement over time")
    a2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> list[dict]:
    torch.set_num_threads(1)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=None, help="test samples (default: the whole test set)")
    ap.add_argument("--models", nargs="*", default=list(MODELS))
    args = ap.parse_args(argv)
    from zoo.registry import get_weights

    rows = []
    for name in args.models:
        try:
            get_weights(name)
        except Exception as exc:  # noqa: BLE001 - weights not shipped yet
            print(f"{name}: skipped ({exc})")
            continue
        rows.append(measure(name, args.samples))
    hdr = f"{'model':18s} {'n':>5s} {'torch':>7s} {'nir64':>7s} {'float':>7s} {'fixed':>7s} {'d(pts)':>7s} " \
          f"{'spk float':>9s} {'spk fixed':>9s}"
    print(hdr)
    for r in rows:
        print(f"{r['model']:18s} {r['samples']:5d} {r['torch']:7.4f} {r['nir_fp64']:7.4f} {r['lava_float']:7.4f} "
              f"{r['lava_fixed']:7.4f} {r['fixed_minus_torch_points']:7.2f} {r['spike_match_lava_float_vs_nir']:9.5f} "
              f"{r['spike_match_lava_fixed_vs_nir']:9.5f}")
    if rows:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "lava_agreement.json").write_text(json.dumps(rows, indent=1))
        plot(rows, RESULTS / "lava_agreement.png")
    return rows


if __name__ == "__main__":
    main()
