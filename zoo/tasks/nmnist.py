"""N-MNIST (Orchard et al. 2015): MNIST digits seen by an ATIS event camera during three saccades
(34 x 34 pixels, ON/OFF, about 300 ms), read with tonic (``tonic.datasets.NMNIST``).

Files: ``<data cache>/nmnist/NMNIST/{Train,Test}/<digit>/<id>.bin`` (tonic's layout for ``save_to
= <data cache>/nmnist``; the label is the folder's digit), each event 40 bits: x (8), y (8),
polarity (1) and a 23-bit timestamp in microseconds (tonic's ``read_mnist_file``). Missing files
raise one ZooError line with the tonic command that downloads them; the zoo never downloads N-MNIST.

Streaming: :func:`dataset` reads one ``.bin`` file per ``__getitem__``, binned into ``steps``
frames of ``dt_ms`` by :class:`zoo.tasks.events.EventFrames` (tonic ``ToFrame``). Inputs
(steps, 2*34*34) float32 event counts, channel = polarity*1156 + y*34 + x (OFF first, as tonic's
polarity 0), or (steps, 2, 34, 34) with ``flatten = false``; ``binary`` clips counts at 1;
``first_saccade_only`` keeps the first 100 ms (tonic's option). Splits: ``train`` / ``test``.
Task ``nmnist``: label per sample, cross-entropy of the time-summed output, spike-count accuracy.
Defaults [ours]: 30 steps of 10 ms (the three saccades).
"""
from __future__ import annotations

from zoo.tasks import rate_cross_entropy, spike_count_accuracy, streaming_task
from zoo.tasks.events import EventFrames, FrameDataset, check_split, check_steps, data_root, offline, require

SENSOR = (34, 34, 2)
N_CLASSES = 10
SPLITS = ("train", "test")


def dataset(split: str = "train", steps: int = 30, dt_ms: float = 10.0, flatten: bool = True, binary: bool = False,
            first_saccade_only: bool = False) -> FrameDataset:
    """N-MNIST ``split`` as a streaming Dataset of (x (steps, 2312) or (steps, 2, 34, 34), label)."""
    check_split("nmnist", split, SPLITS)
    tonic = require("tonic", "nmnist")
    dt_us = check_steps(steps, dt_ms)
    root = data_root("nmnist")
    fetch = (f"import tonic; tonic.datasets.NMNIST(save_to='{root}', train=True); "
             f"tonic.datasets.NMNIST(save_to='{root}', train=False)")
    cls = offline(tonic.datasets.NMNIST, "nmnist", root, fetch, "NMNIST/{Train,Test}/<digit>/*.bin", "*/*.bin")
    src = cls(save_to=str(root), train=split == "train", first_saccade_only=bool(first_saccade_only),
              transform=EventFrames(SENSOR, int(steps), dt_us, bool(binary)))
    return FrameDataset(src, flatten=bool(flatten), classes=N_CLASSES, name=f"nmnist {split}")


TASK = streaming_task(
    "nmnist", dataset, rate_cross_entropy, spike_count_accuracy,
    description="N-MNIST (tonic): 34x34 ON/OFF events binned into frames, 10 classes")
