"""NIR side of the HYPR neurons ``brf`` v1 and ``se_adlif`` v1 (docs/nir-extensions.md).

The subgraphs, their parameters and the exact semantics are defined once, with the neurons
(:mod:`zoo.neurons.brf`, :mod:`zoo.neurons.se_adlif`); the extensions are registered from the
neuron descriptors (:mod:`exporters.nir.extensions`). This module keeps the writers under
their NIR names and reports bad parameters as :class:`NIRError`.
"""
from __future__ import annotations

from typing import Any, Callable

import nir
import numpy as np

from exporters.nir.io import NIRError
from zoo.neurons import brf, se_adlif
from zoo.neurons.descriptor import NeuronError

BRF, SE_ADLIF = brf.NAME, se_adlif.NAME
BRF_Q_DECAY = brf.REFRACTORY_DECAY


def _nir_errors(fn: Callable[..., nir.NIRGraph]) -> Callable[..., nir.NIRGraph]:
    def wrapped(*args: Any, **kw: Any) -> nir.NIRGraph:
        try:
            return fn(*args, **kw)
        except NeuronError as exc:
            raise NIRError(str(exc)) from None
    wrapped.__doc__ = fn.__doc__
    return wrapped


brf_node = _nir_errors(brf.nir_node)
se_adlif_node = _nir_errors(se_adlif.nir_node)
brf_params = _nir_errors(brf.nir_params)
se_adlif_params = _nir_errors(se_adlif.nir_params)


def brf_p_omega(omega: Any, dt: float) -> np.ndarray:
    """Divergence boundary p(omega) = (-1 + sqrt(1 - (dt*omega)^2)) / dt (float64)."""
    return brf.p_omega(np, np.asarray(omega, np.float64), dt)
