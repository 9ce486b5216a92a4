"""The interface of a plastic layer that learns online, one sample and one step at a time.

Every step, each layer runs ``forward`` (inputs of this step -> outputs of this step), then the
head turns the target into an error (zero on steps without a target) and, on learning steps,
every layer, from the top down, runs ``backward`` in the *same* step (error on its output -> error on its input), accumulating its parameter
updates. ``apply_update`` applies the accumulated updates at the end of a batch; ``reset``
clears the neuron state and traces at the start of each sample. The Lava process models
(:mod:`exporters.lava.plastic.procs`) and the emulator (:mod:`exporters.lava.plastic.run`)
call exactly these methods, so both run the same arithmetic.

A layer is float64 (``fixed = False``) or integer (``fixed = True``); ``params()`` returns the
current parameters as real numbers under the torch ``state_dict`` names of the model it came
from, so the trained network can be saved and evaluated like any zoo model.
"""
from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np


class OnlineLayer(ABC):
    """One plastic layer (see module docstring). Subclasses set the shapes below."""

    n_in: int = 0              # size of the input vector of a step
    n_out: int = 0             # size of the output vector of a step
    err_in_shape: tuple = ()   # shape of the error it receives (usually (n_out,))
    err_out_shape: tuple = ()  # shape of the error it sends down (usually (n_in,))
    fixed: bool = False
    input_frac: int = 0        # fixed point: fractional bits of graded inputs (0: spikes/integers)
    out_frac: int = 0          # fixed point: fractional bits of the output values
    var_names: tuple = ()      # parameter arrays mirrored in Lava Vars (``arrays()`` keys)

    @abstractmethod
    def reset(self) -> None:
        """Clear neuron state and traces (start of a sample)."""

    @abstractmethod
    def forward(self, x: np.ndarray) -> np.ndarray:
        """Advance one step on input ``x`` (n_in,); return the output (n_out,)."""

    @abstractmethod
    def backward(self, g: np.ndarray) -> np.ndarray:
        """Same-step error ``g`` (err_in_shape) on this step's output: accumulate the
        parameter updates and return the error on this step's input (err_out_shape)."""

    @abstractmethod
    def apply_update(self, n_samples: int) -> None:
        """Apply the updates accumulated over ``n_samples`` samples (mean) and zero them."""

    @abstractmethod
    def arrays(self) -> dict[str, np.ndarray]:
        """The parameter arrays as stored (float64, or integers in fixed point)."""

    @abstractmethod
    def params(self) -> dict[str, np.ndarray]:
        """Parameters as real numbers under the model's ``state_dict`` names."""


class OnlineHead(OnlineLayer):
    """The top layer: also turns a target into the error on its own output."""

    @abstractmethod
    def error(self, y: np.ndarray, target: int) -> np.ndarray:
        """dE/dy of this step's loss for integer ``target`` (called only when target >= 0)."""
