"""Lava processes of SpikingGamma populations (float and fixed point): fused gamma-bucket chains and
sigma-delta ReLU units. Equations: :mod:`exporters.lava.gamma_populations` (the same step
functions run here and in the emulator)."""
from __future__ import annotations

import typing as ty

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.variable import Var
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from exporters.lava.procs.windowed import WindowedModel, WindowedPopulation


class _CustomPopulation(WindowedPopulation):
    """A population whose dynamics is a registered :class:`PopulationKind` step."""

    kind: str = ""
    state: ty.Tuple[str, ...] = ()

    def __init__(self, *, shape: ty.Tuple[int, ...], params: dict, latency: int = 0, window: int = 0,
                 name: str | None = None) -> None:
        super().__init__(shape=shape, latency=latency, window=window, name=name, params=params)
        for var in self.state:
            setattr(self, var, Var(shape=shape, init=0))


class LIChain(_CustomPopulation):
    kind, state = "li_chain", ("b", "v", "acc")


class SigmaDeltaUnit(_CustomPopulation):
    kind, state = "sigma_delta", ("v", "r")


class _CustomModel(WindowedModel):
    fixed = False

    def __init__(self, proc_params):
        super().__init__(proc_params)
        from exporters.lava.populations import KINDS, load_plugins

        load_plugins()
        self.params = proc_params["params"]
        self.kind = KINDS[self.kind_name]
        self.state_vars = self.kind.state

    def update(self, a_in: np.ndarray) -> np.ndarray:
        state = {k: getattr(self, k)[None, :] for k in self.state_vars}  # views: updated in place
        a = a_in[None, :].astype(np.int64) if self.fixed else a_in[None, :]
        return self.kind.step(state, a, self.params, self.fixed)[0]


class _FloatTypes(_CustomModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    v_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    v: np.ndarray = LavaPyType(np.ndarray, float)


class _FixedTypes(_CustomModel):
    fixed = True
    s_dtype = np.int32
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    v_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=16)
    v: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)


@implements(proc=LIChain, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyLIChainModelFloat(_FloatTypes):
    kind_name = "li_chain"
    b: np.ndarray = LavaPyType(np.ndarray, float)
    acc: np.ndarray = LavaPyType(np.ndarray, float)


@implements(proc=LIChain, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyLIChainModelFixed(_FixedTypes):
    kind_name = "li_chain"
    b: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    acc: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)


@implements(proc=SigmaDeltaUnit, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PySigmaDeltaUnitModelFloat(_FloatTypes):
    kind_name = "sigma_delta"
    r: np.ndarray = LavaPyType(np.ndarray, float)


@implements(proc=SigmaDeltaUnit, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PySigmaDeltaUnitModelFixed(_FixedTypes):
    kind_name = "sigma_delta"
    r: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
