"""Lava Process and ProcessModels of the zoo neuron (style of ``lava/proc/lif``).

``ZooNeuron`` generalises Lava's LIF where it does not fit NIR graphs: per-neuron du, dv and
vth, a current bias, zero or subtractive reset, an adaptive threshold (decay da, jump ja), non-spiking (LI) mode with the voltage on
``v_out``, and a sample window: every ``window`` steps the state is cleared and for the first
``latency`` steps of a window the neuron ignores its input and biases, so many samples run in one
Lava run exactly as if each had a fresh runtime; with ``batch`` = B the process also holds B
samples side by side (state (B*n,), parameters (n,) broadcast) (Dense stages add one step each: a neuron
``latency`` Dense stages from the input first sees sample data at window step ``latency``).
Equations: :mod:`exporters.lava.neuron_math`.
"""
from __future__ import annotations

import typing as ty

import numpy as np
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.variable import Var

from exporters.lava.neuron_math import RESET_CODES, step_fixed, step_float
from exporters.lava.procs.windowed import FixedPorts, FloatPorts, WindowedModel, WindowedPopulation, cpu_model


class ZooNeuron(WindowedPopulation):
    """Current-based LIF/LI population with per-neuron parameters (see module docstring).

    Float: du, dv in [0, 1]; fixed: du in [0, 4095] (+1 offset), dv in [0, 4096], vth 17-bit,
    biases and v_reset in state units (threshold units << 6)."""

    def __init__(self, *, shape: ty.Tuple[int, ...], du: np.ndarray, dv: np.ndarray, vth: np.ndarray,
                 bias_u: np.ndarray, bias_v: np.ndarray, v_reset: np.ndarray, da: np.ndarray | int = 0,
                 ja: np.ndarray | int = 0, reset: str = "zero",
                 spiking: bool = True, latency: int = 0, window: int = 0, drain: int = 0,
                 name: str | None = None, batch: int = 1) -> None:
        super().__init__(shape=shape, reset=RESET_CODES[reset], spiking=spiking, latency=latency, window=window,
                         drain=drain, name=name, batch=batch)
        state = self.a_in.shape  # (batch*n,): B samples side by side; parameters (n,) broadcast
        self.u = Var(shape=state, init=0)
        self.v = Var(shape=state, init=0)
        self.du = Var(shape=shape, init=du)
        self.dv = Var(shape=shape, init=dv)
        self.vth = Var(shape=shape, init=vth)
        self.bias_u = Var(shape=shape, init=bias_u)
        self.bias_v = Var(shape=shape, init=bias_v)
        self.v_reset = Var(shape=shape, init=v_reset)
        self.a = Var(shape=state, init=0)
        self.da = Var(shape=shape, init=np.broadcast_to(da, shape).copy())
        self.ja = Var(shape=shape, init=np.broadcast_to(ja, shape).copy())


class _ZooNeuronModel(WindowedModel):
    step_fn: ty.Callable = None
    state_vars = ("u", "v", "a")

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.reset_code = int(proc_params["reset"])
        self.spiking = bool(proc_params["spiking"])

    def update(self, a_in: np.ndarray) -> np.ndarray:
        b = self.batch  # state (B*n,) viewed as (B, n); parameters (n,) broadcast over the batch
        u, v, a, s = type(self).step_fn(self.u.reshape(b, -1), self.v.reshape(b, -1), self.a.reshape(b, -1),
                                        a_in.reshape(b, -1), self.du, self.dv, self.vth, self.bias_u,
                                        self.bias_v, self.v_reset, self.da, self.ja, self.reset_code, self.spiking)
        self.u[:] = u.reshape(-1)
        self.v[:] = v.reshape(-1)
        self.a[:] = a.reshape(-1)
        return s.reshape(-1)


@cpu_model(ZooNeuron, "floating_pt")
class PyZooNeuronModelFloat(FloatPorts, _ZooNeuronModel):
    """Floating-point ZooNeuron (float64)."""

    u: np.ndarray = LavaPyType(np.ndarray, float)
    v: np.ndarray = LavaPyType(np.ndarray, float)
    du: np.ndarray = LavaPyType(np.ndarray, float)
    dv: np.ndarray = LavaPyType(np.ndarray, float)
    vth: np.ndarray = LavaPyType(np.ndarray, float)
    bias_u: np.ndarray = LavaPyType(np.ndarray, float)
    bias_v: np.ndarray = LavaPyType(np.ndarray, float)
    v_reset: np.ndarray = LavaPyType(np.ndarray, float)
    a: np.ndarray = LavaPyType(np.ndarray, float)
    da: np.ndarray = LavaPyType(np.ndarray, float)
    ja: np.ndarray = LavaPyType(np.ndarray, float)
    step_fn = staticmethod(step_float)


@cpu_model(ZooNeuron, "bit_accurate_loihi", "fixed_pt")
class PyZooNeuronModelFixed(FixedPorts, _ZooNeuronModel):
    """Fixed-point ZooNeuron, Loihi bit widths (24-bit u/v, 12-bit decays, 17-bit vth)."""

    u: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    v: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    du: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=12)
    dv: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=13)
    vth: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=17)
    bias_u: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    bias_v: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    v_reset: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    a: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    da: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=13)
    ja: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    step_fn = staticmethod(step_fixed)
