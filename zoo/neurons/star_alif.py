"""STAR adaptive LIF neuron (recurrent, per-neuron leak, adaptive threshold, soft reset, SPSG).

Exact discrete update, one step of size dt (forward Euler; all quantities dimensionless,
one value per neuron j; ``I_t`` is the total input current of the step, i.e. in the STAR
layer ``I_t = W_in x_t + b_in + W_rec s_{t-1}``)::

    th_t = v_threshold + beta * a_{t-1}              # adaptive threshold (uses the trace BEFORE step t)
    v_t  = alpha * u_{t-1} + I_t                     # leaky integration, alpha = sigmoid(leak_logit)
    s_t  = 1 if v_t > th_t else 0                    # STRICT comparison (Lava rule)
    u_t  = v_t - th_t * s_t                          # soft reset: subtract threshold, same step
    a_t  = rho * a_{t-1} + (1 - rho) * s_t           # adaptation trace of own spikes

State ``(u, a, s)`` starts at zero. ``alpha = exp(-dt/tau_mem)`` and ``rho = exp(-dt/tau_adapt)``
(tau in seconds when dt is). Parameters (names in a model's ``state_dict`` under the cell's
prefix): ``leak_logit`` (alpha = sigmoid(leak_logit), learnable when ``learn_leak``),
``v_threshold`` (th0, buffer), ``beta`` (adaptation strength, learnable when ``adaptive``;
zero buffer otherwise; the cell uses ``max(beta, 0)``), ``rho`` (trace decay, buffer).

Surrogate gradients. ``s_t`` uses the Heaviside with fast-sigmoid surrogate
(:mod:`zoo.neurons.surrogate`) of slope ``slope``. **SPSG** (Separated Propagation Surrogate
Gradient, our reconstruction of Choi et al. 2026 -- the paper's formula is not public): the
error is routed through spike *generation* (``s_t`` into the readout/recurrence and
``ds_t/dv_t``, ``ds_t/dth_t``) but blocked on the *suppression* paths, i.e. the spike enters
the reset term and the adaptation trace as ``stopgrad(s_t)``::

    u_t = v_t - th_t * stopgrad(s_t);   a_t = rho * a_{t-1} + (1 - rho) * stopgrad(s_t)

Forward values are identical with and without SPSG; only gradients differ, and only on these
two paths. With ``spsg=False`` the plain surrogate flows through every use of ``s_t``.

Under truncated BPTT with K = 1 and the state detached every step, the blocked paths lead only
into the *next* step, which is cut: for a spike readout SPSG then changes nothing (identical
updates), and for a membrane readout it merely removes the surrogate. Our K = 1 reading
(issue 19, :mod:`zoo.learning.tbptt` ``lookback = 1``) keeps one previous step in the graph: the
loss of step t reaches s_{t-1} through the recurrence ``W_rec s_{t-1}`` (generation, always
open) and through the reset in ``u_{t-1}`` and the trace ``a_{t-1}`` that sets ``th_t``
(suppression, blocked by SPSG), so the two surrogates give different updates.
"""
from __future__ import annotations

import math
from typing import NamedTuple, Optional

import torch
from torch import nn

from zoo.neurons.surrogate import fast_sigmoid_heaviside


class STARALIFParameters(NamedTuple):
    """Per-neuron parameters (tensors of shape (H,) or scalars) of :func:`star_alif_step`."""

    alpha: torch.Tensor        # membrane leak in (0, 1): exp(-dt / tau_mem)
    v_threshold: torch.Tensor  # baseline threshold th0
    beta: torch.Tensor         # adaptation strength (0: no adaptation)
    rho: torch.Tensor          # adaptation-trace decay in (0, 1): exp(-dt / tau_adapt)
    slope: float = 10.0        # fast-sigmoid surrogate steepness
    spsg: bool = True          # block gradient on reset and adaptation paths


class STARALIFState(NamedTuple):
    """Neuron state after a step: membrane after reset ``u``, trace ``a``, spikes ``s``."""

    u: torch.Tensor
    a: torch.Tensor
    s: torch.Tensor


def star_alif_step(current: torch.Tensor, state: STARALIFState,
                   p: STARALIFParameters) -> tuple[torch.Tensor, STARALIFState]:
    """One step of the STAR adaptive LIF neuron (equations in the module docstring).

    ``current``: total input current I_t, shape (B, H). Returns ``(s_t, new_state)``.
    """
    th = p.v_threshold + p.beta * state.a
    v = p.alpha * state.u + current
    s = fast_sigmoid_heaviside(v - th, p.slope)
    s_sup = s.detach() if p.spsg else s  # spike as seen by the suppression paths
    u = v - th * s_sup
    a = p.rho * state.a + (1.0 - p.rho) * s_sup
    return s, STARALIFState(u, a, s)


def zero_state(batch: int, n: int, dtype: torch.dtype = torch.float32,
               device: Optional[torch.device] = None) -> STARALIFState:
    z = torch.zeros(batch, n, dtype=dtype, device=device)
    return STARALIFState(z, z.clone(), z.clone())


def _logit(p: torch.Tensor) -> torch.Tensor:
    return torch.log(p) - torch.log1p(-p)


class STARALIFCell(nn.Module):
    """Stateful wrapper of :func:`star_alif_step` holding per-neuron parameters.

    ``tau_mem`` (a (lo, hi) range in steps -> heterogeneous leaks, log-uniform, spaced
    deterministically over the neurons; or one number) and ``tau_adapt`` likewise; ``dt`` = 1 step.
    """

    def __init__(self, n: int, tau_mem: float | tuple[float, float] = (2.0, 20.0),
                 tau_adapt: float | tuple[float, float] = (5.0, 50.0), v_threshold: float = 1.0,
                 beta: float = 0.5, adaptive: bool = True, learn_leak: bool = True, spsg: bool = True,
                 slope: float = 10.0) -> None:
        super().__init__()
        self.n, self.adaptive, self.spsg, self.slope = n, adaptive, spsg, float(slope)
        alpha = torch.exp(-1.0 / self._spread(tau_mem, n))
        self.leak_logit = nn.Parameter(_logit(alpha), requires_grad=learn_leak)
        self.register_buffer("v_threshold", torch.full((n,), float(v_threshold)))
        if adaptive:
            self.beta = nn.Parameter(torch.full((n,), float(beta)))
        else:
            self.register_buffer("beta", torch.zeros(n))
        self.register_buffer("rho", torch.exp(-1.0 / self._spread(tau_adapt, n)))

    @staticmethod
    def _spread(tau: float | tuple[float, float] | list[float], n: int) -> torch.Tensor:
        if isinstance(tau, (tuple, list)):
            lo, hi = float(tau[0]), float(tau[1])
            return torch.exp(torch.linspace(math.log(lo), math.log(hi), n))
        return torch.full((n,), float(tau))

    @property
    def alpha(self) -> torch.Tensor:
        return torch.sigmoid(self.leak_logit)

    def parameters_tuple(self) -> STARALIFParameters:
        return STARALIFParameters(self.alpha, self.v_threshold, self.beta.clamp(min=0.0), self.rho,
                                  self.slope, self.spsg)

    def forward(self, current: torch.Tensor,
                state: Optional[STARALIFState] = None) -> tuple[torch.Tensor, STARALIFState]:
        if state is None:
            state = zero_state(current.shape[0], self.n, current.dtype, current.device)
        return star_alif_step(current, state, self.parameters_tuple())
