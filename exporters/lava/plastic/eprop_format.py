"""Fixed-point format and helpers shared by the online e-prop layers of :mod:`.eprop` and
:mod:`.eprop_readout` (notation and the meaning of every width: ``docs/online-lava.md``, section
"E-prop inside Lava"). A value q with f fractional bits stands for q 2^-f.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from exporters.lava.plastic import fixed as fx

F64 = torch.float64


@dataclass(frozen=True)
class FixedFormat:
    """Bit widths of the fixed-point e-prop layers (fractional bits ``*_frac``, total bits ``*_bits``)."""

    weight_bits: int = 8
    state_frac: int = 14
    state_bits: int = 24
    coef_bits: int = 12
    lut_frac: int = 6
    trace_frac: int = 18
    trace_bits: int = 24
    err_bits: int = 8
    acc_frac: int = 16
    acc_bits: int = 32
    input_frac: int = 0
    hidden_headroom: int = 1
    out_headroom: int = 4

    @property
    def err_frac(self) -> int:
        return self.err_bits - 1


def _q(x, frac: int) -> np.ndarray:
    return fx.to_fixed(x, frac)


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().to(torch.float64).numpy().copy()


def _n_labelled(err_scale: float) -> int | float:
    """The labelled-step count n with err_scale = 1 / n (an int when it is one, as torch's)."""
    n = round(1.0 / err_scale)
    return n if n >= 1 and abs(n * err_scale - 1.0) < 1e-12 else 1.0 / err_scale


def _sgd_t(p: np.ndarray, grad: torch.Tensor, lr: float, n: int) -> None:
    """``torch.optim.SGD``'s CPU step on the numpy parameter ``p`` in place:
    ``param.add_(grad, alpha=-lr)`` (grad / n for a batch of n samples)."""
    if n > 1:
        grad = grad / n
    torch.from_numpy(p).add_(grad, alpha=-lr)


def surrogate_lut(fmt: FixedFormat) -> np.ndarray:
    """ALIF's surrogate ``slayer_grad`` tabulated: entry k = round(2^coef_bits g(k 2^-lut_frac))
    up to |x| = 4 (g < 2^-28 beyond)."""
    from zoo.neurons.surrogate import slayer_grad

    k = torch.arange(4 * 2 ** fmt.lut_frac + 1, dtype=torch.float64) * 2.0 ** -fmt.lut_frac
    return fx.to_fixed(slayer_grad(k).numpy(), fmt.coef_bits)
