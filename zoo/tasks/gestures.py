"""Generated event-camera gestures (a small DVS-Gesture stand-in), 8 classes.

A 16 x 16 sensor watches a bright pattern on a dark background for ``steps`` (30) frames:
0 bar moving right, 1 bar moving left, 2 bar moving down, 3 bar moving up (Gaussian bar,
width 1-2 px, speed 0.3-0.55 px/frame, random start); 4 blob circling clockwise, 5 blob
circling counter-clockwise (Gaussian blob sigma 1.2-1.8, radius 3-5 px, random centre within
+-2 px, angular speed 0.15-0.3 rad/frame, random phase); 6 ring expanding, 7 ring contracting
(ring width 0.8-1.2, radius between 1 and 8 px, random centre). Contrast per sample in
[0.6, 1.0]. Like a DVS pixel, each pixel emits an ON event when its intensity rose by more
than ``threshold`` (0.1) since the previous frame and an OFF event when it fell by more; plus
independent background noise events with probability ``noise`` (0.01) per pixel, polarity and
frame. Inputs (B, steps, 512) in {0, 1}: channel = polarity*256 + row*16 + col (ON first).
Deterministic: train uses RNG seed 0, val 1, test 2; balanced classes (sample i has class
i mod 8 before a seeded shuffle). Loss: cross-entropy of the readout at every step (mean over
steps, so it is a sum of per-step terms, usable by TBPTT); metric: accuracy of the argmax of
the time-summed readout.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from zoo.tasks import Task, register_task, spike_count_accuracy

N_CLASSES = 8
SIZE = 16
SEEDS = {"train": 0, "val": 1, "test": 2}
DEFAULT_N = {"train": 1600, "val": 320, "test": 800}


def _frames(cls: int, rng: np.random.Generator, steps: int) -> np.ndarray:
    """(steps + 1, SIZE, SIZE) intensity frames of one gesture of class ``cls``."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    t = np.arange(steps + 1, dtype=np.float64)[:, None, None]
    contrast = rng.uniform(0.6, 1.0)
    if cls < 4:
        width, speed = rng.uniform(1.0, 2.0), rng.uniform(0.3, 0.55)
        travel = speed * steps
        start = rng.uniform(-3.0, max(-2.5, SIZE + 2.0 - travel))
        pos = start + speed * t
        if cls in (1, 3):
            pos = (SIZE - 1) - pos
        coord = xx if cls in (0, 1) else yy
        img = np.exp(-((coord[None] - pos) / width) ** 2)
    elif cls < 6:
        sigma, radius = rng.uniform(1.2, 1.8), rng.uniform(3.0, 5.0)
        cx, cy = SIZE / 2 - 0.5 + rng.uniform(-2, 2, size=2)
        omega = rng.uniform(0.15, 0.3) * (1.0 if cls == 4 else -1.0)  # clockwise on screen (y down)
        phase = rng.uniform(0, 2 * np.pi) + omega * t
        bx, by = cx + radius * np.cos(phase), cy + radius * np.sin(phase)
        img = np.exp(-((xx[None] - bx) ** 2 + (yy[None] - by) ** 2) / (2 * sigma ** 2))
    else:
        width = rng.uniform(0.8, 1.2)
        cx, cy = SIZE / 2 - 0.5 + rng.uniform(-2, 2, size=2)
        r = np.linspace(1.0, 8.0, steps + 1)[:, None, None]
        if cls == 7:
            r = r[::-1]
        dist = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2)[None]
        img = np.exp(-((dist - r) / width) ** 2)
    return contrast * img


@lru_cache(maxsize=8)
def _generate(split: str, n: int, steps: int, threshold: float, noise: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(SEEDS[split])
    labels = rng.permutation(np.arange(n) % N_CLASSES)
    x = np.zeros((n, steps, 2, SIZE, SIZE), dtype=np.float32)
    for i, c in enumerate(labels):
        diff = np.diff(_frames(int(c), rng, steps), axis=0)
        x[i, :, 0] = diff > threshold
        x[i, :, 1] = diff < -threshold
    x = np.maximum(x, (rng.random(x.shape) < noise).astype(np.float32))
    return x.reshape(n, steps, 2 * SIZE * SIZE), labels.astype(np.int64)


def load(split: str = "train", n: int | None = None, steps: int = 30, threshold: float = 0.1,
         noise: float = 0.01, n_total: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """inputs (B, steps, 512) events in {0,1}, labels (B,)."""
    if split not in SEEDS:
        raise ValueError(f"gestures split must be one of {sorted(SEEDS)}, got {split!r}")
    x, y = _generate(split, int(n_total or DEFAULT_N[split]), steps, threshold, noise)
    if n is not None:
        x, y = x[:n], y[:n]
    return torch.from_numpy(x), torch.from_numpy(y)


def per_step_cross_entropy(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean over steps of the cross-entropy of the readout at each step (outputs (B, T, K))."""
    b, t, k = outputs.shape
    return torch.nn.functional.cross_entropy(outputs.reshape(b * t, k), targets.repeat_interleave(t))


TASK = register_task(Task(
    name="gestures",
    load=load,
    loss=per_step_cross_entropy,
    metric=spike_count_accuracy,
    metric_name="accuracy",
    higher_is_better=True,
    description="generated event-camera gestures (16x16, ON/OFF events, 8 classes, 30 steps)",
))
