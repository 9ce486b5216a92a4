"""Delay / coincidence detection (ITD-like): classify the relative delay of two spike channels.

Generator [ours] (deterministic given ``seed`` and ``split``): a source emits ``n_events``
spikes at distinct integer times (ms) drawn uniformly from ``[src_lo, src_hi]``; channel 0
receives them unchanged, channel 1 delayed by ``d`` ms (``d`` in ``delays_ms``, the class:
d < 0 means channel 1 leads). All event times are integers in ms, so the task is *identical in
continuous time* at dt = 1, 0.5, 0.25, 0.1 ms (every event time lies on every grid): only the
model's time resolution changes, which is what the dt sweep tests. Each channel also gets
``n_noise`` independent distractor spikes (integer ms in the source range). With ``jitter_ms > 0``
each channel's events get independent uniform jitter, rounded to the dt grid.

Inputs: (B, T, 2) spike counts per step, ``T = duration_ms / dt``. Outputs are read out over
the last ``READOUT_FRACTION`` of the sequence (after all evidence has arrived): loss = mean
over readout steps of the per-step cross-entropy; prediction = argmax of the summed readout.
Both are dt-invariant (means over a fixed window in ms).
"""
from __future__ import annotations

import numpy as np
import torch

from zoo.tasks import Task, register_task

READOUT_FRACTION = 0.5
# readout fraction per task name (tasks using the window loss register theirs here; learners read it)
READOUT_FRACTIONS: dict[str, float] = {"delay": READOUT_FRACTION}
DELAYS_MS = (-3, -2, -1, 0, 1, 2, 3)
SPLIT_SEEDS = {"train": 0, "test": 1_000_003}


def readout_slice(T: int, fraction: float = READOUT_FRACTION) -> slice:
    """Steps of the readout window: the last ``fraction`` of ``T`` steps."""
    return slice(T - max(1, int(round(T * fraction))), T)


def window_cross_entropy(outputs: torch.Tensor, targets: torch.Tensor, fraction: float = READOUT_FRACTION) -> torch.Tensor:
    """Mean over readout steps of the per-step cross-entropy. outputs (B, T, K) logits."""
    win = outputs[:, readout_slice(outputs.shape[1], fraction)]
    B, W, K = win.shape
    return torch.nn.functional.cross_entropy(win.reshape(B * W, K), targets.repeat_interleave(W))


def window_accuracy(outputs: torch.Tensor, targets: torch.Tensor, fraction: float = READOUT_FRACTION) -> float:
    """Accuracy of argmax of the readout-window sum."""
    pred = outputs[:, readout_slice(outputs.shape[1], fraction)].sum(dim=1).argmax(dim=-1)
    return float((pred == targets).float().mean())


def load(split: str = "train", n: int | None = None, dt: float = 1.0, duration_ms: float = 24.0,
         n_events: int = 3, src_lo: int = 4, src_hi: int = 10, delays_ms: tuple[int, ...] = DELAYS_MS,
         jitter_ms: float = 0.0, n_noise: int = 0, seed: int = 0, n_train: int = 2000, n_test: int = 500,
         ) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs (B, T, 2) float32 spike counts and labels (B,) int64 (index into ``delays_ms``)."""
    if split not in SPLIT_SEEDS:
        raise ValueError(f"delay split must be 'train' or 'test', got {split!r}")
    size = n_train if split == "train" else n_test
    n = size if n is None else min(n, size)
    rng = np.random.default_rng(seed + SPLIT_SEEDS[split])
    T = int(round(duration_ms / dt))
    delays = np.asarray(delays_ms)
    labels = rng.integers(0, len(delays), size=size)
    x = np.zeros((size, T, 2), dtype=np.float32)
    for b in range(size):
        src = rng.choice(np.arange(src_lo, src_hi + 1), size=n_events, replace=False).astype(np.float64)
        chans = [src, src + delays[labels[b]]]
        if n_noise:  # independent distractor spikes per channel, integer ms in the source range
            chans = [np.concatenate([c, rng.integers(src_lo, src_hi + 1, size=n_noise).astype(np.float64)])
                     for c in chans]
        for c, times in enumerate(chans):
            if jitter_ms > 0:
                times = times + rng.uniform(-jitter_ms, jitter_ms, size=len(times))
            steps = np.clip(np.floor(times / dt + 0.5 + 1e-9).astype(int), 0, T - 1)
            np.add.at(x[b, :, c], steps, 1.0)
    return torch.from_numpy(x[:n]), torch.from_numpy(labels[:n].astype(np.int64))


TASK = register_task(Task(
    name="delay",
    load=load,
    loss=window_cross_entropy,
    metric=window_accuracy,
    metric_name="accuracy",
    higher_is_better=True,
    description="ITD-like relative delay of two spike channels, 7 classes (-3..3 ms) + distractors, dt in ms",
))
