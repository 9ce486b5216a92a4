"""Adaptive LIF (ALIF, Bellec et al. 2018 style, our simplified variant) — the non-oscillatory
contrast neuron of the HYPR study; Norse-style: pure functions + ``ALIFParameters`` + ``ALIFCell``.

Exact discrete update (one step = one time unit, dt = 1). Per neuron, state (v, A), zero at t=0::

    alpha = exp(-1/tau_m),  rho = exp(-1/tau_adp)
    u[t-1] = v[t-1]*(1 - z[t-1])                      # reset to zero (same step as the spike)
    A[t] = rho*A[t-1] + z[t-1]                        # adaptation
    v[t] = alpha*u[t-1] + (1-alpha)*I[t]              # I[t] = W x[t] + V z[t-1]
    z[t] = 1 if v[t] - (theta0 + beta_a*A[t]) > 0 else 0     # strict '>'

theta0 = 1, beta_a = 1.8 (fixed); tau_m ~ U[5, 25], tau_adp ~ U[60, 300] (trainable, clamped).
Surrogate: SLAYER exponential (as SE-adLIF). State vector (``ALIFCell.STATE``): (v, A), v the
pre-reset membrane. With beta_a = 0 this is a plain LIF with zero reset.
State_dict names: ``<cell>.tau_m``, ``<cell>.tau_adp``.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from zoo.neurons.local_cell import LocalCell, LocalJacobians
from zoo.neurons.surrogate import heaviside, slayer_grad


class ALIFParameters(NamedTuple):
    alpha: torch.Tensor
    rho: torch.Tensor
    theta0: float = 1.0
    beta_a: float = 1.8


def alif_spike(h: torch.Tensor, p: ALIFParameters) -> torch.Tensor:
    return heaviside(h[..., 0] - p.theta0 - p.beta_a * h[..., 1], slayer_grad)


def alif_step(h: torch.Tensor, i: torch.Tensor, p: ALIFParameters) -> torch.Tensor:
    v, A = h[..., 0], h[..., 1]
    z_prev = alif_spike(h, p)
    A_new = p.rho * A + z_prev
    v_new = p.alpha * v * (1.0 - z_prev) + (1.0 - p.alpha) * i
    return torch.stack((v_new, A_new), dim=-1)


def alif_jacobians(h_prev: torch.Tensor, i: torch.Tensor, h: torch.Tensor, p: ALIFParameters) -> LocalJacobians:
    v, A = h_prev[..., 0], h_prev[..., 1]
    x_prev = v - p.theta0 - p.beta_a * A
    z_prev = (x_prev > 0).to(v.dtype)
    g_prev = slayer_grad(x_prev)
    al, rho, ba = p.alpha, p.rho, p.beta_a
    J = torch.stack((
        torch.stack((al * (1 - z_prev) - al * v * g_prev, al * v * g_prev * ba), -1),
        torch.stack((g_prev, rho - ba * g_prev), -1),
    ), dim=-2)
    zero = torch.zeros_like(v)
    bvec = torch.stack(((1 - al) * torch.ones_like(v), zero), -1)
    c = torch.stack((
        torch.stack((v * (1 - z_prev) - i, zero), -1),
        torch.stack((zero, A), -1),
    ), dim=-2)
    g = slayer_grad(h[..., 0] - p.theta0 - ba * h[..., 1])
    psi = torch.stack((g, -ba * g), -1)
    return LocalJacobians(J, bvec, c, psi)


class ALIFCell(LocalCell):
    STATE = ("v", "A")
    PARAMS = ("alpha", "rho")

    def __init__(self, n: int, tau_m: tuple[float, float] = (5.0, 25.0), tau_adp: tuple[float, float] = (60.0, 300.0),
                 theta0: float = 1.0, beta_a: float = 1.8) -> None:
        super().__init__(n)
        self.ranges = {"tau_m": tau_m, "tau_adp": tau_adp}
        self.theta0, self.beta_a = float(theta0), float(beta_a)
        self.tau_m = nn.Parameter(torch.empty(n).uniform_(*tau_m))
        self.tau_adp = nn.Parameter(torch.empty(n).uniform_(*tau_adp))

    def effective(self):
        return (torch.exp(-1.0 / self.tau_m.clamp(*self.ranges["tau_m"])),
                torch.exp(-1.0 / self.tau_adp.clamp(*self.ranges["tau_adp"])))

    Parameters = ALIFParameters
    step_fn, spike_fn, jacobians_fn = (staticmethod(f) for f in (alif_step, alif_spike, alif_jacobians))

    def make_params(self, values: tuple[torch.Tensor, ...]) -> ALIFParameters:
        al, rho = values
        return ALIFParameters(al, rho, self.theta0, self.beta_a)
