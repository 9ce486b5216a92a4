"""Pixel-sequential digits (tasks ``pixel-digits``, ``pixel-digits-perm``): scikit-learn 8x8 digits fed pixel by pixel (1 input channel, intensity in
[0, 1], row-major), then ``tail`` blank steps on which the class is the target (-1 before);
``pixel-digits-perm`` applies one fixed pixel permutation (``numpy.random.default_rng(0)``).
``row-digits``: the image row by row (8 steps, 8 input channels = the columns, intensity k/16),
then ``tail`` blank steps; the class is the target from step ``label_from`` on (short sequences
for online learning in Lava).
Splits as the ``digits`` task (1347 train / 450 test; ``fit`` / ``holdout`` cut from train for selection). Metric: per-sequence accuracy."""
from __future__ import annotations

import numpy as np
import torch

from zoo.tasks import Task, register_task
from zoo.tasks.digits import split_arrays
from zoo.tasks.seqlabel import masked_nll, sequence_accuracy

PERM = np.random.default_rng(0).permutation(64)


def _load(split: str, n: int | None, tail: int, permuted: bool) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = split_arrays(split)
    if n is not None:
        x, y = x[:n], y[:n]
    if permuted:
        x = x[:, PERM]
    seq = np.concatenate([x, np.zeros((len(x), tail))], 1)[..., None].astype(np.float32)
    tgt = np.full((len(x), 64 + tail), -1, dtype=np.int64)
    tgt[:, 64:] = y[:, None]
    return torch.from_numpy(seq), torch.from_numpy(tgt)


def load(split: str = "train", n: int | None = None, tail: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    return _load(split, n, tail, False)


def load_rows(split: str = "train", n: int | None = None, tail: int = 1, label_from: int = 3
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs (B, 8 + tail, 8) (row r at step r), targets (B, 8 + tail): -1 before step
    ``label_from``, the class from there on (an online per-step classification)."""
    x, y = split_arrays(split)
    if n is not None:
        x, y = x[:n], y[:n]
    seq = np.concatenate([x.reshape(-1, 8, 8), np.zeros((len(x), tail, 8))], 1).astype(np.float32)
    tgt = np.full((len(x), 8 + tail), -1, dtype=np.int64)
    tgt[:, label_from:] = y[:, None]
    return torch.from_numpy(seq), torch.from_numpy(tgt)


def load_permuted(split: str = "train", n: int | None = None, tail: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    return _load(split, n, tail, True)


for _name, _fn, _desc in (("pixel-digits", load, "sklearn digits pixel by pixel (64 steps + tail)"),
                          ("pixel-digits-perm", load_permuted, "sklearn digits, fixed pixel permutation"),
                          ("row-digits", load_rows, "sklearn digits row by row (8 steps x 8 columns + tail)")):
    register_task(Task(name=_name, load=_fn, loss=masked_nll, metric=sequence_accuracy, metric_name="accuracy",
                       higher_is_better=True, description=_desc))
