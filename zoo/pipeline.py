"""One model, resolved once: name -> weights -> task and data -> dt -> NIR graph -> calibration ->
float and fixed-point plans.

``Pipeline(name_or_path)`` is what ``zoo eval``, ``zoo run``, ``zoo export``, ``zoo info``, the
card figures, sharded evaluation and the benchmarks use, so they all see the same graph, the
same input grid and the same calibrated fixed-point plan. The graph is validated once
(:func:`exporters.nir.validate.check_graph`) and the validated form is handed to every backend.

Units: ``dt`` in seconds (the weights metadata and NIR's convention). The fixed-point plan is
calibrated on training samples (never the evaluation set) run once in float, on the same
fixed-point input grid as the evaluation inputs (``input_frac_bits``).
"""
from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np
import torch

from zoo.registry import ZooError, get_entry, get_model, get_weights
from zoo.tasks import get_task

CALIBRATION_SAMPLES = 32


def torch_outputs(model: torch.nn.Module, x: torch.Tensor, batch: int = 256) -> torch.Tensor:
    """Outputs (B, T, K) of ``model`` (time-first module) on inputs (B, T, ...), in batches."""
    outs = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            outs.append(model(x[i:i + batch].transpose(0, 1)).transpose(0, 1))
    return torch.cat(outs)


def on_input_grid(x: np.ndarray, frac_bits: int) -> np.ndarray:
    """``x`` rounded to multiples of 2^-frac_bits (unchanged for frac_bits = 0: spikes)."""
    x = np.asarray(x, dtype=np.float64)
    return x if frac_bits == 0 else np.round(x * 2 ** frac_bits) / 2 ** frac_bits


class Pipeline:
    """A registered model (or a user's weights path) with everything derived from it, each
    piece computed on first use and kept. ``model``: an already built module to use instead of
    loading the weights again."""

    def __init__(self, name: str, model: torch.nn.Module | None = None) -> None:
        self.name = name
        self.entry = get_entry(name)
        self.weights = get_weights(name)
        dt = self.weights.meta.get("dt")
        if dt is None:
            raise ZooError(f"model {name!r}: weights metadata has no dt")
        self.dt: float = float(dt)  # seconds
        params = dict(self.weights.meta.get("task", {}))
        self.task = get_task(params.pop("name", self.entry.task))
        self.task_params = params
        self._model = model
        self._plans: dict[tuple[str, int], Any] = {}

    # -- torch side ------------------------------------------------------------------------
    @property
    def model(self) -> torch.nn.Module:
        if self._model is None:
            self._model = get_model(self.name)
        return self._model

    def data(self, split: str = "test", n: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs (B, T, ...), targets) of ``split``; ``n``: the first n samples (None: all)."""
        return self.task.load(split, n=n, **self.task_params)

    @cached_property
    def test_set_size(self) -> int:
        """Number of samples in the whole test split."""
        return int(len(self.data("test", None)[1]))

    @cached_property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input step (no batch, no time): from the weights metadata (written by
        ``zoo train``), so export and cards need no data; else from one test sample."""
        shape = self.weights.meta.get("input_shape")
        if shape is not None:
            return tuple(int(d) for d in shape)
        return tuple(self.data("test", 1)[0].shape[2:])

    def torch_outputs(self, x: torch.Tensor) -> torch.Tensor:
        return torch_outputs(self.model, x)

    # -- NIR -------------------------------------------------------------------------------
    @cached_property
    def graph(self):
        """The NIR graph with the numerical contract (dt, reset, encoding...) in its metadata."""
        from exporters.nir import to_nir

        contract = dict(self.weights.meta.get("contract", {}))
        return to_nir(self.model, dt=self.dt, input_shape=self.input_shape,
                      metadata={"model": self.name, "recipe": self.weights.recipe, "sha256": self.weights.sha256,
                                **contract})

    @cached_property
    def checked(self):
        """The graph validated once (a ``CheckedGraph``: every backend takes it as it is)."""
        from exporters.nir.validate import check_graph

        return check_graph(self.graph)

    def reference(self):
        """The NIR graph run by the torch executor in float64 (the reference agreement uses)."""
        from exporters.nir import from_nir

        return from_nir(self.checked)

    # -- Lava plans ------------------------------------------------------------------------
    def calibration_inputs(self, frac_bits: int, n: int = CALIBRATION_SAMPLES) -> np.ndarray:
        """The first ``n`` *training* samples (never the evaluation set) on the fixed-point input
        grid: run once in float to bound the state of populations without a threshold."""
        x, _ = self.data("train", n)
        return on_input_grid(x.numpy(), frac_bits)

    def plan(self, precision: str, input_frac_bits: int = 0, calibrate: np.ndarray | None = None):
        """The float ``Plan`` or the calibrated ``FixedPlan`` (inputs on the 2^-input_frac_bits
        grid), built once per (precision, input_frac_bits). ``calibrate``: explicit calibration
        inputs instead of the training samples (not cached)."""
        from exporters.lava import build_plan

        if precision not in ("float", "fixed"):
            raise ZooError(f"precision must be 'float' or 'fixed', got {precision!r}")
        if calibrate is not None:
            return build_plan(self.checked, precision, input_frac_bits=input_frac_bits, calibrate=calibrate)
        key = (precision, int(input_frac_bits) if precision == "fixed" else 0)
        if key not in self._plans:
            calib = self.calibration_inputs(key[1]) if precision == "fixed" else None
            self._plans[key] = build_plan(self.checked, precision, input_frac_bits=key[1], calibrate=calib)
        return self._plans[key]


def export_graph(name: str, model: torch.nn.Module | None = None):
    """The NIR graph of model ``name`` (see :attr:`Pipeline.graph`)."""
    return Pipeline(name, model).graph


def load_eval_data(name: str, samples: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``samples`` test samples of model ``name`` (None: the whole test split)."""
    return Pipeline(name).data("test", samples)


def calibration_inputs(name: str, frac_bits: int, n: int = CALIBRATION_SAMPLES) -> np.ndarray:
    """See :meth:`Pipeline.calibration_inputs`."""
    return Pipeline(name).calibration_inputs(frac_bits, n)
