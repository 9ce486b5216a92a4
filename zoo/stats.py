"""Uncertainty of a measured metric: percentile bootstrap over test samples.

The metric is recomputed on ``n_boot`` resamples (with replacement) of the test samples, with a
seeded generator, so the interval is reproducible; it covers any task metric (accuracy, per-step
accuracy, NRMSE) without a per-sample form of it.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch


def bootstrap_ci(metric: Callable[[torch.Tensor, torch.Tensor], float], outputs: torch.Tensor,
                 targets: torch.Tensor, n_boot: int = 1000, level: float = 0.95, seed: int = 0
                 ) -> tuple[float, float]:
    """(low, high) percentile interval of ``metric(outputs[idx], targets[idx])`` over resampled
    sample indices ``idx``; outputs (B, T, K) and targets (B, ...). One sample: (m, m)."""
    n = len(targets)
    if n < 2:
        m = float(metric(outputs, targets))
        return m, m
    gen = np.random.default_rng(seed)
    vals = [float(metric(outputs[idx], targets[idx]))
            for idx in (torch.from_numpy(gen.integers(0, n, n)) for _ in range(n_boot))]
    lo, hi = np.percentile(vals, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    return float(lo), float(hi)
