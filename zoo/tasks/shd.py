"""Spiking Heidelberg Digits (SHD; Cramer et al. 2020): spoken digits 0-9 in English and German
(20 classes) as spikes of 700 cochlea-model channels, read with tonic (``tonic.datasets.SHD``).

Files: ``<data cache>/shd/SHD/shd_{train,test}.h5`` (tonic's layout for ``save_to =
<data cache>/shd``): HDF5 with ``spikes/times`` (per sample, float seconds), ``spikes/units``
(per sample, channel 0-699), ``labels`` (N,), ``extra/keys`` and ``extra/speaker``. Missing files
raise one ZooError line with the tonic command that downloads them; the zoo never downloads SHD.

Streaming: :func:`dataset` is a ``torch.utils.data.Dataset`` reading one sample from the HDF5 file
per ``__getitem__`` (tonic's reader), binned into ``steps`` frames of ``dt_ms`` by
:class:`zoo.tasks.events.EventFrames` (tonic ``ToFrame``); ``channels`` < 700 pools neighbouring
channels (700 / channels of them, exact integer pooling; counts add up). Inputs (steps, channels)
float32 spike counts (``binary``: clipped at 1). SHD has no validation split: ``train`` / ``test``.

Two tasks: ``shd`` (label per sample; loss = cross-entropy of the time-summed output, metric =
spike-count accuracy) and ``shd-seq`` (the label at every step from ``label_from`` on, -1 before;
masked per-step NLL, sequence accuracy) for per-step online rules (HYPR). Defaults [ours]:
250 steps of 4 ms (1 s; SHD recordings last up to about 1.4 s, the tail is cropped).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from zoo.tasks import rate_cross_entropy, spike_count_accuracy, streaming_task
from zoo.tasks.events import (Chain, EventFrames, FrameDataset, check_split, check_steps, data_root, offline,
                              require, with_step_labels)
from zoo.tasks.seqlabel import masked_nll, sequence_accuracy

N_CHANNELS = 700
N_CLASSES = 20
SPLITS = ("train", "test")


class PoolChannels:
    """Audio events: channel x -> x // factor (``factor`` neighbouring channels become one)."""

    def __init__(self, factor: int) -> None:
        self.factor = int(factor)

    def __call__(self, events: np.ndarray) -> np.ndarray:
        events = events.copy()
        events["x"] = events["x"] // self.factor
        return events


def hsd_source(set_name: str, task: str, split_args: dict[str, Any], all_splits: list[str], steps: int,
               dt_ms: float, channels: int, binary: bool) -> Any:
    """tonic's ``set_name`` (SHD or SSC) on ``<data cache>/<task>``, offline, its samples binned
    into frames: the reader shared by :mod:`zoo.tasks.shd` and :mod:`zoo.tasks.ssc`.
    ``split_args``: tonic's keyword for this split; ``all_splits``: those of every split (for the
    download command of the missing-data error)."""
    tonic = require("tonic", task)

    dt_us = check_steps(steps, dt_ms)
    if not 1 <= int(channels) <= N_CHANNELS or N_CHANNELS % int(channels):
        raise ValueError(f"channels must divide {N_CHANNELS} (e.g. 700, 350, 140, 100, 70), got {channels}")
    root = data_root(task)
    fetch = "import tonic; " + "; ".join(f"tonic.datasets.{set_name}(save_to='{root}', {a})" for a in all_splits)
    cls = offline(getattr(tonic.datasets, set_name), task, root, fetch, f"{set_name}/{set_name.lower()}_*.h5",
                  "{data_filename}")
    frames = Chain(PoolChannels(N_CHANNELS // int(channels)),
                   EventFrames((int(channels), 1, 1), int(steps), dt_us, bool(binary)))
    return cls(save_to=str(root), transform=frames, **split_args)


def dataset(split: str = "train", steps: int = 250, dt_ms: float = 4.0, channels: int = 700,
            binary: bool = False) -> FrameDataset:
    """SHD ``split`` as a streaming Dataset of (x (steps, channels) float32 counts, label int64)."""
    check_split("shd", split, SPLITS)
    src = hsd_source("SHD", "shd", {"train": split == "train"}, ["train=True", "train=False"], steps, dt_ms,
                     channels, binary)
    return FrameDataset(src, flatten=True, classes=N_CLASSES, name=f"shd {split}")


dataset_seq = with_step_labels(dataset)


TASK = streaming_task(
    "shd", dataset, rate_cross_entropy, spike_count_accuracy,
    description="Spiking Heidelberg Digits (tonic): 700 channels binned into frames, 20 classes, label per sample")
TASK_SEQ = streaming_task(
    "shd-seq", dataset_seq, masked_nll, sequence_accuracy,
    description="Spiking Heidelberg Digits (tonic): 700 channels binned into frames, the label at every step")
