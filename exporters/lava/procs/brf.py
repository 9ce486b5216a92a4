"""Lava Process and ProcessModels of the BRF population (zoo NIR extension ``brf`` v1).

The dynamics (float and fixed point) are :func:`exporters.lava.hypr_populations.brf_step`, shared
with the emulator; equations and the fixed-point format are in that module's docstring. State
Vars: ``v`` (real part u of the complex membrane, sent on ``v_out``), ``im`` (imaginary part),
``q`` (refractory); the parameters (float or integer, per neuron) are process parameters.
"""
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


class BRF(WindowedPopulation):
    """BRF population; ``params``: float (omega, b_offset, theta, dt, p) or the integers of
    :func:`exporters.lava.hypr_populations.brf_quantize`."""

    def __init__(self, *, shape: ty.Tuple[int, ...], params: dict, latency: int = 0, window: int = 0,
                 name: str | None = None) -> None:
        super().__init__(shape=shape, latency=latency, window=window, name=name,
                         params={k: np.asarray(v) for k, v in params.items()})
        self.v = Var(shape=shape, init=0)
        self.im = Var(shape=shape, init=0)
        self.q = Var(shape=shape, init=0)


class _BRFModel(WindowedModel):
    state_vars = ("v", "im", "q")
    fixed = False

    def __init__(self, proc_params):
        super().__init__(proc_params)
        from exporters.lava.hypr_populations import brf_step

        self.params = proc_params["params"]
        self.step_fn = brf_step

    def update(self, a_in: np.ndarray) -> np.ndarray:
        state = {k: getattr(self, k) for k in self.state_vars}
        s = self.step_fn(state, a_in, self.params, self.fixed)
        for k in self.state_vars:
            getattr(self, k)[:] = state[k]
        return s


@implements(proc=BRF, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyBRFModelFloat(_BRFModel):
    """Floating-point BRF (float64)."""

    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    v_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    v: np.ndarray = LavaPyType(np.ndarray, float)
    im: np.ndarray = LavaPyType(np.ndarray, float)
    q: np.ndarray = LavaPyType(np.ndarray, float)
    s_dtype = float


@implements(proc=BRF, protocol=LoihiProtocol)
@requires(CPU)
@tag("bit_accurate_loihi", "fixed_pt")
class PyBRFModelFixed(_BRFModel):
    """Fixed-point BRF: 24-bit state, 23-fractional-bit coefficients (see hypr_populations)."""

    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    v_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    v: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    im: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    q: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    fixed = True
    s_dtype = np.int32
