"""Zero-shot dt transfer: the shipped SpikingGamma weights (trained at dt = 1 ms) evaluated,
without retraining, at dt = 1, 0.5, 0.25, 0.1 ms (time constants are in ms, so only the
discretisation changes). Deterministic (no seeds: no training, fixed test set).

Usage: ``python -m benchmarks.gamma.transfer`` prints a table, writes results/transfer.json.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from zoo.registry import get_model, get_weights
from zoo.tasks import get_task

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    torch.set_num_threads(1)
    RESULTS.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in ("gamma-delay", "gamma-seqdigits"):
        w = get_weights(name)
        params = dict(w.meta["task"])
        task = get_task(params.pop("name"))
        for dt in (1.0, 0.5, 0.25, 0.1):
            model = get_model(name, dt=dt)
            x, y = task.load("test", **{**params, "dt": dt})
            outs, spikes = [], 0.0
            with torch.no_grad():
                for i in range(0, len(x), 250):
                    outs.append(model(x[i:i + 250].transpose(0, 1)).transpose(0, 1))
                    spikes += model.last_stats["hidden_spikes_per_sample"] * len(x[i:i + 250])
            rows.append({"model": name, "trained_dt": w.config.get("dt"), "dt": dt, "T": x.shape[1],
                         "accuracy": task.metric(torch.cat(outs), y), "hidden_spikes_per_sample": spikes / len(x)})
            r = rows[-1]
            print(f"{name:<16} trained dt={r['trained_dt']}  eval dt={dt:<5g} T={r['T']:<4} "
                  f"accuracy={100 * r['accuracy']:.1f}%  hidden spikes/sample={r['hidden_spikes_per_sample']:.0f}",
                  flush=True)
    (RESULTS / "transfer.json").write_text(json.dumps(rows, indent=1) + "\n")
    print(f"wrote {RESULTS / 'transfer.json'}")


if __name__ == "__main__":
    main()
