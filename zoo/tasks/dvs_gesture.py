"""DVS128 Gesture (Amir et al. 2017): 11 hand and arm gestures of 29 people under 5 lighting
conditions, seen by a 128 x 128 DVS (ON/OFF), read with tonic (``tonic.datasets.DVSGesture``).

Files: ``<data cache>/dvs-gesture/DVSGesture/{ibmGestureTrain,ibmGestureTest}/user<NN>_<lighting>/
<label>.npy`` (tonic's layout for ``save_to = <data cache>/dvs-gesture``: tonic's preprocessed
release, one gesture per file, the label in the file name): int arrays (N, 4) of x, y, polarity,
t in milliseconds. Missing files raise one ZooError line with the tonic command that downloads
them; the zoo never downloads DVS-Gesture.

Streaming: :func:`dataset` reads one ``.npy`` file per ``__getitem__``, shrinks the sensor to
``size`` x ``size`` with tonic's ``Downsample`` (``size`` = 128 / 2^k, so the spatial factor is
exact in floating point and pixel x goes to floor(x * size / 128)) and bins the events into
``steps`` frames of ``dt_ms`` (:class:`zoo.tasks.events.EventFrames`, tonic ``ToFrame``). Inputs
(steps, 2*size*size) float32 event counts, channel = polarity*size^2 + y*size + x, or (steps, 2,
size, size) with ``flatten = false``; ``binary`` clips counts at 1. Splits: ``train`` / ``test``.
Task ``dvs-gesture``: label per sample; loss = mean over steps of the cross-entropy of the readout
(a sum of per-step terms, as the ``gestures`` task, for TBPTT); metric = accuracy of the
time-summed readout. Defaults [ours]: 32 x 32, 60 steps of 25 ms (the first 1.5 s of a gesture).
"""
from __future__ import annotations

from zoo.tasks import spike_count_accuracy, streaming_task
from zoo.tasks.events import Chain, EventFrames, FrameDataset, check_split, check_steps, data_root, offline, require
from zoo.tasks.gestures import per_step_cross_entropy

SENSOR = 128
N_CLASSES = 11
SPLITS = ("train", "test")


def dataset(split: str = "train", steps: int = 60, dt_ms: float = 25.0, size: int = 32, flatten: bool = True,
            binary: bool = False) -> FrameDataset:
    """DVS-Gesture ``split`` as a streaming Dataset of (x (steps, 2*size*size) or (steps, 2, size,
    size), label int64)."""
    check_split("dvs-gesture", split, SPLITS)
    if int(size) not in (128, 64, 32, 16, 8, 4, 2, 1):
        raise ValueError(f"size must be 128 / 2^k (128, 64, 32, 16, ...), got {size}")
    tonic = require("tonic", "dvs-gesture")
    import numpy.lib.recfunctions  # noqa: F401  (tonic's reader calls np.lib.recfunctions; numpy 1.x loads it lazily)
    import tonic.transforms as tt

    dt_us = check_steps(steps, dt_ms)
    root = data_root("dvs-gesture")
    fetch = (f"import tonic; tonic.datasets.DVSGesture(save_to='{root}', train=True); "
             f"tonic.datasets.DVSGesture(save_to='{root}', train=False)")
    cls = offline(tonic.datasets.DVSGesture, "dvs-gesture", root, fetch,
                  "DVSGesture/{ibmGestureTrain,ibmGestureTest}/user*/<label>.npy", "*/*.npy")
    size = int(size)
    frames = Chain(tt.Downsample(spatial_factor=size / SENSOR), EventFrames((size, size, 2), int(steps), dt_us,
                                                                             bool(binary)))
    src = cls(save_to=str(root), train=split == "train", transform=frames)
    return FrameDataset(src, flatten=bool(flatten), classes=N_CLASSES, name=f"dvs-gesture {split}")


TASK = streaming_task(
    "dvs-gesture", dataset, per_step_cross_entropy, spike_count_accuracy,
    description="DVS128 Gesture (tonic): ON/OFF events downsampled and binned into frames, 11 classes")
