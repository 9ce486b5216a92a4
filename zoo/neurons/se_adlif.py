"""Symplectic-Euler adaptive LIF (SE-adLIF; Baronig et al., Nat. Commun. 2025), from the public
code as summarised in docs/papers.md §4 (tag [code]); Norse-style: pure functions +
``SEAdLIFParameters`` + ``SEAdLIFCell``.

Exact discrete update (one step = one time unit, dt = 1; u, w dimensionless, threshold 1).
Per neuron, state (u, w), zero at t = 0::

    alpha = exp(-1/tau_u),  beta = exp(-1/tau_w)     # tau_u in [5, 25], tau_w in [60, 300] steps
    u[t] = alpha*u[t-1] + (1-alpha)*(I[t] - w[t-1])   # I[t] = W x[t] + V z[t-1]
    z[t] = 1 if u[t] - theta > 0 else 0               # strict '>', theta = 1
    u[t] = u[t]*(1 - z[t])                            # reset to zero, same step
    w[t] = beta*w[t-1] + (1-beta)*q*(a*u[t] + b*z[t]) # symplectic: uses the NEW (reset) u[t], z[t]

with a in [0, 1], b in [0, 2], q = 120 (fixed). Surrogate: SLAYER exponential
``0.4 * 5/2 * exp(-5|x|)`` (constants ours). The reset path keeps its surrogate gradient.

State vector used by the learning rules (``SEAdLIFCell.STATE``): h[t] = (v[t], w[t]) with
v[t] the membrane *before* the reset of step t, so that z[t] = H(v[t] - theta) is a function of
the current state only; then u[t] = v[t]*(1 - z[t]) and the next step uses it. A Lava process
can store the post-reset u instead: both give the same spikes.

Trainable per-neuron parameters (state_dict names inside a model): ``<cell>.tau_u``,
``<cell>.tau_w``, ``<cell>.a``, ``<cell>.b`` (clamped to the ranges above in ``effective``).
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from zoo.neurons.local_cell import LocalCell, LocalJacobians
from zoo.neurons.surrogate import heaviside, slayer_grad


class SEAdLIFParameters(NamedTuple):
    """Effective SE-adLIF parameters, each (N,): alpha = exp(-1/tau_u), beta = exp(-1/tau_w), a, b."""

    alpha: torch.Tensor
    beta: torch.Tensor
    a: torch.Tensor
    b: torch.Tensor
    q: float = 120.0
    theta: float = 1.0


def se_adlif_spike(h: torch.Tensor, p: SEAdLIFParameters) -> torch.Tensor:
    """z = H(v - theta) on the stacked state (..., N, 2) = (v, w)."""
    return heaviside(h[..., 0] - p.theta, slayer_grad)


def se_adlif_step(h: torch.Tensor, i: torch.Tensor, p: SEAdLIFParameters) -> torch.Tensor:
    """One symplectic-Euler step on the stacked state (..., N, 2) = (v pre-reset, w)."""
    v, w = h[..., 0], h[..., 1]
    u_prev = v * (1.0 - se_adlif_spike(h, p))
    v_new = p.alpha * u_prev + (1.0 - p.alpha) * (i - w)
    z = heaviside(v_new - p.theta, slayer_grad)
    u_new = v_new * (1.0 - z)
    w_new = p.beta * w + (1.0 - p.beta) * p.q * (p.a * u_new + p.b * z)
    return torch.stack((v_new, w_new), dim=-1)


def se_adlif_jacobians(h_prev: torch.Tensor, i: torch.Tensor, h: torch.Tensor, p: SEAdLIFParameters) -> LocalJacobians:
    """Exact neuron-local derivatives of :func:`se_adlif_step` / :func:`se_adlif_spike`."""
    v, w = h_prev[..., 0], h_prev[..., 1]
    vn = h[..., 0]
    al, be, a, b, q = p.alpha, p.beta, p.a, p.b, p.q
    z_prev = (v - p.theta > 0).to(v.dtype)
    g_prev = slayer_grad(v - p.theta)
    z = (vn - p.theta > 0).to(v.dtype)
    g = slayer_grad(vn - p.theta)
    u_prev = v * (1 - z_prev)
    du_dv = 1 - z_prev - v * g_prev               # d u_prev / d v
    dvn_dv, dvn_dw = al * du_dv, -(1 - al) * torch.ones_like(v)
    dw_dvn = (1 - be) * q * (a * (1 - z) - a * vn * g + b * g)  # d w_new / d v_new (through u_new, z)
    J = torch.stack((
        torch.stack((dvn_dv, dvn_dw), -1),
        torch.stack((dw_dvn * dvn_dv, be + dw_dvn * dvn_dw), -1),
    ), dim=-2)
    bvec = torch.stack(((1 - al) * torch.ones_like(v), dw_dvn * (1 - al)), -1)
    dvn_dal = u_prev - (i - w)
    un = vn * (1 - z)
    zero = torch.zeros_like(v)
    c = torch.stack((
        torch.stack((dvn_dal, zero, zero, zero), -1),
        torch.stack((dw_dvn * dvn_dal, w - q * (a * un + b * z), (1 - be) * q * un, (1 - be) * q * z), -1),
    ), dim=-2)
    psi = torch.stack((g, zero), -1)
    return LocalJacobians(J, bvec, c, psi)


class SEAdLIFCell(LocalCell):
    """Population of N SE-adLIF neurons; trainable per-neuron tau_u, tau_w, a, b (clamped)."""

    STATE = ("v", "w")
    PARAMS = ("alpha", "beta", "a", "b")

    def __init__(self, n: int, tau_u: tuple[float, float] = (5.0, 25.0), tau_w: tuple[float, float] = (60.0, 300.0),
                 a: tuple[float, float] = (0.0, 1.0), b: tuple[float, float] = (0.0, 2.0), q: float = 120.0,
                 theta: float = 1.0) -> None:
        super().__init__(n)
        self.ranges = {"tau_u": tau_u, "tau_w": tau_w, "a": a, "b": b}
        self.q, self.theta = float(q), float(theta)
        self.tau_u = nn.Parameter(torch.empty(n).uniform_(*tau_u))
        self.tau_w = nn.Parameter(torch.empty(n).uniform_(*tau_w))
        self.a = nn.Parameter(torch.empty(n).uniform_(*a))
        self.b = nn.Parameter(torch.empty(n).uniform_(*b))

    def effective(self) -> tuple[torch.Tensor, ...]:
        r = self.ranges
        tau_u = self.tau_u.clamp(*r["tau_u"])
        tau_w = self.tau_w.clamp(*r["tau_w"])
        return (torch.exp(-1.0 / tau_u), torch.exp(-1.0 / tau_w), self.a.clamp(*r["a"]), self.b.clamp(*r["b"]))

    def params(self, theta=None) -> SEAdLIFParameters:
        if isinstance(theta, SEAdLIFParameters):
            return theta
        al, be, a, b = theta if theta is not None else self.effective()
        return SEAdLIFParameters(al, be, a, b, self.q, self.theta)

    def step(self, h, i, theta=None):
        return se_adlif_step(h, i, self.params(theta))

    def spike(self, h, theta=None):
        return se_adlif_spike(h, self.params(theta))

    def jacobians(self, h_prev, i, h, theta=None):
        return se_adlif_jacobians(h_prev, i, h, self.params(theta))
