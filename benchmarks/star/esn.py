"""Echo state network with a ridge readout: the classic peer baseline for chaotic forecasting.

Reservoir (Jaeger 2001; leaky-integrator ESN, Lukosevicius 2012 "practical guide")::

    r_t = (1 - leak) r_{t-1} + leak * tanh(W_in [1; x_t] + W r_{t-1});   y_t = W_out [1; x_t; r_t]

W: N x N, density 10 %, rescaled to spectral radius ``rho``; W_in uniform in [-input_scale,
input_scale]. Same windows, splits, zero initial state and 20-step washout as the STAR models
(:mod:`zoo.tasks.forecasting`); W_out by ridge regression (``ridge``) on all training steps after
the washout. Hyper-parameters were fixed a priori (not tuned on test): N = 64 (same as STAR) and
N = 500, rho = 0.9, leak = 1.0 (MG) / 1.0 (Lorenz), input_scale = 0.5, ridge = 1e-6.

``python -m benchmarks.star.esn`` prints test NRMSE/MSE mean +- std over 3 reservoir seeds and
writes ``results/esn.json`` (per seed) and ``results/baselines.json``: per system, the rows a
forecaster's card compares with -- persistence (y_t = x_t, no parameters) and ESN-64 / ESN-500
(mean, std, per seed) -- on the same test windows and metric (NRMSE after the 20-step washout).
"""
from __future__ import annotations

import numpy as np
import torch

from zoo.tasks import get_task
from zoo.tasks.forecasting import WASHOUT, mse, nrmse


class ESN:
    def __init__(self, n_inputs: int, n: int = 500, rho: float = 0.9, leak: float = 1.0, input_scale: float = 0.5,
                 density: float = 0.1, ridge: float = 1e-6, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        w = rng.uniform(-1, 1, (n, n)) * (rng.random((n, n)) < density)
        w *= rho / max(abs(np.linalg.eigvals(w)))
        self.w, self.leak, self.ridge = w, leak, ridge
        self.w_in = rng.uniform(-input_scale, input_scale, (n, n_inputs + 1))
        self.w_out: np.ndarray | None = None

    def states(self, x: np.ndarray) -> np.ndarray:
        """x (B, T, D) -> features [1; x_t; r_t] (B, T, 1 + D + N)."""
        b, t, _ = x.shape
        r = np.zeros((b, self.w.shape[0]))
        feats = np.empty((b, t, 1 + x.shape[2] + self.w.shape[0]))
        ones = np.ones((b, 1))
        for k in range(t):
            u = np.concatenate([ones, x[:, k]], axis=1)
            r = (1 - self.leak) * r + self.leak * np.tanh(u @ self.w_in.T + r @ self.w.T)
            feats[:, k] = np.concatenate([u, r], axis=1)
        return feats

    def fit(self, x: np.ndarray, y: np.ndarray) -> "ESN":
        f = self.states(x)[:, WASHOUT:].reshape(-1, self.w.shape[0] + x.shape[2] + 1)
        t = y[:, WASHOUT:].reshape(-1, y.shape[2])
        self.w_out = np.linalg.solve(f.T @ f + self.ridge * np.eye(f.shape[1]), f.T @ t).T
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.states(x) @ self.w_out.T


def evaluate(task_name: str, seed: int, n: int = 500, horizon: int = 1, **kw) -> dict[str, float]:
    task = get_task(task_name)
    x, y = task.load("train", horizon=horizon)
    xt, yt = task.load("test", horizon=horizon)
    esn = ESN(x.shape[2], n=n, seed=seed, **kw).fit(x.numpy().astype(np.float64), y.numpy().astype(np.float64))
    out = torch.from_numpy(esn.predict(xt.numpy().astype(np.float64))).float()
    return {"test_nrmse": nrmse(out, yt), "test_mse": mse(out, yt)}


def persistence(task_name: str, horizon: int = 1) -> dict[str, float]:
    """y_t = x_t on the test windows (the forecast that needs no model)."""
    x, y = get_task(task_name).load("test", horizon=horizon)
    return {"test_nrmse": nrmse(x, y), "test_mse": mse(x, y)}


def main() -> None:
    from benchmarks.star.common import mean_std, save_json
    rows, baselines = {}, {}
    for task_name in ("mackey_glass", "lorenz"):
        p = persistence(task_name)
        baselines[task_name] = {"persistence": p}
        print(f"{task_name + '/persistence':28s} NRMSE {p['test_nrmse']:.4f}            MSE {p['test_mse']:.2e}")
        for n in (64, 500):
            res = [evaluate(task_name, seed, n=n) for seed in (0, 1, 2)]
            key = f"{task_name}/ESN-{n}"
            rows[key] = res
            m, s = mean_std([r["test_nrmse"] for r in res])
            mm, ms = mean_std([r["test_mse"] for r in res])
            baselines[task_name][f"ESN-{n}"] = {"test_nrmse": [m, s], "test_mse": [mm, ms], "seeds": [0, 1, 2],
                                                "per_seed": res}
            print(f"{key:28s} NRMSE {m:.4f} ± {s:.4f}   MSE {mm:.2e} ± {ms:.1e}")
    save_json("esn.json", rows)
    save_json("baselines.json", {"command": "python -m benchmarks.star.esn", "split": "test", "washout": WASHOUT,
                                 "metric": "nrmse (and mse, normalised units)", "systems": baselines})


if __name__ == "__main__":
    main()
