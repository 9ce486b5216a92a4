"""Base Process and ProcessModel for zoo populations that run many samples in one Lava run.

Every ``window`` steps the state is cleared, and during the first ``latency`` steps of a window
the population ignores its input (it is that many Dense stages from the Input), so each sample
sees exactly a fresh runtime. With delayed stages (``DelayDense``) the last ``drain`` steps of a
window are silent, so no delayed activity reaches the next sample. Subclasses declare their state Vars and implement ``update``.

Batches: with ``batch`` = B the process holds B samples side by side (ports and state (B*n,),
sample-major: row b of the (B, n) view is sample b); per-neuron parameters stay (n,) and
broadcast over the batch, so every sample runs the one-sample arithmetic.
"""
from __future__ import annotations

import typing as ty

import numpy as np
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var


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


class KindPopulation(WindowedPopulation):
    """A population whose dynamics is a registered :class:`~exporters.lava.populations.PopulationKind`
    (its ``step`` is shared with the emulator). Subclasses set ``state`` (the Var names)."""

    state: ty.Tuple[str, ...] = ()

    def __init__(self, *, shape: ty.Tuple[int, ...], params: dict, latency: int = 0, window: int = 0,
                 name: str | None = None, batch: int = 1, **extra) -> None:
        params = {k: (np.asarray(v) if isinstance(v, (list, tuple, np.ndarray)) else v) for k, v in params.items()}
        super().__init__(shape=shape, latency=latency, window=window, name=name, params=params, batch=batch, **extra)
        for var in self.state:
            setattr(self, var, Var(shape=self.a_in.shape, init=0))


class KindModel(WindowedModel):
    """ProcessModel of a :class:`KindPopulation`: calls the kind's ``step`` on this process's
    state viewed as (batch, n) (the kinds' steps take a leading batch axis, as in the emulator). Subclasses set ``kind_name`` and declare the state Vars'
    LavaPyTypes; :class:`KindFloatPorts` / :class:`KindFixedPorts` give the port types."""

    kind_name: str = ""
    fixed: bool = False

    def __init__(self, proc_params):
        super().__init__(proc_params)
        from exporters.lava.populations import KINDS, load_plugins

        load_plugins()
        self.params = proc_params["params"]
        self.kind = KINDS[proc_params.get("kind", self.kind_name)]
        self.state_vars = self.kind.state

    def state_views(self) -> dict[str, np.ndarray]:
        """The kind's state variables as (batch, n) views of this process's Vars."""
        return {k: getattr(self, k).reshape(self.batch, -1) for k in self.state_vars}

    def update(self, a_in: np.ndarray) -> np.ndarray:
        views = self.state_views()
        state = dict(views)
        a = a_in.reshape(self.batch, -1)
        a = a.astype(np.int64) if self.fixed else a
        s = self.kind.step(state, a, self.params, self.fixed)
        for k, view in views.items():  # steps may update in place or rebind
            view[:] = state[k]
        return np.asarray(s).reshape(-1)


class KindFloatPorts(KindModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    v_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    v: np.ndarray = LavaPyType(np.ndarray, float)


class KindFixedPorts(KindModel):
    fixed = True
    s_dtype = np.int32
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    v_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    v: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
