"""Lava processes of SpikingGamma populations (float and fixed point): fused gamma-bucket
chains and sigma-delta ReLU units. Equations: :mod:`exporters.lava.gamma_populations` (the same
step functions run here and in the emulator)."""
from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from exporters.lava.procs.windowed import KindFixedPorts, KindFloatPorts, KindPopulation


class LIChain(KindPopulation):
    state = ("b", "v", "acc")


class SigmaDeltaUnit(KindPopulation):
    state = ("v", "r", "q")


@implements(proc=LIChain, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyLIChainModelFloat(KindFloatPorts):
    kind_name = "li_chain"
    b: np.ndarray = LavaPyType(np.ndarray, float)
    acc: np.ndarray = LavaPyType(np.ndarray, float)


@implements(proc=LIChain, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyLIChainModelFixed(KindFixedPorts):
    kind_name = "li_chain"
    b: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    acc: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)


@implements(proc=SigmaDeltaUnit, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PySigmaDeltaUnitModelFloat(KindFloatPorts):
    kind_name = "sigma_delta"
    r: np.ndarray = LavaPyType(np.ndarray, float)
    q: np.ndarray = LavaPyType(np.ndarray, float)


@implements(proc=SigmaDeltaUnit, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PySigmaDeltaUnitModelFixed(KindFixedPorts):
    kind_name = "sigma_delta"
    r: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    q: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=16)
