"""Lava Process and ProcessModels of the SE-adLIF population (zoo NIR extension ``se_adlif`` v1).

The dynamics (float and fixed point) are :func:`exporters.lava.hypr_populations.se_adlif_step`, shared
with the emulator; equations and the fixed-point format are in that module's docstring. State
Vars: ``v`` (post-reset membrane u, sent on ``v_out``), ``w`` (adaptation);
the parameters (float or integer, per neuron) are process parameters.
"""
from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from exporters.lava.procs.windowed import KindFixedPorts, KindFloatPorts, KindPopulation


class SEAdLIF(KindPopulation):
    """SE-adLIF population; ``params``: float (alpha, beta, a, b, q, theta) or the integers of
    :func:`exporters.lava.hypr_populations.se_adlif_quantize`."""

    state = ("v", "w")


@implements(proc=SEAdLIF, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PySEAdLIFModelFloat(KindFloatPorts):
    """Floating-point SE-adLIF (float64)."""

    kind_name = "se_adlif"
    w: np.ndarray = LavaPyType(np.ndarray, float)


@implements(proc=SEAdLIF, protocol=LoihiProtocol)
@requires(CPU)
@tag("bit_accurate_loihi", "fixed_pt")
class PySEAdLIFModelFixed(KindFixedPorts):
    """Fixed-point SE-adLIF: 24-bit state, 23-fractional-bit coefficients (see hypr_populations)."""

    kind_name = "se_adlif"
    w: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
