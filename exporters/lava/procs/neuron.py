"""One Lava Process and two ProcessModels for every custom population kind: the descriptor
neurons (``zoo.neurons.registry``), the gamma-bucket chains and sigma-delta units.

The dynamics are the kind's ``step`` (:class:`~exporters.lava.populations.PopulationKind`,
shared with the emulator), so Lava fixed point and the emulator are bit-identical by
construction. Vars: ``v`` (the kind's state variable ``v``: the membrane, or the graded
message, sent on ``v_out``) and ``rest`` (the other state variables in the kind's order, one
row each: shape (k, batch*n)); ``kind`` names the kind.
"""
from __future__ import annotations

import typing as ty

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.variable import Var
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from exporters.lava.procs.windowed import KindFixedPorts, KindFloatPorts, KindPopulation


class NeuronPopulation(KindPopulation):
    """Population of the registered neuron ``kind`` (float or integer ``params``)."""

    state = ("v",)

    def __init__(self, *, shape: ty.Tuple[int, ...], params: dict, kind: str, n_state: int, **kw) -> None:
        super().__init__(shape=shape, params=params, kind=kind, **kw)
        self.rest = Var(shape=(max(1, n_state - 1), self.a_in.shape[0]), init=0)


class _NeuronModel:
    """State views: the kind's ``v`` is the Var ``v``, its other variables rows of ``rest``."""

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.others = tuple(k for k in self.kind.state if k != "v")
        self.state_vars = ("v", "rest")

    def state_views(self) -> dict[str, np.ndarray]:
        views = {"v": self.v.reshape(self.batch, -1)}
        for j, k in enumerate(self.others):
            views[k] = self.rest[j].reshape(self.batch, -1)
        return views


@implements(proc=NeuronPopulation, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyNeuronModelFloat(_NeuronModel, KindFloatPorts):
    """Floating point (float64)."""

    rest: np.ndarray = LavaPyType(np.ndarray, float)


@implements(proc=NeuronPopulation, protocol=LoihiProtocol)
@requires(CPU)
@tag("bit_accurate_loihi", "fixed_pt")
class PyNeuronModelFixed(_NeuronModel, KindFixedPorts):
    """Loihi fixed point: 24-bit state (the neuron's format)."""

    rest: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=24)
