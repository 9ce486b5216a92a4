"""ECG-QTDB per-time-step wave classification (preprocessed QTDB of Yin et al. 2021 as shipped
in the BRF repository; the files ship with the zoo: ``zoo/data/ecg-qtdb/README.md``).

Data directory: argument ``data_dir``, else env var ``ZOO_ECG_DIR``, else the copy inside the
package (data set ``ecg-qtdb`` of :mod:`zoo.datasets`). Files ``QTDB_{train,test}.mat``: ``x`` (N, 1301, 4) level-
crossing spikes, ``y`` (N, 1301, 6) one-hot per step. The last step (padding) is dropped: T=1300.
Steps whose one-hot row is all zero (8 % of training steps: no wave label) get target -1 and are
ignored by the loss and the accuracy (our choice; the BRF code's handling is not documented).
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from zoo.registry import ZooError
from zoo.tasks import Task, register_task
from zoo.tasks.seqlabel import masked_nll, per_step_accuracy

N_INPUTS, N_CLASSES, T = 4, 6, 1300


def default_dir() -> Path:
    env = os.environ.get("ZOO_ECG_DIR")
    if env:
        return Path(env)
    from zoo.datasets import get_dataset

    return get_dataset("ecg-qtdb").root


def available(data_dir: str | Path | None = None) -> bool:
    d = Path(data_dir) if data_dir else default_dir()
    return (d / "QTDB_train.mat").exists() and (d / "QTDB_test.mat").exists()


@lru_cache(maxsize=4)
def _read(path: str) -> tuple[np.ndarray, np.ndarray]:
    from scipy.io import loadmat

    d = loadmat(path)
    x = d["x"][:, :T].astype(np.float32)
    y = d["y"][:, :T]
    tgt = y.argmax(-1).astype(np.int64)
    tgt[y.sum(-1) == 0] = -1
    return x, tgt


def load(split: str = "train", n: int | None = None, data_dir: str | None = None,
         steps: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs (B, T, 4) float32 spikes, targets (B, T) int64 (-1 = unlabelled). ``steps`` crops T."""
    if split not in ("train", "test"):
        raise ValueError(f"ecg split must be 'train' or 'test', got {split!r}")
    d = Path(data_dir) if data_dir else default_dir()
    f = d / f"QTDB_{split}.mat"
    if not f.exists():
        raise ZooError(f"ECG-QTDB file {f} not found (set ZOO_ECG_DIR or pass data_dir)")
    x, y = _read(str(f))
    if n is not None:
        x, y = x[:n], y[:n]
    if steps is not None:
        x, y = x[:, :steps], y[:, :steps]
    return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.ascontiguousarray(y))


TASK = register_task(Task(
    name="ecg",
    load=load,
    loss=masked_nll,
    metric=per_step_accuracy,
    metric_name="accuracy",
    higher_is_better=True,
    description="ECG-QTDB: 4 level-crossing input channels, 6 wave classes per time step, T=1300",
))
