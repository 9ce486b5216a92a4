"""CIFAR-10 (Krizhevsky 2009): 32 x 32 colour images, 10 classes, read with torchvision
(``torchvision.datasets.CIFAR10``), for the STOP models (direct encoding, as ``digits``).

Files: ``<data cache>/cifar10/cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}``
(torchvision's layout for ``root = <data cache>/cifar10``: the python pickles of the CIFAR-10
release). torchvision checks every file's MD5 against the release when it opens the set; a
missing folder raises one ZooError line with the torchvision command that downloads it, files
that fail the check another. The zoo never downloads CIFAR-10.

Streaming: torchvision keeps the split's uint8 images in memory (150 MB for train); the encoding
happens per sample in :func:`dataset`'s ``__getitem__``: pixel / 255 (``ToTensor``), optionally
standardised per channel with the CIFAR-10 training mean and std (``normalize``), repeated at
every one of ``steps`` steps (the expanded view is copied only when a batch is stacked). Inputs
(steps, 3, 32, 32) float32. Splits: ``train`` (50,000) / ``test`` (10,000). Task ``cifar10``:
label per sample, cross-entropy of the time-summed output, accuracy of the summed output.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from zoo.registry import ZooError
from zoo.tasks import rate_cross_entropy, spike_count_accuracy, streaming_task
from zoo.tasks.events import FrameDataset, check_split, data_root, missing_data, require

N_CLASSES = 10
SPLITS = ("train", "test")
MEAN = (0.4914, 0.4822, 0.4465)  # per-channel mean and std of the CIFAR-10 training images
STD = (0.2470, 0.2435, 0.2616)
FOLDER = "cifar-10-batches-py"


class RepeatSteps:
    """(C, H, W) image -> (steps, C, H, W): the same frame at every step (direct encoding)."""

    def __init__(self, steps: int) -> None:
        self.steps = int(steps)

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        return image.unsqueeze(0).expand(self.steps, *image.shape)


def _open(root: Path, train: bool, transform: Any) -> Any:
    tv = require("torchvision", "cifar10")
    fetch = f"import torchvision; torchvision.datasets.CIFAR10(root='{root}', download=True)"
    if not (root / FOLDER).is_dir():
        raise missing_data("cifar10", root, fetch, f"{FOLDER}/{{data_batch_1..5,test_batch,batches.meta}}")
    try:
        return tv.datasets.CIFAR10(root=str(root), train=train, transform=transform, download=False)
    except RuntimeError as exc:  # torchvision: a file missing or failing its MD5 check
        raise ZooError(f"data set 'cifar10' in {root / FOLDER}: {exc.args[0].split('.')[0]} (torchvision's MD5 "
                       f"check of the release files); download it again with: python -c \"{fetch}\"") from None


def dataset(split: str = "train", steps: int = 4, normalize: bool = False) -> FrameDataset:
    """CIFAR-10 ``split`` as a Dataset of (x (steps, 3, 32, 32) float32, label int64)."""
    check_split("cifar10", split, SPLITS)
    if int(steps) < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    require("torchvision", "cifar10")
    from torchvision import transforms as T

    pipeline = [T.ToTensor()] + ([T.Normalize(MEAN, STD)] if normalize else []) + [RepeatSteps(int(steps))]
    src = _open(data_root("cifar10"), split == "train", T.Compose(pipeline))
    return FrameDataset(src, classes=N_CLASSES, name=f"cifar10 {split}")


TASK = streaming_task(
    "cifar10", dataset, rate_cross_entropy, spike_count_accuracy,
    description="CIFAR-10 (torchvision): 32x32 RGB images repeated over T steps (direct encoding), 10 classes")
