"""Free Spoken Digit Dataset (FSDD): spoken digits 0-9 as cochlea-like spike trains.

Data: the ``fsdd`` set of :mod:`zoo.datasets` (3,000 WAVs ``recordings/{digit}_{speaker}_{index}.wav``,
8 kHz mono 16-bit, 6 speakers x 10 digits x 50 recordings; CC BY-SA 4.0), in the data cache
(``ZOO_DATA_DIR``); missing data raises the one-line error of ``get_dataset("fsdd").require()``.

Splits by recording index (the FSDD's official split is 0-4 test, 5-49 train; we hold part of
train out for validation, so hyper-parameters are never chosen on test):
``test`` = index 0-4 (300), ``val`` = index 5-9 (300), ``train`` = index 10-49 (2,400).
Within a split, samples are ordered by (index, speaker, digit), so the first n mix all classes.

Front end (:mod:`zoo.tasks.cochlea`): 16-bit PCM / 32768, a mel filterbank of ``n_mels`` bands
(50 Hz - 4 kHz) over 32 ms Hann frames every ``hop`` samples (80 = 10 ms = one time step, so
``dt = hop / 8000`` s), log energy in dB relative to the recording's loudest cell over
``range_db`` dB, then spikes: ``level`` (thermometer code, ``n_mels*levels`` channels) or
``delta`` (ON/OFF level crossings, ``2*n_mels`` channels). Every recording starts at step 0 and
is zero-padded or cropped at the end to ``steps`` frames (default 80 = 0.8 s; 98 % of the
recordings are shorter, the longest is 2.3 s).

Two tasks, same inputs:
* ``fsdd``: labels (B,), loss = cross-entropy of the time-summed outputs, metric = argmax of the
  summed output (spike count) — for spiking readouts (``lif-fsdd``);
* ``fsdd-seq``: targets (B, T) = the digit from step ``label_from`` on, -1 before; loss = mean
  per-step NLL, metric = argmax of the log-softmax summed over labelled steps — for leaky
  integrator readouts trained per step (HYPR, e-prop; as ``row-digits``);
* ``fsdd-window``: labels (B,), loss = mean per-step cross-entropy over the last
  ``WINDOW_FRACTION`` = 7/8 of the steps (steps 10-79 of 80, the labelled steps of ``fsdd-seq``
  with ``label_from = 10``), metric = argmax of the outputs summed over that window — for the
  window rule of SpikingGamma's online learner (:mod:`zoo.learning.gamma_online`, as ``digit-events``).
"""
from __future__ import annotations

import re
from functools import partial
import wave
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from zoo.tasks import Task, rate_cross_entropy, register_task, spike_count_accuracy
from zoo.tasks.cochlea import log_mel, spikes
from zoo.tasks.delay import READOUT_FRACTIONS, window_accuracy, window_cross_entropy
from zoo.tasks.seqlabel import masked_nll, sequence_accuracy

SAMPLE_RATE = 8000
N_CLASSES = 10
SPLITS = {"test": range(0, 5), "val": range(5, 10), "train": range(10, 50)}
WINDOW_FRACTION = 0.875
READOUT_FRACTIONS["fsdd-window"] = WINDOW_FRACTION
_NAME = re.compile(r"recordings/(\d)_([a-z]+)_(\d+)\.wav")


def data_root() -> Path:
    """The folder holding ``recordings/`` (one-line ZooError when the set is missing)."""
    from zoo.datasets import get_dataset

    return get_dataset("fsdd").require()


def read_wav(path: str | Path) -> np.ndarray:
    """A mono 16-bit PCM WAV as float64 in [-1, 1)."""
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 1 or w.getframerate() != SAMPLE_RATE:
            raise ValueError(f"{path}: expected 8 kHz mono 16-bit PCM, got {w.getframerate()} Hz, "
                             f"{w.getnchannels()} channel(s), {8 * w.getsampwidth()}-bit")
        data = w.readframes(w.getnframes())
    return np.frombuffer(data, dtype="<i2").astype(np.float64) / 32768.0


def recordings() -> list[tuple[int, str, int, str]]:
    """(digit, speaker, index, relative path) of every manifest recording, sorted by
    (index, speaker, digit)."""
    from zoo.datasets import get_dataset

    out = []
    for rel in get_dataset("fsdd").manifest():
        m = _NAME.fullmatch(rel)
        if m:
            out.append((int(m.group(1)), m.group(2), int(m.group(3)), rel))
    return sorted(out, key=lambda r: (r[2], r[1], r[0]))


def split_recordings(split: str) -> list[tuple[int, str, int, str]]:
    """The recordings of ``split`` in sample order (what ``load(split)`` returns, row by row)."""
    if split not in SPLITS:
        raise ValueError(f"fsdd split must be one of {sorted(SPLITS)}, got {split!r}")
    return [r for r in recordings() if r[2] in SPLITS[split]]


@lru_cache(maxsize=2)
def _audio(root: str) -> tuple[tuple[np.ndarray, ...], np.ndarray, np.ndarray]:
    recs = recordings()
    waves = tuple(read_wav(Path(root) / rel) for _, _, _, rel in recs)
    return waves, np.array([r[0] for r in recs], np.int64), np.array([r[2] for r in recs], np.int64)


@lru_cache(maxsize=8)
def _encoded(root: str, steps: int, n_mels: int, levels: int, encoding: str, range_db: float,
             hop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All recordings encoded: spikes (N, steps, channels), digits (N,), indices (N,)."""
    waves, digits, index = _audio(root)
    u = log_mel(list(waves), SAMPLE_RATE, n_mels=n_mels, hop=hop, frames=steps, range_db=range_db)
    return spikes(u, levels, encoding), digits, index


def _load(split: str, n: int | None, steps: int, n_mels: int, levels: int, encoding: str, range_db: float,
          hop: int) -> tuple[np.ndarray, np.ndarray]:
    if split not in SPLITS:
        raise ValueError(f"fsdd split must be one of {sorted(SPLITS)}, got {split!r}")
    x, y, index = _encoded(str(data_root()), int(steps), int(n_mels), int(levels), encoding, float(range_db),
                           int(hop))
    keep = np.flatnonzero(np.isin(index, list(SPLITS[split])))
    if n is not None:
        keep = keep[:n]
    return x[keep], y[keep]


def load(split: str = "train", n: int | None = None, steps: int = 80, n_mels: int = 32, levels: int = 3,
         encoding: str = "level", range_db: float = 50.0, hop: int = 80) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs (B, steps, channels) float32 spikes, labels (B,) int64 digits."""
    x, y = _load(split, n, steps, n_mels, levels, encoding, range_db, hop)
    return torch.from_numpy(x), torch.from_numpy(y)


def load_seq(split: str = "train", n: int | None = None, steps: int = 80, n_mels: int = 32, levels: int = 3,
             encoding: str = "level", range_db: float = 50.0, hop: int = 80, label_from: int = 0
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs as :func:`load`; targets (B, steps): -1 before step ``label_from``, the digit after."""
    x, y = _load(split, n, steps, n_mels, levels, encoding, range_db, hop)
    tgt = np.full((len(y), x.shape[1]), -1, dtype=np.int64)
    tgt[:, label_from:] = y[:, None]
    return torch.from_numpy(x), torch.from_numpy(tgt)


TASK = register_task(Task(
    name="fsdd", load=load, loss=rate_cross_entropy, metric=spike_count_accuracy, metric_name="accuracy",
    higher_is_better=True,
    description="Free Spoken Digit Dataset: mel-filterbank spike trains (10 ms steps), 10 digits, label per sample"))
TASK_SEQ = register_task(Task(
    name="fsdd-seq", load=load_seq, loss=masked_nll, metric=sequence_accuracy, metric_name="accuracy",
    higher_is_better=True,
    description="Free Spoken Digit Dataset: mel-filterbank spike trains, the digit as target at every step"))
TASK_WINDOW = register_task(Task(
    name="fsdd-window", load=load, loss=partial(window_cross_entropy, fraction=WINDOW_FRACTION),
    metric=partial(window_accuracy, fraction=WINDOW_FRACTION), metric_name="accuracy", higher_is_better=True,
    description="Free Spoken Digit Dataset: mel-filterbank spike trains, label per sample read over the last 7/8 "
                "of the steps"))
