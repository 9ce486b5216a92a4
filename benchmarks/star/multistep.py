"""Direct multi-step forecasting: predict x_{t+h} from the inputs seen up to t (h = 1, 10).

STAR (64 neurons, TBPTT K=1, recipe hyper-parameters, 40 epochs) against the ESN ridge
baselines and persistence (y_t = x_t) on the same windows; 3 seeds. "Multi-step" here is the
direct strategy (one model per horizon), not closed-loop autoregressive generation.

    python -m benchmarks.star.multistep [--systems mackey_glass lorenz] [--horizons 1 10]
"""
from __future__ import annotations

import argparse

from benchmarks.star.common import RESULTS, mean_std, run, save_json
from benchmarks.star.esn import evaluate as esn_eval
from zoo.tasks import get_task
from zoo.tasks.forecasting import nrmse

DIM = {"mackey_glass": 1, "lorenz": 3}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--systems", nargs="+", default=["mackey_glass"])
    ap.add_argument("--horizons", type=int, nargs="+", default=[10])
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = ap.parse_args()
    lines = ["| system | horizon | model | test NRMSE |", "|---|---|---|---|"]
    out: dict = {}
    for system in args.systems:
        for h in args.horizons:
            model = dict(n_inputs=DIM[system], n_outputs=DIM[system], n_hidden=64, variant="star", input_scale=3.0)
            learn = dict(rule="tbptt", K=1, update_every=1, lr=1e-3, lr_decay=0.05 ** (1 / (args.epochs * 200)))
            star = [run(system, model, learn, args.epochs, 68, s, task_kw={"horizon": h}) for s in args.seeds]
            rows = {"STAR K=1": [r["test_nrmse"] for r in star]}
            for n in (64, 500):
                rows[f"ESN-{n}"] = [esn_eval(system, s, n=n, horizon=h)["test_nrmse"] for s in args.seeds]
            x, y = get_task(system).load("test", horizon=h)
            rows["persistence"] = [nrmse(x, y)]
            for name, vals in rows.items():
                m, s = mean_std(vals)
                lines.append(f"| {system} | {h} | {name} | {m:.4f} ± {s:.4f} |")
                print(lines[-1], flush=True)
            out[f"{system}/h{h}"] = rows
            save_json("multistep.json", out)
    (RESULTS / "multistep.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
