"""Baseline rows for the model cards: what a simpler model reaches on the same task.

Classification tasks: the plain LIF model trained with BPTT on the same test split (its own
measured card results). Forecasting: persistence (y[t+1] = x[t]) and echo state networks with a
ridge readout (``python -m benchmarks.star.esn``). ECG: the ALIF recurrent network of the HYPR
benchmark (short runs, BPTT). Tasks without a trained baseline say so."""
from __future__ import annotations

import json
from typing import Any

from zoo.resources import REPO

BASELINE_MODELS = {"digits": "lif-digits", "fsdd": "lif-fsdd", "fsdd-seq": "lif-fsdd"}
FORECASTING = {"mackey_glass": "mackey_glass", "lorenz": "lorenz"}


def _json(rel: str) -> dict[str, Any] | None:
    try:
        return json.loads((REPO / rel).read_text())
    except (OSError, ValueError):
        return None


def baseline_rows(name: str, task: str) -> list[str]:
    """Markdown lines: a table of baselines for ``task`` (never empty: says when there is none)."""
    rows: list[str] = []
    if task in BASELINE_MODELS and BASELINE_MODELS[task] != name:
        base = BASELINE_MODELS[task]
        res = _json(f"model_cards/results/{base}.json")
        if res:
            vals = {b: v["value"] for b, v in res["backends"].items() if v.get("value") is not None}
            rows.append(f"| `{base}` (plain LIF, BPTT; its card) | {res['metric']} | "
                        + ", ".join(f"{b} {v:.4f}" for b, v in vals.items()) + f" | {res['samples']} test samples |")
    if task in FORECASTING:
        d = _json("benchmarks/star/results/baselines.json")
        if d:
            for label, v in d["systems"][FORECASTING[task]].items():
                nrmse = v["test_nrmse"]
                fig = f"{nrmse[0]:.3g} ± {nrmse[1]:.2g} ({len(v['seeds'])} seeds)" if isinstance(nrmse, list) \
                    else f"{nrmse:.4f}"
                rows.append(f"| {label} | NRMSE | {fig} | `{d['command']}`, whole test series |")
    if task == "ecg":
        d = _json("benchmarks/hypr/results/table_ecg_longer.json")
        if d:
            for s in d["summary"]:
                if s["neuron"] == "alif":
                    m, sd, n = s["bptt"]  # mean, std, seeds
                    rows.append(f"| ALIF RSNN, BPTT (short runs: {d['args']['epochs']} epochs) | per-step accuracy | "
                                f"{m:.4f} ± {sd:.4f} ({n} seeds) | "
                                "`python -m benchmarks.hypr.table` (benchmarks/hypr/README.md) |")
    if not rows:
        if BASELINE_MODELS.get(task) == name:
            return ["- This model is the plain baseline of its task."]
        return ["- No baseline has been trained for this task yet."]
    return ["| baseline | metric | value | measured on |", "| --- | --- | --- | --- |"] + rows
