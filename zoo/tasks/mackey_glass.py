"""Mackey-Glass chaotic series (tau = 17), one-step and multi-step forecasting.

dx/dt = 0.2 x(t - 17) / (1 + x(t - 17)^10) - 0.1 x(t), history x(t <= 0) = 1.2, integrated
with forward Euler at h = 0.1 (delay = 170 Euler steps); sampled every ``sample_dt`` = 1 time
unit after discarding the first 1000 time units; 6000 samples split 60/10/30 into
train/val/test (see :mod:`zoo.tasks.forecasting` for windows, normalisation and metrics).
Defaults: windows of ``steps = 200`` samples, train stride 50 (overlapping), val/test stride 200.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from zoo.tasks import Task, register_task
from zoo.tasks.forecasting import load_split, mse_loss, nrmse

TAU = 17.0
H = 0.1


@lru_cache(maxsize=4)
def series(n_samples: int = 6000, sample_dt: float = 1.0, discard: float = 1000.0, tau: float = TAU,
           x0: float = 1.2) -> np.ndarray:
    """(n_samples, 1) Mackey-Glass samples (deterministic)."""
    delay = int(round(tau / H))
    every = int(round(sample_dt / H))
    n_steps = int(round(discard / H)) + n_samples * every
    x = np.empty(n_steps + delay + 1)
    x[:delay + 1] = x0
    for i in range(delay, delay + n_steps):
        xd = x[i - delay]
        x[i + 1] = x[i] + H * (0.2 * xd / (1.0 + xd ** 10) - 0.1 * x[i])
    out = x[delay + int(round(discard / H)) + every::every][:n_samples]
    return out[:, None]


def load(split: str = "train", n: int | None = None, steps: int = 200, stride: int | None = None,
         horizon: int = 1, sample_dt: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """inputs (B, steps, 1) = x_t, targets (B, steps, 1) = x_{t+horizon} (normalised)."""
    return load_split("mackey_glass", series(sample_dt=sample_dt), split, n, steps, stride, horizon)


TASK = register_task(Task(
    name="mackey_glass",
    load=load,
    loss=mse_loss,
    metric=nrmse,
    metric_name="nrmse",
    higher_is_better=False,
    description="Mackey-Glass tau=17 (Euler h=0.1, sampled every 1), one-step forecast, NRMSE after 20-step washout",
))
