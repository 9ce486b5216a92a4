"""Shared pieces of the chaotic-series forecasting tasks (Mackey-Glass, Lorenz-63).

A long deterministic series (normalised with the mean/std of its training part) is cut into
windows of ``steps`` samples; the input at step t is x_t and the target is x_{t+horizon}
(``horizon=1``: one-step forecasting; ``horizon>1``: direct multi-step forecasting -- the
model predicts ``horizon`` samples ahead from the inputs seen so far). Train, validation and
test parts of the series are disjoint and in that order. The first ``WASHOUT`` steps of every
window are excluded from the metrics (the model starts from a zero state); the training loss
(MSE) uses every step.

NRMSE = sqrt(mean_d MSE_d / Var_d), Var_d = variance of target dimension d over the evaluated
samples; MSE in normalised units.
"""
from __future__ import annotations

import numpy as np
import torch

WASHOUT = 20


def windows(series: np.ndarray, steps: int, stride: int, horizon: int) -> tuple[torch.Tensor, torch.Tensor]:
    """series (N, D) -> inputs (B, steps, D), targets (B, steps, D) with targets = x[t + horizon]."""
    starts = range(0, len(series) - steps - horizon + 1, stride)
    x = np.stack([series[s:s + steps] for s in starts]).astype(np.float32)
    y = np.stack([series[s + horizon:s + horizon + steps] for s in starts]).astype(np.float32)
    return torch.from_numpy(x), torch.from_numpy(y)


def split_series(series: np.ndarray, fractions: tuple[float, float, float] = (0.6, 0.1, 0.3)) -> dict[str, np.ndarray]:
    n = len(series)
    a, b = int(fractions[0] * n), int((fractions[0] + fractions[1]) * n)
    parts = {"train": series[:a], "val": series[a:b], "test": series[b:]}
    mean, std = parts["train"].mean(axis=0), parts["train"].std(axis=0)
    return {k: ((v - mean) / std).astype(np.float64) for k, v in parts.items()}


def load_split(task: str, series: np.ndarray, split: str, n: int | None, steps: int, stride: int | None,
               horizon: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Windows of one split of ``series``: inputs x_t and targets x_{t+horizon}, (B, steps, D).
    Training windows overlap (stride steps/4 by default), test windows do not."""
    parts = split_series(series)
    if split not in parts:
        raise ValueError(f"{task} split must be one of {sorted(parts)}, got {split!r}")
    if stride is None:
        stride = steps // 4 if split == "train" else steps
    x, y = windows(parts[split], steps, stride, horizon)
    return (x[:n], y[:n]) if n is not None else (x, y)


def mse_loss(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Training loss: MSE over every step (outputs, targets: (B, T, D))."""
    return torch.mean((outputs - targets) ** 2)


def mse(outputs: torch.Tensor, targets: torch.Tensor, washout: int = WASHOUT) -> float:
    o, t = outputs[:, washout:], targets[:, washout:]
    return float(torch.mean((o - t) ** 2))


def nrmse(outputs: torch.Tensor, targets: torch.Tensor, washout: int = WASHOUT) -> float:
    o, t = outputs[:, washout:].reshape(-1, outputs.shape[-1]), targets[:, washout:].reshape(-1, targets.shape[-1])
    per_dim = torch.mean((o - t) ** 2, dim=0) / torch.var(t, dim=0)
    return float(torch.sqrt(per_dim.mean()))
