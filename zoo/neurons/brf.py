"""Balanced resonate-and-fire (BRF) neuron (Higuchi, Kairat, Bohte, Otte, ICML 2024), from the
public BRF code (docs/papers.md §4, tag [code]); Norse-style: pure functions + ``BRFParameters`` +
``BRFCell``.

Exact discrete update (forward Euler, dt = delta = 0.01 by default; time in units of dt*steps;
omega in rad per time unit; everything else dimensionless). Per neuron, with state
(u, v, q) = (real part, imaginary part of the complex membrane, refractory variable), all
zero at t = 0::

    omega  = |omega_raw|,  b_offset = |b_offset_raw|
    p(omega) = (-1 + sqrt(1 - (dt*omega)^2)) / dt          # divergence boundary
    b[t]   = p(omega) - b_offset - q[t-1]                   # refractory-driven damping
    u[t]   = u[t-1] + dt*(b[t]*u[t-1] - omega*v[t-1] + I[t])
    v[t]   = v[t-1] + dt*(omega*u[t-1] + b[t]*v[t-1])       # note: uses the OLD u[t-1]
    z[t]   = 1 if u[t] - theta - q[t-1] > 0 else 0          # strict '>', theta = 1
    q[t]   = 0.9*q[t-1] + z[t]                              # smooth reset (no hard reset of u)

(complex form: u_c[t] = u_c[t-1] + dt*((b[t] + i*omega)*u_c[t-1] + I[t]), u_c = u + i v).
Surrogate of dz/du: double Gaussian (gamma=0.5, p=0.15, sigma1=0.5, sigma2=3).

State vector used by the learning rules (``BRFCell.STATE``): h[t] = (u[t], v[t], r[t]) with
r[t] = q[t-1], the refractory value *entering* step t, so that the spike is a function of the
current state only: z[t] = H(u[t] - theta - r[t]). The step from h[t-1] recomputes
z[t-1] = H(u[t-1] - theta - r[t-1]) and r[t] = 0.9*r[t-1] + z[t-1]. Both views give the same
spikes; a Lava process can store (u, v, q) as above.

Trainable per-neuron parameters (state_dict names inside a model: ``<cell>.omega``,
``<cell>.b_offset``; the effective values are their absolute values).
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from zoo.neurons.local_cell import LocalCell, LocalJacobians
from zoo.neurons.surrogate import double_gaussian_grad, heaviside

REFRACTORY_DECAY = 0.9


class BRFParameters(NamedTuple):
    """Effective BRF parameters: omega (N,) [rad/time unit], b_offset (N,) >= 0, theta, dt."""

    omega: torch.Tensor
    b_offset: torch.Tensor
    theta: float = 1.0
    dt: float = 0.01
    p_omega: torch.Tensor | None = None  # cached sustain_osc(omega, dt) (computed if None)


def _p_omega(p: "BRFParameters") -> torch.Tensor:
    return p.p_omega if p.p_omega is not None else sustain_osc(p.omega, p.dt)


def sustain_osc(omega: torch.Tensor, dt: float) -> torch.Tensor:
    """Divergence boundary p(omega) = (-1 + sqrt(1 - (dt*omega)^2)) / dt."""
    return (-1.0 + torch.sqrt(1.0 - (dt * omega) ** 2)) / dt


def brf_spike(h: torch.Tensor, p: BRFParameters) -> torch.Tensor:
    """z = H(u - theta - r) on the stacked state (..., N, 3), double-Gaussian surrogate."""
    return heaviside(h[..., 0] - p.theta - h[..., 2], double_gaussian_grad)


def brf_step(h: torch.Tensor, i: torch.Tensor, p: BRFParameters) -> torch.Tensor:
    """One Euler step h[t-1] -> h[t] on the stacked state (..., N, 3) = (u, v, r=q[t-1])."""
    u, v, r = h[..., 0], h[..., 1], h[..., 2]
    z_prev = brf_spike(h, p)
    r_new = REFRACTORY_DECAY * r + z_prev  # q[t-1]
    b = _p_omega(p) - p.b_offset - r_new
    u_new = u + p.dt * (b * u - p.omega * v + i)
    v_new = v + p.dt * (p.omega * u + b * v)
    return torch.stack((u_new, v_new, r_new), dim=-1)


def brf_jacobians(h_prev: torch.Tensor, i: torch.Tensor, h: torch.Tensor, p: BRFParameters) -> LocalJacobians:
    """Exact neuron-local derivatives of :func:`brf_step` / :func:`brf_spike` (surrogate for H)."""
    u, v, r = h_prev[..., 0], h_prev[..., 1], h_prev[..., 2]
    dt, om = p.dt, p.omega
    psi_prev = double_gaussian_grad(u - p.theta - r)
    r_new = h[..., 2]
    b = _p_omega(p) - p.b_offset - r_new
    dr_du, dr_dr = psi_prev, REFRACTORY_DECAY - psi_prev  # d r_new / d (u, r)
    zero = torch.zeros_like(u)
    one = torch.ones_like(u)
    J = torch.stack((
        torch.stack((1 + dt * b - dt * u * dr_du, -dt * om * one, -dt * u * dr_dr), -1),
        torch.stack((dt * om - dt * v * dr_du, 1 + dt * b, -dt * v * dr_dr), -1),
        torch.stack((dr_du, zero, dr_dr), -1),
    ), dim=-2)
    bvec = torch.stack((dt * one, zero, zero), -1)
    dp = -dt * om / torch.sqrt(1.0 - (dt * om) ** 2)  # d p(omega) / d omega
    c = torch.stack((
        torch.stack((dt * u * dp - dt * v, -dt * u), -1),  # du/d(omega, b_offset)
        torch.stack((dt * u + dt * v * dp, -dt * v), -1),  # dv/d(...)
        torch.stack((zero, zero), -1),
    ), dim=-2)
    g = double_gaussian_grad(h[..., 0] - p.theta - h[..., 2])
    psi = torch.stack((g, zero, -g), -1)
    return LocalJacobians(J, bvec, c, psi)


class BRFCell(LocalCell):
    """Population of N BRF neurons with trainable per-neuron ``omega`` and ``b_offset``.

    Init (BRF code, ECG experiment, reconstruction): omega ~ U[omega_a, omega_b],
    b_offset ~ U[b_offset_a, b_offset_b]."""

    STATE = ("u", "v", "q_prev")
    PARAMS = ("omega", "b_offset")

    def __init__(self, n: int, dt: float = 0.01, theta: float = 1.0, omega_a: float = 3.0, omega_b: float = 5.0,
                 b_offset_a: float = 0.1, b_offset_b: float = 1.0) -> None:
        super().__init__(n)
        self.dt, self.theta = float(dt), float(theta)
        self.omega = nn.Parameter(torch.empty(n).uniform_(omega_a, omega_b))
        self.b_offset = nn.Parameter(torch.empty(n).uniform_(b_offset_a, b_offset_b))

    def effective(self) -> tuple[torch.Tensor, ...]:
        return (self.omega.abs(), self.b_offset.abs())

    def params(self, theta: tuple[torch.Tensor, ...] | None = None) -> BRFParameters:
        if isinstance(theta, BRFParameters):
            return theta
        omega, b_offset = theta if theta is not None else self.effective()
        return BRFParameters(omega, b_offset, self.theta, self.dt, sustain_osc(omega, self.dt))

    def step(self, h, i, theta=None):
        return brf_step(h, i, self.params(theta))

    def spike(self, h, theta=None):
        return brf_spike(h, self.params(theta))

    def jacobians(self, h_prev, i, h, theta=None):
        return brf_jacobians(h_prev, i, h, self.params(theta))
