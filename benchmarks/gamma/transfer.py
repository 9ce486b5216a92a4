"""Zero-shot dt transfer: the *shipped* SpikingGamma weights (trained at dt = 1 ms) evaluated,
without retraining, at dt = 1, 0.5, 0.25, 0.1 ms (time constants and t_ref are in ms, so only
the discretisation changes). Deterministic: no training, the full test split.

Per model and dt:

* ``torch``: the shipped module built at that dt (float32), test accuracy and hidden
  messages per test sample (non-zero graded sigma-delta messages);
* ``torch, t_ref = 0``: the same weights without the minimum message interval (ablation: what
  the message count does without it; identical to ``torch`` at dt = 1 ms);
* ``emulator fixed``: the NIR export at that dt compiled to Loihi-style fixed point
  (``build_plan(..., "fixed", calibrate=32 training samples at that dt)``) and run in the
  bit-exact emulator of the Lava fixed-point processes; messages = non-zero 16-bit graded
  messages of the sigma-delta population.

Usage: ``python -m benchmarks.gamma.transfer [--models gamma-delay gamma-seqdigits]`` prints a
table, writes results/transfer.json and results/transfer.png (``--plot-only`` re-plots).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from benchmarks.gamma.dt_sweep import evaluate
from zoo.registry import get_model, get_weights
from zoo.tasks import get_task

RESULTS = Path(__file__).resolve().parent / "results"
DTS = (1.0, 0.5, 0.25, 0.1)
MODELS = ("gamma-delay", "gamma-seqdigits")
BACKENDS = ("torch", "torch, t_ref = 0", "emulator fixed")


def _emulator_eval(model: torch.nn.Module, dt: float, task, params: dict, x: torch.Tensor, y: torch.Tensor
                   ) -> tuple[float, float]:
    from exporters.lava import build_plan, emulate
    from exporters.nir import to_nir

    graph = to_nir(model.double(), dt=dt * 1e-3)
    calib, _ = task.load("train", n=32, **{**params, "dt": dt})
    plan = build_plan(graph, "fixed", calibrate=calib.numpy().astype(np.float64))
    outs, msgs = [], 0.0
    for i in range(0, len(x), 100):
        res = emulate(plan, x[i:i + 100].numpy())
        outs.append(torch.from_numpy(res.output))
        msgs += float((res.voltages["l0.sd"] != 0).sum())
    return task.metric(torch.cat(outs), y), msgs / len(x)


def measure(name: str) -> list[dict]:
    w = get_weights(name)
    params = dict(w.meta["task"])
    task = get_task(params.pop("name"))
    rows = []
    for dt in DTS:
        x, y = task.load("test", **{**params, "dt": dt})
        for backend in BACKENDS:
            if backend == "torch":
                acc, msgs = evaluate(get_model(name, dt=dt), task, x, y)
            elif backend == "torch, t_ref = 0":
                acc, msgs = evaluate(get_model(name, dt=dt, t_ref_ms=0.0), task, x, y)
            else:
                acc, msgs = _emulator_eval(get_model(name, dt=dt), dt, task, params, x, y)
            rows.append({"model": name, "backend": backend, "trained_dt": w.config.get("dt"), "dt": dt,
                         "T": int(x.shape[1]), "n_test": len(x), "accuracy": acc, "messages_per_sample": msgs,
                         "t_ref_ms": 0.0 if backend == "torch, t_ref = 0" else w.config.get("t_ref_ms", 0.0),
                         "sha256": w.sha256})
            print(f"{name:<16} {backend:<17} dt={dt:<5g} T={x.shape[1]:<4} accuracy={100 * acc:.1f}%  "
                  f"messages/sample={msgs:.0f}", flush=True)
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| model | backend | " + " | ".join(f"dt = {dt:g} ms" for dt in DTS)
             + " | accuracy max - min (points) | messages 0.1 / 1 ms |",
             "| --- | --- | " + " | ".join("---" for _ in DTS) + " | --- | --- |"]
    for name in dict.fromkeys(r["model"] for r in rows):
        for backend in BACKENDS:
            rs = {r["dt"]: r for r in rows if r["model"] == name and r["backend"] == backend}
            if not rs:
                continue
            accs = [100 * rs[dt]["accuracy"] for dt in DTS]
            cells = [f"{100 * rs[dt]['accuracy']:.1f} % / {rs[dt]['messages_per_sample']:.0f}" for dt in DTS]
            ratio = rs[0.1]["messages_per_sample"] / rs[1.0]["messages_per_sample"]
            lines.append(f"| {name} | {backend} | " + " | ".join(cells)
                         + f" | {max(accs) - min(accs):.1f} | {ratio:.2f} |")
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for name in dict.fromkeys(r["model"] for r in rows):
        for backend, style in zip(BACKENDS, ("-o", ":x", "--s")):
            rs = sorted((r for r in rows if r["model"] == name and r["backend"] == backend), key=lambda r: r["dt"])
            dts = [r["dt"] for r in rs]
            axes[0].plot(dts, [100 * r["accuracy"] for r in rs], style, label=f"{name}, {backend}")
            axes[1].plot(dts, [r["messages_per_sample"] for r in rs], style, label=f"{name}, {backend}")
    axes[0].set(xscale="log", xlabel="evaluation dt (ms)", ylabel="test accuracy (%)",
                title="shipped weights (trained at dt = 1 ms), no retraining")
    axes[1].set(xscale="log", yscale="log", xlabel="evaluation dt (ms)", ylabel="hidden messages / sample",
                title="sigma-delta messages")
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    ap.add_argument("--plot-only", action="store_true", help="re-print/plot results/transfer.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    RESULTS.mkdir(parents=True, exist_ok=True)
    jpath = RESULTS / "transfer.json"
    if args.plot_only:
        rows = json.loads(jpath.read_text())["rows"]
    else:
        old = json.loads(jpath.read_text()) if jpath.exists() else {}
        old = old.get("rows", []) if isinstance(old, dict) else []  # earlier files: a list without backends
        old = [r for r in old if isinstance(r, dict) and "backend" in r and r["model"] not in args.models]
        rows = old + [r for name in args.models for r in measure(name)]
        rows.sort(key=lambda r: (MODELS.index(r["model"]), BACKENDS.index(r["backend"]), -r["dt"]))
        jpath.write_text(json.dumps({"command": "python -m benchmarks.gamma.transfer", "rows": rows}, indent=1) + "\n")
    print(table(rows))
    plot(rows, RESULTS / "transfer.png")
    print(f"wrote {jpath} and {RESULTS / 'transfer.png'}")


if __name__ == "__main__":
    main()
