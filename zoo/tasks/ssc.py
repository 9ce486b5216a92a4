"""Spiking Speech Commands (SSC; Cramer et al. 2020): 35 Google Speech Commands words as spikes of
700 cochlea-model channels, read with tonic (``tonic.datasets.SSC``).

Files: ``<data cache>/ssc/SSC/ssc_{train,valid,test}.h5`` (tonic's layout for ``save_to =
<data cache>/ssc``), the HDF5 format of SHD (``spikes/times``, ``spikes/units``, ``labels``,
``extra/keys``, ``extra/speaker``). Zoo splits ``train`` / ``val`` / ``test`` map to SSC's
``train`` / ``valid`` / ``test``. Missing files raise one ZooError line with the tonic command
that downloads them; the zoo never downloads SSC.

Streaming, binning, ``channels`` pooling and the two tasks (``ssc``: label per sample, ``ssc-seq``:
label at every step from ``label_from`` on) are those of :mod:`zoo.tasks.shd`. Defaults [ours]:
250 steps of 4 ms (1 s, the length of a Speech Commands clip).
"""
from __future__ import annotations

from zoo.tasks import rate_cross_entropy, spike_count_accuracy, streaming_task
from zoo.tasks.events import FrameDataset, check_split, with_step_labels
from zoo.tasks.seqlabel import masked_nll, sequence_accuracy
from zoo.tasks.shd import hsd_source

N_CLASSES = 35
SPLITS = {"train": "train", "val": "valid", "test": "test"}


def dataset(split: str = "train", steps: int = 250, dt_ms: float = 4.0, channels: int = 700,
            binary: bool = False) -> FrameDataset:
    """SSC ``split`` as a streaming Dataset of (x (steps, channels) float32 counts, label int64)."""
    check_split("ssc", split, tuple(SPLITS))
    src = hsd_source("SSC", "ssc", {"split": SPLITS[split]}, [f"split={s!r}" for s in SPLITS.values()], steps,
                     dt_ms, channels, binary)
    return FrameDataset(src, flatten=True, classes=N_CLASSES, name=f"ssc {split}")


dataset_seq = with_step_labels(dataset)


TASK = streaming_task(
    "ssc", dataset, rate_cross_entropy, spike_count_accuracy,
    description="Spiking Speech Commands (tonic): 700 channels binned into frames, 35 classes, label per sample")
TASK_SEQ = streaming_task(
    "ssc-seq", dataset_seq, masked_nll, sequence_accuracy,
    description="Spiking Speech Commands (tonic): 700 channels binned into frames, the label at every step")
