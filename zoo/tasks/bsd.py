"""Burst-sequence detection (BSD) — generated; our reconstruction of the task of the SE-adLIF /
HYPR group (docs/papers.md §4: 10 channels, 20 classes, 200 steps; exact generator unknown).

Each class c owns an ordered triple of distinct input channels ``CLASS_SEQS[c]`` (20 distinct
triples drawn once with ``numpy.random.default_rng(1234)``; some share channels, so order
matters). A sample of class c: Bernoulli background noise (prob ``noise`` per channel and step)
plus three bursts, burst k on channel ``CLASS_SEQS[c][k]`` lasting ``burst_len`` steps with
spike prob ``burst_p``; onsets t1 ~ U[5, 40], gaps ~ U[burst_len+10, burst_len+40] (so all
bursts end before step 200 - label_steps). Targets (B, T): the class on the last
``label_steps`` steps, -1 elsewhere. Metric: per-sequence accuracy (argmax of the summed
log-softmax over the labelled steps). Deterministic: split "train" uses seed+0, "test" seed+1.
"""
from __future__ import annotations

import numpy as np
import torch

from zoo.tasks import Task, register_task
from zoo.tasks.seqlabel import masked_nll, sequence_accuracy

N_CHANNELS, N_CLASSES, T = 10, 20, 200


def _class_seqs() -> np.ndarray:
    rng = np.random.default_rng(1234)
    seqs: list[tuple[int, ...]] = []
    while len(seqs) < N_CLASSES:
        s = tuple(int(v) for v in rng.choice(N_CHANNELS, 3, replace=False))
        if s not in seqs:
            seqs.append(s)
    return np.array(seqs)


CLASS_SEQS = _class_seqs()


def generate(n: int, seed: int, steps: int = T, noise: float = 0.01, burst_len: int = 8, burst_p: float = 0.8,
             label_steps: int = 20) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = (rng.random((n, steps, N_CHANNELS)) < noise).astype(np.float32)
    labels = rng.integers(0, N_CLASSES, n)
    for k in range(n):
        t = int(rng.integers(5, 41))
        for ch in CLASS_SEQS[labels[k]]:
            burst = (rng.random(burst_len) < burst_p).astype(np.float32)
            x[k, t:t + burst_len, ch] = np.maximum(x[k, t:t + burst_len, ch], burst)
            t += burst_len + int(rng.integers(10, 41))
    y = np.full((n, steps), -1, dtype=np.int64)
    y[:, steps - label_steps:] = labels[:, None]
    return x, y


def load(split: str = "train", n: int | None = None, seed: int = 0, n_train: int = 2000, n_test: int = 500,
         **kw) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs (B, 200, 10) spikes, targets (B, 200) (class on the last ``label_steps`` steps)."""
    if split not in ("train", "test"):
        raise ValueError(f"bsd split must be 'train' or 'test', got {split!r}")
    size = n_train if split == "train" else n_test
    x, y = generate(size, seed + (0 if split == "train" else 1), **kw)
    if n is not None:
        x, y = x[:n], y[:n]
    return torch.from_numpy(x), torch.from_numpy(y)


TASK = register_task(Task(
    name="bsd",
    load=load,
    loss=masked_nll,
    metric=sequence_accuracy,
    metric_name="accuracy",
    higher_is_better=True,
    description="burst-sequence detection (generated, reconstruction): 10 channels, 20 classes, 200 steps",
))
