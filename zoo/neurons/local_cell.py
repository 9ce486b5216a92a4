"""Base class for recurrent neurons usable by e-prop / HYPR: a neuron-local state update with
its own per-neuron Jacobians.

A cell keeps a stacked state ``h`` of shape (..., N, S) (S state variables per neuron, order in
the subclass' ``STATE``). One time step is a pure function ``h_t = f(h_{t-1}, I_t; theta)``
of the previous state, the synaptic input current ``I_t`` (..., N) and per-neuron parameters
``theta`` (their *effective* values, order ``PARAMS``); the spike is a function of the current
state only, ``z_t = H(s(h_t))`` with strict ``>`` and a surrogate derivative. ``jacobians``
returns, for every neuron independently (no cross-neuron terms — that is the e-prop/HYPR
approximation), the exact derivatives of ``f`` and of the spike that the online rules need.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn


class LocalJacobians(NamedTuple):
    """Neuron-local derivatives at one (or a stack of) time step(s); shapes with leading dims
    (..., N): ``J`` (..., N, S, S) = dh_t/dh_{t-1}; ``b`` (..., N, S) = dh_t/dI_t;
    ``c`` (..., N, S, P) = dh_t/dtheta (effective parameters); ``psi`` (..., N, S) = dz_t/dh_t
    (surrogate)."""

    J: torch.Tensor
    b: torch.Tensor
    c: torch.Tensor
    psi: torch.Tensor


class LocalCell(nn.Module):
    """Interface of a neuron population with neuron-local Jacobians (see module docstring)."""

    STATE: tuple[str, ...] = ()
    PARAMS: tuple[str, ...] = ()

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    @property
    def state_size(self) -> int:
        return len(self.STATE)

    def init_state(self, batch: int, dtype: torch.dtype | None = None) -> torch.Tensor:
        dtype = dtype or next(self.parameters()).dtype
        return torch.zeros(batch, self.n, self.state_size, dtype=dtype)

    def effective(self) -> tuple[torch.Tensor, ...]:
        """Effective per-neuron parameters (N,) each, in ``PARAMS`` order, differentiable
        w.r.t. the raw ``nn.Parameter``s (clamps, abs, exp live here)."""
        raise NotImplementedError

    # A cell written as pure functions (Norse style) sets these; ``make_params(values)`` builds
    # the ``Parameters`` tuple from effective values, and step/spike/jacobians delegate.
    Parameters: type = tuple
    step_fn = spike_fn = jacobians_fn = None

    def make_params(self, values: tuple[torch.Tensor, ...]):
        raise NotImplementedError

    def params(self, theta=None):
        """The functional parameter tuple (``Parameters``) from effective values ``theta`` (or
        from the module's own parameters); a ready tuple passes through, so loops can build it
        once and pass it to ``step``/``spike``/``jacobians``."""
        if isinstance(theta, self.Parameters):
            return theta
        return self.make_params(tuple(theta) if theta is not None else self.effective())

    def step(self, h: torch.Tensor, i: torch.Tensor, theta: tuple[torch.Tensor, ...] | None = None) -> torch.Tensor:
        return type(self).step_fn(h, i, self.params(theta))

    def spike(self, h: torch.Tensor, theta: tuple[torch.Tensor, ...] | None = None) -> torch.Tensor:
        return type(self).spike_fn(h, self.params(theta))

    def jacobians(self, h_prev: torch.Tensor, i: torch.Tensor, h: torch.Tensor,
                  theta: tuple[torch.Tensor, ...] | None = None) -> LocalJacobians:
        return type(self).jacobians_fn(h_prev, i, h, self.params(theta))

    def forward(self, i: torch.Tensor, h: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """One step, Norse-cell style: ``(z_t, h_t) = cell(I_t, h_{t-1})``."""
        if h is None:
            h = self.init_state(i.shape[0], i.dtype)
        h = self.step(h, i)
        return self.spike(h), h
