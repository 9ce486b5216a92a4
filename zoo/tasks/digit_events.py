"""Row-sequential event digits (task ``digit-events``): scikit-learn 8x8 digits as spike events with times in ms.

Generator [ours] (deterministic, no RNG): the image (split of :mod:`zoo.tasks.digits`: 1347
train / 450 test) is presented row by row, row r during ``[r*row_ms, (r+1)*row_ms)``; the 8
input channels are the 8 columns. Pixel intensity p/16 gives ``n = round(p/16 * max_spikes)``
spikes at integer times ``r*row_ms + j`` ms (j = 0..n-1; needs ``max_spikes <= row_ms``).
After the 8 rows a silent tail of ``tail_ms`` follows; duration = 8*row_ms + tail_ms (32 ms by
default). All event times are integers in ms, so the input is identical in continuous time at
dt = 1, 0.5, 0.25, 0.1 ms; ``T = duration / dt`` steps.

Readout: the last ``READOUT_FRACTION`` (0.25, i.e. the tail) of the sequence; loss = mean
per-step cross-entropy over the readout window, metric = accuracy of the argmax of its sum
(:func:`zoo.tasks.delay.window_cross_entropy` / ``window_accuracy``). The model must remember
rows seen up to ~30 ms earlier.
"""
from __future__ import annotations

from functools import partial

import numpy as np
import torch

from zoo.tasks import Task, register_task
from zoo.tasks.delay import READOUT_FRACTIONS, window_accuracy, window_cross_entropy

READOUT_FRACTION = 0.25
READOUT_FRACTIONS["digit-events"] = READOUT_FRACTION


def load(split: str = "train", n: int | None = None, dt: float = 1.0, row_ms: int = 3, max_spikes: int = 3,
         tail_ms: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs (B, T, 8) float32 spike counts and labels (B,) int64."""
    from zoo.tasks.digits import _split

    if split not in ("train", "test"):
        raise ValueError(f"digit-events split must be 'train' or 'test', got {split!r}")
    if max_spikes > row_ms:
        raise ValueError("max_spikes must be <= row_ms (one spike per ms)")
    x, y = _split()[split]
    if n is not None:
        x, y = x[:n], y[:n]
    img = x.reshape(-1, 8, 8)  # (B, row, col) in [0, 1]
    counts = np.rint(img * max_spikes).astype(int)
    duration = 8 * row_ms + tail_ms
    T = int(round(duration / dt))
    out = np.zeros((len(img), T, 8), dtype=np.float32)
    for j in range(max_spikes):
        b, r, c = np.nonzero(counts > j)
        steps = np.floor((r * row_ms + j) / dt + 0.5 + 1e-9).astype(int)
        np.add.at(out, (b, steps, c), 1.0)
    return torch.from_numpy(out), torch.from_numpy(y.astype(np.int64))


TASK = register_task(Task(
    name="digit-events",
    load=load,
    loss=partial(window_cross_entropy, fraction=READOUT_FRACTION),
    metric=partial(window_accuracy, fraction=READOUT_FRACTION),
    metric_name="accuracy",
    higher_is_better=True,
    description="8x8 digits presented row by row as spike events (8 column channels), times in ms",
))
