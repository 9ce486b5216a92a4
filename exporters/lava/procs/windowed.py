"""Base Process and ProcessModel for zoo populations that run many samples in one Lava run.

Every ``window`` steps the state is cleared, and during the first ``latency`` steps of a window
the population ignores its input (it is that many Dense stages from the Input), so each sample
sees exactly a fresh runtime. With delayed stages (``DelayDense``) the last ``drain`` steps of a
window are silent, so no delayed activity reaches the next sample. Subclasses declare their
state Vars and implement ``update`` (:mod:`~exporters.lava.procs.zoo_neuron`,
:mod:`~exporters.lava.procs.neuron`).

Batches: with ``batch`` = B the process holds B samples side by side (ports and state (B*n,),
sample-major: row b of the (B, n) view is sample b); per-neuron parameters stay (n,) and
broadcast over the batch, so every sample runs the one-sample arithmetic.
"""
from __future__ import annotations

import typing as ty

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol


class WindowedPopulation(AbstractProcess):
    """Ports ``a_in`` (summed Dense input), ``s_out`` (spikes), ``v_out`` (membrane)."""

    def __init__(self, *, shape: ty.Tuple[int, ...], latency: int = 0, window: int = 0, name: str | None = None,
                 batch: int = 1, **proc_params) -> None:
        """``shape`` is one sample's (n,); ports and state hold ``batch`` samples: (batch*n,)."""
        shape = (int(batch) * int(np.prod(shape)),)
        super().__init__(shape=shape, latency=latency, window=window, name=name, batch=int(batch), **proc_params)
        self.a_in = InPort(shape=shape)
        self.s_out = OutPort(shape=shape)
        self.v_out = OutPort(shape=shape)


class WindowedModel(PyLoihiProcessModel):
    """``run_spk``: receive, clear state outside the sample's active steps, else ``update``."""

    state_vars: ty.Tuple[str, ...] = ()
    s_dtype: ty.Any = float

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.latency = int(proc_params["latency"])
        self.window = int(proc_params["window"])
        self.drain = int(proc_params.get("drain", 0))
        self.batch = int(proc_params.get("batch", 1))

    def update(self, a_in: np.ndarray) -> np.ndarray:
        """Advance one step; return the spikes (bool array)."""
        raise NotImplementedError

    def run_spk(self) -> None:
        a_in = self.a_in.recv()
        w = (self.time_step - 1) % self.window if self.window > 0 else self.time_step - 1
        if w < self.latency or (self.window > 0 and w >= self.window - self.drain):
            for var in self.state_vars:
                getattr(self, var)[:] = 0
            s = np.zeros(self.v.shape, dtype=bool)
        else:
            s = self.update(a_in)
        self.s_out.send(s.astype(self.s_dtype))
        self.v_out.send(self.v.copy())


def cpu_model(proc: type, *tags: str) -> ty.Callable[[type], type]:
    """``@implements(proc, LoihiProtocol) @requires(CPU) @tag(*tags)`` in one decorator."""
    def deco(cls: type) -> type:
        return implements(proc=proc, protocol=LoihiProtocol)(requires(CPU)(tag(*tags)(cls)))
    return deco


class FloatPorts:
    """Port types of a floating-point windowed model (float64 messages)."""

    s_dtype = float
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    v_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)


class FixedPorts:
    """Port types of a fixed-point windowed model (24-bit integer messages)."""

    s_dtype = np.int32
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    v_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
