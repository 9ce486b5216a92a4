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

This module is the whole neuron (docs/architecture.md): the ``brf`` v1 NIR subgraph
(:func:`nir_node`, :func:`nir_params`), the step every back-end runs (:func:`step` over numpy or
torch and float or Loihi numerics: :func:`resonate`, :func:`refractory`), its Loihi format
(:func:`quantize`: 23-bit coefficients floored toward zero, state at U/2) and ``DESCRIPTOR``;
the torch cell below calls the same :func:`resonate` / :func:`refractory`. The NIR executor,
the Lava process models and the emulator derive from ``DESCRIPTOR``.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import nir
import numpy as np
import torch
from torch import nn

from zoo.neurons.descriptor import FixedFormat, NeuronDescriptor, NeuronError, Param
from zoo.neurons.local_cell import LocalCell, LocalJacobians
from zoo.neurons.registry import register
from zoo.neurons.surrogate import double_gaussian_grad, heaviside
from zoo.numerics import COEF_FRAC, FLOAT, floor0, shr0

NAME = "brf"
REFRACTORY_DECAY = 0.9
Q_SHIFT = 24  # extra fractional bits of the refractory-damping coefficient Kq
STATE_SHIFT = 1  # u, v, q stored at U/2 state units (2x range; docs/architecture.md "BRF")


def p_omega(xp: Any, omega: Any, dt: float) -> Any:
    """Divergence boundary p(omega) = (-1 + sqrt(1 - (dt*omega)^2)) / dt (xp: numpy or torch)."""
    return (-1.0 + xp.sqrt(1.0 - (dt * omega) ** 2)) / dt


def resonate(num: Any, p: dict, u: Any, v: Any, q: Any, i: Any) -> tuple[Any, Any]:
    """One Euler step of the damped rotation, b = p(omega) - b_offset - q:
    u' = u + dt (b u - omega v + I),  v' = v + dt (omega u + b v).
    Loihi: B = A - shr0(q Kq, 24) = (1 + dt b) 2^F;  u' = sat(shr0(B u - W v + D I, F)),
    v' = sat(shr0(W u + B v, F)) with A = floor0((1 + dt (p - b_offset)) 2^F), W = floor0(dt omega 2^F)."""
    if num.fixed:
        B = p["A"] - shr0(q * p["Kq"], Q_SHIFT)
        return (num.sat(shr0(B * u - p["W"] * v + p["D"] * i, COEF_FRAC)),
                num.sat(shr0(p["W"] * u + B * v, COEF_FRAC)))
    dt, om = p["dt"], p["omega"]
    b = p["p"] - p["b_offset"] - q
    return u + dt * (b * u - om * v + i), v + dt * (om * u + b * v)


def refractory(num: Any, p: dict, q: Any, z: Any) -> Any:
    """q' = 0.9 q + z  (Loihi: sat(shr0(Cq q, F) + ONE z), Cq = floor0(0.9 2^F), ONE = 1 in state units)."""
    if num.fixed:
        return num.sat(shr0(p["Cq"] * q, COEF_FRAC) + p["ONE"] * z)
    return REFRACTORY_DECAY * q + z


def step(xp: Any, num: Any, p: dict, state: dict, i: Any) -> Any:
    """One BRF step (state v = real part u, im = imaginary part v, q = refractory); returns z:
    z = (u' - theta) - q > 0 with the OLD q, then q' = 0.9 q + z (module docstring)."""
    u, v, q = state["v"], state["im"], state["q"]
    u_new, v_new = resonate(num, p, u, v, q, i)
    z = num.spike(u_new - (p["TH"] if num.fixed else p["theta"]) - q)
    state["v"], state["im"], state["q"] = u_new, v_new, refractory(num, p, q, z)
    return z


def coefficients(xp: Any, nirp: dict, dt: float) -> dict:
    """Float step parameters from the NIR ones (omega, b_offset, theta; the dt they were written for)."""
    if "dt" in nirp and abs(float(nirp["dt"]) - dt) > 1e-9 * dt:
        raise NeuronError(f"brf subgraph written for dt={float(nirp['dt']):.6g}, run with dt={dt:.6g}")
    return {"omega": nirp["omega"], "b_offset": nirp["b_offset"], "theta": nirp["theta"], "dt": dt,
            "p": p_omega(xp, nirp["omega"], dt)}


def quantize(p: dict, U: float, name: str = "") -> tuple[dict, list[str]]:
    """Integer parameters; input at U state units per float unit, state at U/2 (``STATE_SHIFT``).
    Coefficients floored toward zero so that A^2 + W^2 <= 2^(2F): the integer rotation never grows
    (BRF sits at its divergence boundary; 12-bit rounded decays diverge, docs/architecture.md)."""
    F, Ub = COEF_FRAC, U / 2 ** STATE_SHIFT
    n = np.size(p["omega"])
    dt = float(np.ravel(p["dt"])[0])
    a_f = 1.0 + dt * (p["p"] - p["b_offset"])
    if np.any(a_f < 0) or np.any(a_f > 1):
        raise NeuronError(f"node {name!r}: 1 + dt*(p - b_offset) outside [0, 1]")
    q = {"A": floor0(a_f * 2 ** F), "W": floor0(dt * p["omega"] * 2 ** F),
         "D": np.full(n, int(round(dt * 2 ** (F - STATE_SHIFT))), np.int64),
         "Kq": np.full(n, int(round(dt * 2 ** (F + Q_SHIFT) / Ub)), np.int64),
         "Cq": np.full(n, int(np.trunc(REFRACTORY_DECAY * 2 ** F)), np.int64),
         "TH": np.round(p["theta"] * Ub).astype(np.int64), "ONE": np.full(n, int(round(Ub)), np.int64)}
    norm2 = q["A"].astype(float) ** 2 + q["W"].astype(float) ** 2
    notes = [f"brf: {F}-bit coefficients floored toward zero (max |rotation|^2 = {norm2.max() / 4 ** F:.9f} <= 1); "
             f"state units U/{2 ** STATE_SHIFT} = {Ub:.6g} per float unit (input at U = {U:.6g}); "
             f"theta = {int(q['TH'].max())} state units"]
    return q, notes


def nir_node(omega: np.ndarray, b_offset: np.ndarray, dt: float, theta: float | np.ndarray = 1.0) -> nir.NIRGraph:
    """The ``brf`` v1 subgraph (docs/nir-extensions.md) for effective omega, b_offset (n,)."""
    omega, b_offset = np.asarray(omega, np.float64), np.asarray(b_offset, np.float64)
    n = omega.shape
    if np.any(dt * omega >= 1):
        raise NeuronError(f"brf: dt*omega must be < 1 (got max {float(np.max(dt * omega)):.4g})")
    damp = p_omega(np, omega, dt) - b_offset
    ones, decay = np.ones(n), REFRACTORY_DECAY
    nodes = {
        "input": nir.Input(input_type={"input": np.array(n)}),
        "u": nir.I(r=ones.copy()), "v": nir.I(r=ones.copy()),
        "rot_vu": nir.Scale(scale=omega.copy()), "rot_uv": nir.Scale(scale=-omega),
        "damp_u": nir.Scale(scale=damp.copy()), "damp_v": nir.Scale(scale=damp.copy()),
        "spike": nir.Threshold(threshold=np.broadcast_to(np.asarray(theta, np.float64), n).copy()),
        "refractory": nir.LI(tau=np.full(n, dt / (1 - decay)), r=np.full(n, 1 / (1 - decay)), v_leak=np.zeros(n)),
        "q_inhib": nir.Scale(scale=-ones),
        "output": nir.Output(output_type={"output": np.array(n)}),
    }
    edges = [("input", "u"), ("u", "spike"), ("spike", "output"), ("u", "rot_vu"), ("rot_vu", "v"),
             ("v", "rot_uv"), ("rot_uv", "u"), ("u", "damp_u"), ("damp_u", "u"), ("v", "damp_v"),
             ("damp_v", "v"), ("spike", "refractory"), ("refractory", "q_inhib"), ("q_inhib", "u")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"zoo.neuron": NAME, "zoo.version": 1})


def nir_params(node: nir.NIRGraph, name: str = "") -> dict:
    """omega, b_offset, theta (n,) of a ``brf`` subgraph and the dt it was written for
    (refractory LI: dt = tau (1 - 0.9)); b_offset = p(omega) - damp_u.scale."""
    try:
        rot, damp, spike, refr = (node.nodes[k] for k in ("rot_vu", "damp_u", "spike", "refractory"))
    except KeyError as exc:
        raise NeuronError(f"node {name!r}: brf extension lacks sub-node {exc}") from None
    f = lambda x: np.asarray(x, np.float64)  # noqa: E731
    omega, tau_q = f(rot.scale).ravel(), f(refr.tau).ravel()
    dt_node = float(tau_q[0] * (1 - REFRACTORY_DECAY))
    if not np.allclose(tau_q * (1 - REFRACTORY_DECAY), dt_node, rtol=1e-9) or \
            not np.allclose(f(refr.r).ravel() * (1 - REFRACTORY_DECAY), 1.0, rtol=1e-9):
        raise NeuronError(f"node {name!r}: brf refractory LI must encode q = 0.9 q + z")
    b_offset = p_omega(np, omega, dt_node) - np.broadcast_to(f(damp.scale), omega.shape)
    return {"omega": omega, "b_offset": b_offset, "theta": np.broadcast_to(f(spike.threshold), omega.shape).copy(),
            "dt": dt_node}


DESCRIPTOR = register(NeuronDescriptor(
    NAME, 1, params={"omega": Param("rad/s"), "b_offset": Param("1/s"), "theta": Param("1")},
    state=("v", "im", "q"), step=step, coefficients=coefficients, quantize=quantize, nir_node=nir_node,
    nir_params=nir_params, fixed=FixedFormat(coef_bits=COEF_FRAC, state_shift={"v": 1, "im": 1, "q": 1}),
    doc="balanced resonate-and-fire (Higuchi et al. 2024)"))


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
    """Divergence boundary :func:`p_omega` in torch."""
    return p_omega(torch, omega, dt)


def brf_spike(h: torch.Tensor, p: BRFParameters) -> torch.Tensor:
    """z = H(u - theta - r) on the stacked state (..., N, 3), double-Gaussian surrogate."""
    return heaviside(h[..., 0] - p.theta - h[..., 2], double_gaussian_grad)


def brf_step(h: torch.Tensor, i: torch.Tensor, p: BRFParameters) -> torch.Tensor:
    """One Euler step h[t-1] -> h[t] on the stacked state (..., N, 3) = (u, v, r=q[t-1])."""
    u, v, r = h[..., 0], h[..., 1], h[..., 2]
    r_new = refractory(FLOAT, {}, r, brf_spike(h, p))  # q[t-1]
    coef = {"dt": p.dt, "omega": p.omega, "p": _p_omega(p), "b_offset": p.b_offset}
    u_new, v_new = resonate(FLOAT, coef, u, v, r_new, i)
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

    Parameters = BRFParameters
    step_fn, spike_fn, jacobians_fn = (staticmethod(f) for f in (brf_step, brf_spike, brf_jacobians))

    def make_params(self, values: tuple[torch.Tensor, ...]) -> BRFParameters:
        omega, b_offset = values
        return BRFParameters(omega, b_offset, self.theta, self.dt, sustain_osc(omega, self.dt))
