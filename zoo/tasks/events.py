"""Shared plumbing of the tasks on the papers' large data sets (``shd``, ``ssc``, ``nmnist``,
``dvs-gesture``, ``cifar10``): where their files live, the one-line error when they are missing,
tonic's data set classes made offline, and the event-to-frame binning.

Where: ``<data cache>/<name>`` (:func:`zoo.datasets.data_dir`, ``$ZOO_DATA_DIR``), laid out as
tonic (``save_to`` = that folder) or torchvision (``root`` = that folder) write it. These sets are
not :class:`zoo.datasets.DataSet` entries: a DataSet verifies its files against a committed
SHA-256 manifest, which we cannot write for data we cannot download; tonic and torchvision check
their own archives (MD5) when they download. A missing folder raises :func:`missing_data`.

Binning (:class:`EventFrames`): events sorted by time, then tonic's ``ToFrame`` with
``time_window = dt`` from ``start_time = 0`` to ``end_time = steps * dt``: frame ``k`` counts the
events with ``k*dt <= t < (k+1)*dt``; events at ``t >= steps*dt`` are dropped (the crop), a
recording shorter than ``steps*dt`` ends in empty frames (the padding). Every sample has exactly
``steps`` frames, so samples batch without ragged lengths.

tonic and torchvision are the optional extra ``datasets`` (``pip install 'lava-nir-zoo[datasets]'``);
these modules import them only when a data set is opened, so the zoo imports without them.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from zoo.registry import ZooError

EXTRA = "pip install 'lava-nir-zoo[datasets]'"


def data_root(name: str) -> Path:
    """``<data cache>/<name>``: tonic's ``save_to`` / torchvision's ``root`` for set ``name``."""
    from zoo.datasets import data_dir

    return data_dir() / name


def missing_data(name: str, root: Path, fetch: str, files: str) -> ZooError:
    """The one-line error for a data set whose files are not on disk: where they go and the one
    command that downloads them (the zoo itself never downloads these sets)."""
    return ZooError(f"data set {name!r} not found: expected {files} under {root} (data cache: $ZOO_DATA_DIR); "
                    f"download it once with: python -c \"{fetch}\"  (or copy the files there)")


def require(module: str, task: str) -> Any:
    """Import ``module`` (tonic, torchvision) or raise a one-line ZooError naming the extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ZooError(f"task {task!r} needs {module} ({exc}); install the extra: {EXTRA}") from None


def offline(cls: type, name: str, root: Path, fetch: str, files: str, pattern: str) -> type:
    """tonic's data set class ``cls`` that never downloads: a subclass of the same name (tonic puts
    files in ``save_to/<class name>``) whose existence check is "at least one file matching
    ``pattern`` in the split's folder" (tonic's own wants its download archive and, for N-MNIST
    and DVS-Gesture, thousands of files) and whose ``download`` raises :func:`missing_data`.
    ``pattern`` may name the instance's attributes, e.g. ``"{data_filename}"``."""

    def _check_exists(self: Any) -> bool:
        folder = Path(self.location_on_system, self.folder_name or "")
        return folder.is_dir() and next(folder.glob(pattern.format(**vars(self))), None) is not None

    def download(self: Any) -> None:
        raise missing_data(name, root, fetch, files)

    return type(cls.__name__, (cls,), {"_check_exists": _check_exists, "download": download,
                                       "__module__": __name__, "__doc__": cls.__doc__})


@dataclass(frozen=True)
class EventFrames:
    """Events (a tonic structured array with ``t`` in microseconds) -> ``steps`` frames of
    ``dt_us`` each, float32 of shape (steps, P, X) for audio sensors (``sensor_size = (X, 1,
    P)``) or (steps, P, Y, X) for cameras; ``binary``: clip counts at 1 (spikes)."""

    sensor_size: tuple[int, int, int]
    steps: int
    dt_us: int
    binary: bool = False

    def __call__(self, events: np.ndarray) -> np.ndarray:
        from tonic.transforms import ToFrame

        events = events[np.argsort(events["t"], kind="stable")]
        events = events[(events["t"] >= 0) & (events["t"] < self.steps * self.dt_us)]
        audio = "y" not in events.dtype.names
        shape = (self.sensor_size[2], self.sensor_size[0]) if audio else self.sensor_size[::-1]
        if len(events) == 0:  # tonic's ToFrame returns one frame for an empty recording
            return np.zeros((self.steps, *shape), dtype=np.float32)
        frames = ToFrame(sensor_size=self.sensor_size, time_window=self.dt_us, start_time=0,
                         end_time=self.steps * self.dt_us)(events)
        if frames.shape[0] != self.steps:  # guards tonic's slice count (int arithmetic: never expected)
            raise RuntimeError(f"ToFrame gave {frames.shape[0]} frames, expected {self.steps}")
        out = frames.astype(np.float32)
        if self.binary:
            np.minimum(out, 1.0, out=out)
        return out


class Chain:
    """Apply ``transforms`` in order (tonic's ``Compose`` stops at an empty recording, which would
    hand the raw empty event array on instead of ``steps`` empty frames)."""

    def __init__(self, *transforms: Callable[[Any], Any]) -> None:
        self.transforms = transforms

    def __call__(self, events: Any) -> Any:
        for t in self.transforms:
            events = t(events)
        return events


class FrameDataset(torch.utils.data.Dataset):
    """A torch Dataset over a per-sample source (a tonic or torchvision data set whose
    ``transform`` already yields frames): ``ds[i]`` reads sample ``i`` only and returns
    ``(x, y)`` with ``x`` float32 (steps, ...) (flattened to (steps, features) when ``flatten``)
    and ``y`` the int64 label, or ``label_fn(label)`` (e.g. per-step targets)."""

    def __init__(self, source: Any, flatten: bool = False, label_fn: Callable[[int], torch.Tensor] | None = None,
                 classes: int | None = None, name: str = "") -> None:
        self.source, self.flatten, self.label_fn = source, flatten, label_fn
        self.classes, self.name = classes, name

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"{self.name} sample {index} out of range ({len(self)} samples)")
        x, label = self.source[index]
        x = x.to(torch.float32) if torch.is_tensor(x) else torch.from_numpy(np.asarray(x, dtype=np.float32))
        if self.flatten:
            x = x.reshape(x.shape[0], -1)
        label = int(np.asarray(label).reshape(-1)[0])
        if self.classes is not None and not 0 <= label < self.classes:
            raise ZooError(f"{self.name} sample {index}: label {label} outside 0..{self.classes - 1}")
        y = self.label_fn(label) if self.label_fn is not None else torch.tensor(label, dtype=torch.int64)
        return x, y


def per_step_labels(steps: int, label_from: int) -> Callable[[int], torch.Tensor]:
    """Label -> per-step targets (steps,): -1 (no label) before ``label_from``, the label after
    (the ``*-seq`` tasks, for per-step online rules such as HYPR and e-prop)."""
    if not 0 <= label_from < steps:
        raise ValueError(f"label_from must be in [0, steps) = [0, {steps}), got {label_from}")

    def fn(label: int) -> torch.Tensor:
        tgt = torch.full((steps,), -1, dtype=torch.int64)
        tgt[label_from:] = label
        return tgt

    return fn


def with_step_labels(dataset: Callable[..., FrameDataset]) -> Callable[..., FrameDataset]:
    """The ``*-seq`` factory of ``dataset``: the same samples, targets (steps,) from
    :func:`per_step_labels`; its signature is ``dataset``'s plus ``label_from`` (recipes' [task]
    keys are checked against it)."""
    import inspect

    sig = inspect.signature(dataset)
    default_steps = sig.parameters["steps"].default

    def dataset_seq(split: str = "train", **params: Any) -> FrameDataset:
        label_from = params.pop("label_from", 0)
        ds = dataset(split, **params)
        ds.label_fn = per_step_labels(int(params.get("steps", default_steps)), int(label_from))
        return ds

    # keyword-only after split (the function takes **params), plus label_from
    kw = inspect.Parameter.KEYWORD_ONLY
    first, *rest = sig.parameters.values()
    params = [first] + [p.replace(kind=kw) for p in rest] + [inspect.Parameter("label_from", kw, default=0,
                                                                                annotation="int")]
    dataset_seq.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    dataset_seq.__doc__ = (f"As {dataset.__module__}.{dataset.__name__}, with targets (steps,): -1 before step "
                           "``label_from``, the label after.")
    return dataset_seq


def check_split(task: str, split: str, splits: tuple[str, ...]) -> None:
    if split not in splits:
        raise ValueError(f"{task} split must be one of {', '.join(splits)}; got {split!r}")


def check_steps(steps: int, dt_ms: float) -> int:
    """``dt_ms`` as whole microseconds (tonic's time unit), after checking both parameters."""
    if int(steps) < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    dt_us = int(round(float(dt_ms) * 1000))
    if dt_us < 1 or abs(dt_us - float(dt_ms) * 1000) > 1e-6:
        raise ValueError(f"dt_ms must be a positive whole number of microseconds, got {dt_ms}")
    return dt_us
