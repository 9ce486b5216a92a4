"""Lava Process and ProcessModels of the BRF population (zoo NIR extension ``brf`` v1).

The dynamics (float and fixed point) are :func:`exporters.lava.hypr_populations.brf_step`, shared
with the emulator; equations and the fixed-point format are in that module's docstring. State
Vars: ``v`` (real part u of the complex membrane, sent on ``v_out``), ``im`` (imaginary part),
``q`` (refractory); the parameters (float or integer, per neuron) are process parameters.
"""
from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from exporters.lava.procs.windowed import KindFixedPorts, KindFloatPorts, KindPopulation


class BRF(KindPopulation):
    """BRF population; ``params``: float (omega, b_offset, theta, dt, p) or the integers of
    :func:`exporters.lava.hypr_populations.brf_quantize`."""

    state = ("v", "im", "q")


@implements(proc=BRF, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyBRFModelFloat(KindFloatPorts):
    """Floating-point BRF (float64)."""

    kind_name = "brf"
    im: np.ndarray = LavaPyType(np.ndarray, float)
    q: np.ndarray = LavaPyType(np.ndarray, float)


@implements(proc=BRF, protocol=LoihiProtocol)
@requires(CPU)
@tag("bit_accurate_loihi", "fixed_pt")
class PyBRFModelFixed(KindFixedPorts):
    """Fixed-point BRF: 24-bit state, 23-fractional-bit coefficients (see hypr_populations)."""

    kind_name = "brf"
    im: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    q: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
