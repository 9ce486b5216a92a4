"""Lorenz-63 chaotic system, one-step and multi-step forecasting of (x, y, z).

dx/dt = 10 (y - x); dy/dt = x (28 - z) - y; dz/dt = x y - 8/3 z; start (1, 1, 1), RK4 with
h = 0.01, sampled every ``sample_dt`` = 0.02 time units after discarding 20 time units; 6000
samples split 60/10/30 into train/val/test, each dimension normalised by the train mean/std
(see :mod:`zoo.tasks.forecasting`). Defaults: windows of 200 samples, train stride 50.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from zoo.tasks import Task, register_task
from zoo.tasks.forecasting import load_split, mse_loss, nrmse

H = 0.01


def _f(s: np.ndarray) -> np.ndarray:
    x, y, z = s
    return np.array([10.0 * (y - x), x * (28.0 - z) - y, x * y - 8.0 / 3.0 * z])


@lru_cache(maxsize=4)
def series(n_samples: int = 6000, sample_dt: float = 0.02, discard: float = 20.0) -> np.ndarray:
    """(n_samples, 3) Lorenz-63 samples (deterministic)."""
    every = int(round(sample_dt / H))
    n_discard = int(round(discard / H))
    s = np.array([1.0, 1.0, 1.0])
    out = np.empty((n_samples, 3))
    k = 0
    for i in range(n_discard + n_samples * every):
        k1 = _f(s); k2 = _f(s + 0.5 * H * k1); k3 = _f(s + 0.5 * H * k2); k4 = _f(s + H * k3)  # noqa: E702
        s = s + H / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
        if i + 1 > n_discard and (i + 1 - n_discard) % every == 0:
            out[k] = s
            k += 1
    return out


def load(split: str = "train", n: int | None = None, steps: int = 200, stride: int | None = None,
         horizon: int = 1, sample_dt: float = 0.02) -> tuple[torch.Tensor, torch.Tensor]:
    """inputs (B, steps, 3) = state_t, targets (B, steps, 3) = state_{t+horizon} (normalised)."""
    return load_split("lorenz", series(sample_dt=sample_dt), split, n, steps, stride, horizon)


TASK = register_task(Task(
    name="lorenz",
    load=load,
    loss=mse_loss,
    metric=nrmse,
    metric_name="nrmse",
    higher_is_better=False,
    description="Lorenz-63 (RK4 h=0.01, sampled every 0.02), one-step forecast of (x,y,z), NRMSE after 20-step washout",
))
