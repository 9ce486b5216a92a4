"""Report of ``benchmarks.hypr.gap``: per-run plateau check, mean +- std over seeds, the
BPTT - HYPR gap, a markdown table and a learning-curve figure (``<stem>.json|md|png``)."""
from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any


def _ms(values: list[float]) -> tuple[float, float, int]:
    """(mean, sample std, n) in percent; std 0 for one value."""
    v = [100.0 * x for x in values]
    return (statistics.mean(v), statistics.stdev(v) if len(v) > 1 else 0.0, len(v)) if v else (float("nan"), 0.0, 0)


def run_stats(rec: dict[str, Any], window: int, tol: float) -> dict[str, Any]:
    """Final-epoch test, test at the best-val epoch (first of ties), and the plateau check:
    ``val_change`` = mean val of the last ``window`` epochs - mean of the ``window`` before
    (points); plateaued when ``|val_change| < tol``. Needs ``2 * window`` epochs."""
    h = rec["history"]
    val = [e["val"] for e in h]
    best = max(range(len(h)), key=lambda i: (val[i], -i))
    out = {"neuron": rec["neuron"], "rule": rec["rule"], "seed": rec["seed"], "epochs": len(h),
           "final_test": h[-1]["test"], "final_val": val[-1], "best_val": val[best],
           "best_val_epoch": best + 1, "test_at_best_val": h[best]["test"],
           "train_cpu_s": round(sum(e["train_cpu_s"] for e in h), 1), "wall_s": h[-1]["wall_s"]}
    if len(h) >= 2 * window:
        change = 100.0 * (statistics.mean(val[-window:]) - statistics.mean(val[-2 * window:-window]))
        loss = [e["loss"] for e in h]
        out.update(val_change=change, plateaued=abs(change) < tol,
                   loss_change=statistics.mean(loss[-window:]) - statistics.mean(loss[-2 * window:-window]))
    return out


def summarize(stats: list[dict], neurons: list[str], rules: list[str]) -> list[dict[str, Any]]:
    cells = []
    for neuron in neurons:
        entry: dict[str, Any] = {"neuron": neuron}
        for rule in rules:
            rs = [s for s in stats if (s["neuron"], s["rule"]) == (neuron, rule)]
            entry[rule] = {"final_test": _ms([s["final_test"] for s in rs]),
                           "test_at_best_val": _ms([s["test_at_best_val"] for s in rs]),
                           "seeds": [s["seed"] for s in rs],
                           "val_change": [round(s.get("val_change", float("nan")), 2) for s in rs],
                           "plateaued": bool(rs) and all(s.get("plateaued", False) for s in rs)}
        if "bptt" in entry and "hypr" in entry:
            by_seed = {(s["rule"], s["seed"]): s for s in stats if s["neuron"] == neuron}
            paired = [s for (rule, s) in by_seed if rule == "bptt" and ("hypr", s) in by_seed]
            for key in ("final_test", "test_at_best_val"):
                entry[f"gap_{key}"] = entry["bptt"][key][0] - entry["hypr"][key][0]
                # same seed = same initial weights and batch order: the per-seed difference
                entry[f"paired_gap_{key}"] = _ms([by_seed["bptt", s][key] - by_seed["hypr", s][key] for s in paired])
        cells.append(entry)
    return cells


def markdown(cells: list[dict], rules: list[str], cfg: dict, window: int, tol: float) -> str:
    def pm(t, fmt=".2f"):
        return f"{t[0]:{fmt}} ± {t[1]:.2f} (n={t[2]})"

    data = ("ECG-QTDB per-step", "(held out of the training file)", f"cropped to {cfg['steps']} steps")
    if cfg.get("task") == "fsdd-seq":
        data = ("FSDD per-sequence", "(FSDD val split)", f"{cfg['steps']} frames of 10 ms")
    lines = [f"{data[0]} test accuracy (%), mean ± std over seeds; {cfg['epochs']} epochs, "
             f"{cfg['n_train']} training / {cfg['n_val']} validation sequences {data[1]} / "
             f"all test sequences, {data[2]}; lr {cfg['lr']} -> {cfg['lr_final_frac']}x "
             f"(linear), batch {cfg['batch_size']}, HYPR lambda = {cfg['lam']}, {cfg['n_hidden']} hidden neurons.",
             "", "| neuron | rule | test, final epoch | test at best-val epoch | val change, last "
             f"{window} vs previous {window} epochs (points, per seed) | plateaued (all seeds within ±{tol}) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for e in cells:
        for rule in rules:
            c = e[rule]
            ch = ", ".join("n/a" if v != v else f"{v:+.2f}" for v in c["val_change"])  # nan: too few epochs
            lines.append(f"| {e['neuron']} | {rule} | {pm(c['final_test'])} | {pm(c['test_at_best_val'])} | "
                         f"{ch} | {'yes' if c['plateaued'] else 'no'} |")
        if "gap_final_test" in e:
            lines.append(f"| {e['neuron']} | gap BPTT - HYPR (per-seed pairs) | {pm(e['paired_gap_final_test'], '+.2f')} | "
                         f"{pm(e['paired_gap_test_at_best_val'], '+.2f')} | | |")
    return "\n".join(lines) + "\n"


def plot(runs: list[dict], neurons: list[str], rules: list[str], path: Path, task: str = "ecg") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(neurons), figsize=(4.5 * len(neurons), 3.6), squeeze=False, sharey=True)
    colors = dict(zip(rules, ["tab:blue", "tab:orange", "tab:green"]))
    for ax, neuron in zip(axes[0], neurons):
        for rule in rules:
            for k, rec in enumerate(r for r in runs if (r["neuron"], r["rule"]) == (neuron, rule)):
                ep = [e["epoch"] for e in rec["history"]]
                ax.plot(ep, [100 * e["test"] for e in rec["history"]], "-", color=colors[rule], alpha=0.8,
                        label=f"{rule} test" if k == 0 else None)
                ax.plot(ep, [100 * e["val"] for e in rec["history"]], ":", color=colors[rule], alpha=0.8,
                        label=f"{rule} val" if k == 0 else None)
        ax.set_title(f"{'FSDD' if task == 'fsdd-seq' else 'ECG'}, {neuron} (one line per seed)")
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("per-sequence accuracy (%)" if task == "fsdd-seq" else "per-step accuracy (%)")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def report(runs: list[dict], neurons: list[str], rules: list[str], cfg: dict, stem: Path,
           window: int = 3, tol: float = 1.0) -> dict[str, Any]:
    """Write ``stem``.json / .md / .png from the finished runs and print the table."""
    stats = [run_stats(r, window, tol) for r in runs]
    cells = summarize(stats, neurons, rules)
    md = markdown(cells, rules, cfg, window, tol)
    print(md)
    out = {"config": cfg, "window": window, "plateau_tol_points": tol, "summary": cells, "runs": stats,
           "date": time.strftime("%Y-%m-%d %H:%M:%S")}
    stem.with_suffix(".json").write_text(json.dumps(out, indent=1))
    stem.with_suffix(".md").write_text(md)
    if runs:
        plot(runs, neurons, rules, stem.with_suffix(".png"), cfg.get("task", "ecg"))
    return out
