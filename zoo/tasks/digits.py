"""scikit-learn's bundled 8x8 digits (1797 images) as spike trains.

Split: stratified ``train_test_split(test_size=0.25, random_state=0)`` -> 1347 train, 450 test.
For choosing hyper-parameters without the test split, the train split is cut once more (stratified,
``test_size=0.2, random_state=0``) into ``"fit"`` (1077) and ``"holdout"`` (270); ``"train"`` is their
union and stays the split final models are trained on. (Not called ``"val"``: a training history on
``"val"`` would present data the final model was trained on as validation data.)
Encoding ``"rate"`` (deterministic, no RNG): pixel p in [0, 16] gives rate r = p/16 and input
neuron i spikes at step t when floor((t+1) r) > floor(t r) (an integrate-and-fire encoder).
Encoding ``"direct"``: the normalised intensity r repeated at every step (graded input).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from zoo.tasks.base import Task, rate_cross_entropy, register_task, spike_count_accuracy

N_INPUTS = 64
N_CLASSES = 10


@lru_cache(maxsize=1)
def _split() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x = data.data.astype(np.float64) / 16.0
    xtr, xte, ytr, yte = train_test_split(x, data.target, test_size=0.25, random_state=0, stratify=data.target)
    xfit, xho, yfit, yho = train_test_split(xtr, ytr, test_size=0.2, random_state=0, stratify=ytr)
    return {"train": (xtr, ytr), "test": (xte, yte), "fit": (xfit, yfit), "holdout": (xho, yho)}


SPLITS = ("train", "test", "fit", "holdout")


def split_arrays(split: str) -> tuple[np.ndarray, np.ndarray]:
    """Normalised pixels (B, 64) in [0, 1] and labels (B,) of ``split`` (one of :data:`SPLITS`)."""
    if split not in SPLITS:
        raise ValueError(f"digits split must be one of {', '.join(SPLITS)}; got {split!r}")
    return _split()[split]


def rate_encode(intensity: np.ndarray, steps: int) -> np.ndarray:
    """Deterministic rate code: (B, N) in [0, 1] -> (B, steps, N) spikes in {0, 1}."""
    t = np.arange(steps + 1, dtype=np.float64)[None, :, None]
    counts = np.floor(t * intensity[:, None, :] + 1e-9)
    return (np.diff(counts, axis=1) > 0).astype(np.float32)


def load(split: str = "train", n: int | None = None, steps: int = 16, encoding: str = "rate",
         image: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs (B, steps, 64) — or (B, steps, 1, 8, 8) with ``image=True`` — and labels (B,)."""
    x, y = split_arrays(split)
    if n is not None:
        x, y = x[:n], y[:n]
    if encoding == "rate":
        seq = rate_encode(x, steps)
    elif encoding == "direct":
        seq = np.repeat(x[:, None, :], steps, axis=1).astype(np.float32)
    else:
        raise ValueError(f"digits encoding must be 'rate' or 'direct', got {encoding!r}")
    if image:
        seq = seq.reshape(len(x), steps, 1, 8, 8)
    return torch.from_numpy(seq), torch.from_numpy(y.astype(np.int64))


TASK = register_task(Task(
    name="digits",
    load=load,
    loss=rate_cross_entropy,
    metric=spike_count_accuracy,
    metric_name="accuracy",
    higher_is_better=True,
    description="scikit-learn 8x8 digits, 10 classes, static image over T steps",
))
