"""One Lava Process and two ProcessModels for every custom population kind: the descriptor
neurons (``zoo.neurons.registry``), the gamma-bucket chains and sigma-delta units.

The dynamics are the kind's ``step`` (:class:`~exporters.lava.populations.PopulationKind`,
shared with the emulator), so Lava fixed point and the emulator are bit-identical by
construction. Vars: ``v`` (the kind's state variable ``v``: the membrane, or the graded
message, sent on ``v_out``) and ``rest`` (the other state variables in the kind's order, one
row each: shape (k, batch*n)); ``kind`` names the kind, ``params`` are its float or integer
parameters (per neuron, broadcast over the batch).
"""
from __future__ import annotations

import typing as ty

import numpy as np
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.variable import Var

from exporters.lava.procs.windowed import FixedPorts, FloatPorts, WindowedModel, WindowedPopulation, cpu_model


class NeuronPopulation(WindowedPopulation):
    """Population of the registered kind ``kind`` with ``n_state`` state variables."""

    def __init__(self, *, shape: ty.Tuple[int, ...], params: dict, kind: str, n_state: int, latency: int = 0,
                 window: int = 0, name: str | None = None, batch: int = 1, **extra) -> None:
        params = {k: (np.asarray(v) if isinstance(v, (list, tuple, np.ndarray)) else v) for k, v in params.items()}
        super().__init__(shape=shape, latency=latency, window=window, name=name, params=params, batch=batch,
                         kind=kind, **extra)
        self.v = Var(shape=self.a_in.shape, init=0)
        self.rest = Var(shape=(max(1, n_state - 1), self.a_in.shape[0]), init=0)


class _NeuronModel(WindowedModel):
    """Calls the kind's ``step`` on this process's state viewed as (batch, n) arrays."""

    fixed: bool = False
    state_vars = ("v", "rest")

    def __init__(self, proc_params):
        super().__init__(proc_params)
        from exporters.lava.populations import KINDS

        self.params = proc_params["params"]
        self.kind = KINDS[proc_params["kind"]]
        self.others = tuple(k for k in self.kind.state if k != "v")

    def update(self, a_in: np.ndarray) -> np.ndarray:
        views = {"v": self.v.reshape(self.batch, -1)}
        for j, k in enumerate(self.others):
            views[k] = self.rest[j].reshape(self.batch, -1)
        state = dict(views)
        a = a_in.reshape(self.batch, -1)
        s = self.kind.step(state, a.astype(np.int64) if self.fixed else a, self.params, self.fixed)
        for k, view in views.items():  # steps may update in place or rebind
            view[:] = state[k]
        return np.asarray(s).reshape(-1)


@cpu_model(NeuronPopulation, "floating_pt")
class PyNeuronModelFloat(FloatPorts, _NeuronModel):
    """Floating point (float64)."""

    v: np.ndarray = LavaPyType(np.ndarray, float)
    rest: np.ndarray = LavaPyType(np.ndarray, float)


@cpu_model(NeuronPopulation, "bit_accurate_loihi", "fixed_pt")
class PyNeuronModelFixed(FixedPorts, _NeuronModel):
    """Loihi fixed point: 24-bit state (the kind's format), integer messages."""

    fixed = True
    v: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
    rest: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
