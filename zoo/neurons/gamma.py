"""Gamma memory: K leaky "buckets" per presynaptic neuron that spill into each other.

Continuous time (de Vries & Principe 1992; tau_k and t in ms), per presynaptic neuron::

    tau_1 dy_1/dt = -y_1 + tau_1 * sum_f delta(t - t_f)      (events: a spike adds 1 to y_1)
    tau_1 dy_1/dt = -y_1 + u(t)                              (values: unit DC gain)
    tau_k dy_k/dt = -y_k + y_{k-1}                           k = 2..K

i.e. ``dy/dt = A y + B u`` with the chain matrix ``A[k, k] = -1/tau_k``, ``A[k, k-1] = 1/tau_k``
and ``B = e_1 / tau_1`` (values). With equal tau, bucket k's response to one spike at t = 0 is
the gamma kernel ``(t/tau)^(k-1)/(k-1)! exp(-t/tau)``, peaking at ``(k-1) tau`` ms.

Exact discrete step (the *only* definition of the dynamics in the zoo; step ``dt`` ms)::

    b[t] = Phi b[t-1] + h u[t]          Phi = expm(A dt)                   (K x K, lower triangular)
    h    = e_1                          input_mode="event": u = spike count at time t*dt (impulses)
    h    = int_0^dt expm(A s) ds B      input_mode="value": u held constant over ((t-1) dt, t dt]

Both are the exact solution of the linear ODE over one step, so ``b[t]`` equals the continuous
state at time ``t*dt`` for *any* dt: in event mode the impulse response sampled on the grid is
the continuous gamma kernel (to float64 round-off), in value mode the response to a
piecewise-constant input is exact (zero-order hold; unit DC gain: ``(I - Phi)^-1 h = 1``).
``Phi`` and ``h`` are computed together in float64 as one matrix exponential of the augmented
matrix ``[[A, B], [0, 0]] dt`` (no inverse of A, no cancellation at small dt).

Every consumer derives from :func:`gamma_matrices`: :class:`GammaCell` (torch model and the
online rule), the NIR export (:func:`gamma_cascade` -- NIR has no matrix-exponential primitive,
so the graph holds an equivalent LI cascade plus a change of basis folded into the bucket
weights, see ``exporters/nir/ext_gamma.py``) and through it the Lava populations and the
emulator.

Reconstruction note [ours]: the SpikingGamma paper's exact bucket equations are not public;
this is the gamma memory of de Vries & Principe with ms time constants. The input conventions
(impulse for events, zero-order hold for values) are our choice.
"""
from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import numpy as np
import torch
from torch import nn

INPUT_MODES = ("event", "value")


class GammaParameters(NamedTuple):
    """Bucket time constants ``tau`` (K,) in ms, step ``dt`` in ms, input convention."""

    tau: torch.Tensor
    dt: float = 1.0
    input_mode: str = "event"


def chain_matrix(tau: torch.Tensor) -> torch.Tensor:
    """The continuous-time chain matrix ``A`` (K, K) in 1/ms: ``dy/dt = A y + e_1 u / tau_1``."""
    tau = torch.as_tensor(tau, dtype=torch.float64)
    A = torch.diag(-1.0 / tau)
    if len(tau) > 1:
        A = A + torch.diag(1.0 / tau[1:], -1)
    return A


def gamma_matrices(tau: torch.Tensor, dt: float, input_mode: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact one-step matrices ``(Phi, h)`` (float64): ``b[t] = Phi b[t-1] + h u[t]``."""
    if input_mode not in INPUT_MODES:
        raise ValueError(f"input_mode must be 'event' or 'value', got {input_mode!r}")
    tau = torch.as_tensor(tau, dtype=torch.float64)
    if not torch.all(tau > 0) or not dt > 0:
        raise ValueError(f"need tau > 0 and dt > 0 (got tau={tau.tolist()}, dt={dt})")
    K = len(tau)
    aug = torch.zeros(K + 1, K + 1, dtype=torch.float64)
    aug[:K, :K] = chain_matrix(tau) * dt
    aug[0, K] = dt / float(tau[0])  # B dt
    E = torch.linalg.matrix_exp(aug)
    Phi = torch.tril(E[:K, :K])  # exactly lower triangular (the upper part is round-off)
    if input_mode == "event":
        h = torch.zeros(K, dtype=torch.float64)
        h[0] = 1.0
    else:
        h = E[:K, K].clone()
    return Phi, h


def gamma_step(u: torch.Tensor, b: torch.Tensor, p: GammaParameters) -> torch.Tensor:
    """One exact step. u: (..., N) presynaptic signal; b: (..., N, K) bucket states."""
    Phi, h = gamma_matrices(p.tau, p.dt, p.input_mode)
    return b @ Phi.to(b.dtype).T + u.unsqueeze(-1) * h.to(b.dtype)


def gamma_cascade(tau: torch.Tensor, dt: float, input_mode: str) -> dict[str, np.ndarray]:
    """The exact step written as a same-step LI cascade in another basis (for NIR / Lava).

    A cascade ``c_1[t] = a_1 c_1[t-1] + g_1 u[t]``, ``c_k[t] = a_k c_k[t-1] + g_k c_{k-1}[t]``
    (a chain of NIR ``LI`` nodes) has the step matrix ``Phi_c = L diag(a)`` with
    ``L[k, m] = prod_{l=m+1..k} g_l`` and input vector ``h_c = g_1 L[:, 0]``. With
    ``a_k = Phi[k, k] = exp(-dt/tau_k)`` and ``g_k = 1 - a_k`` (k > 1; g_1 = h[0]) it has the
    eigenvalues of ``Phi``, and the unique ``M`` with ``M Phi_c = Phi M`` and ``M h_c = h`` maps
    cascade states to buckets exactly: ``b[t] = M c[t]`` for every input. Returns float64
    arrays ``a, g`` (K,), ``M`` (K, K) (lower triangular) and ``Phi, h``.
    ``M`` solves the K^2 Sylvester equations plus the K input equations by least squares
    (consistent system; the residual is returned as ``residual``)."""
    Phi, h = (x.numpy() for x in gamma_matrices(tau, dt, input_mode))
    K = len(h)
    a = np.diag(Phi).copy()
    g = 1.0 - a
    g[0] = h[0]
    L = np.eye(K)
    for k in range(K):
        for m in range(k):
            L[k, m] = np.prod(g[m + 1:k + 1])
    Phi_c, h_c = L @ np.diag(a), g[0] * L[:, 0]
    # unknowns: the lower triangle of M; equations: M Phi_c - Phi M = 0 and M h_c = h
    idx = [(i, j) for i in range(K) for j in range(i + 1)]
    rows, rhs = [], []
    for i in range(K):
        for j in range(K):
            r = np.zeros(len(idx))
            for n, (p, q) in enumerate(idx):
                if p == i:
                    r[n] += Phi_c[q, j]
                if q == j:
                    r[n] -= Phi[i, p]
            rows.append(r)
            rhs.append(0.0)
    for i in range(K):
        r = np.zeros(len(idx))
        for n, (p, q) in enumerate(idx):
            if p == i:
                r[n] += h_c[q]
        rows.append(r)
        rhs.append(h[i])
    sol = np.linalg.lstsq(np.array(rows), np.array(rhs), rcond=None)[0]
    M = np.zeros((K, K))
    for n, (p, q) in enumerate(idx):
        M[p, q] = sol[n]
    residual = max(np.abs(M @ Phi_c - Phi @ M).max(), np.abs(M @ h_c - h).max())
    return {"a": a, "g": g, "M": M, "Phi": Phi, "h": h, "residual": float(residual)}


def default_taus(n_buckets: int, tau: float | Sequence[float]) -> torch.Tensor:
    """A (K,) tensor of time constants (ms) from a scalar (all equal) or a sequence."""
    if isinstance(tau, (int, float)):
        return torch.full((n_buckets,), float(tau))
    t = torch.tensor([float(x) for x in tau])
    if len(t) != n_buckets:
        raise ValueError(f"need {n_buckets} time constants, got {len(t)}")
    return t


class GammaCell(nn.Module):
    """Stateful wrapper (Norse ``*Cell`` style): ``b = cell(u, b)``; ``b=None`` starts at zero.

    Buffers: ``tau`` (K,) ms, ``Phi`` (K, K) and ``h`` (K,) from :func:`gamma_matrices`
    (computed in float64, stored in the module's dtype).
    """

    def __init__(self, n_buckets: int = 4, tau: float | Sequence[float] = 2.0, dt: float = 1.0,
                 input_mode: str = "event") -> None:
        super().__init__()
        self.dt, self.input_mode = float(dt), input_mode
        tau_t = default_taus(n_buckets, tau)
        Phi, h = gamma_matrices(tau_t.double(), self.dt, input_mode)
        self.register_buffer("tau", tau_t)
        self.register_buffer("Phi", Phi.float())
        self.register_buffer("h", h.float())

    @property
    def n_buckets(self) -> int:
        return len(self.tau)

    @property
    def parameters_tuple(self) -> GammaParameters:
        return GammaParameters(self.tau, self.dt, self.input_mode)

    def step(self, u: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """``b @ Phi.T + u h`` on arbitrary leading dims (u: (...,), b: (..., K))."""
        return b @ self.Phi.T + u.unsqueeze(-1) * self.h

    def forward(self, u: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
        if b is None:
            b = u.new_zeros(*u.shape, self.n_buckets)
        return self.step(u, b)


def gamma_kernel(tau: float | Sequence[float], n_buckets: int, dt: float, duration: float,
                 input_mode: str = "event") -> tuple[torch.Tensor, torch.Tensor]:
    """Response of every bucket to one spike at t = 0 (events) or to a unit value held from
    t = 0 on (values, the step response): times (ms) and (steps, K) responses (float64)."""
    steps = int(round(duration / dt))
    p = GammaParameters(default_taus(n_buckets, tau).double(), dt, input_mode)
    b = torch.zeros(1, n_buckets, dtype=torch.float64)
    out = []
    for t in range(steps):
        on = t == 0 or input_mode == "value"
        b = gamma_step(torch.full((1,), 1.0 if on else 0.0, dtype=torch.float64), b, p)
        out.append(b[0])
    return torch.arange(steps, dtype=torch.float64) * dt, torch.stack(out)


def continuous_gamma_kernel(t: torch.Tensor, tau: float, k: int) -> torch.Tensor:
    """Continuous-time kernel of bucket k (1-based) for equal tau: (t/tau)^(k-1)/(k-1)! e^(-t/tau)."""
    return (t / tau) ** (k - 1) / math.factorial(k - 1) * torch.exp(-t / tau)


def continuous_gamma_step_response(t: torch.Tensor, tau: float, k: int) -> torch.Tensor:
    """Continuous response of bucket k to a unit step at t = 0 (values, equal tau): the gamma
    CDF ``1 - exp(-t/tau) sum_{j<k} (t/tau)^j / j!``."""
    return 1.0 - torch.exp(-t / tau) * sum((t / tau) ** j / math.factorial(j) for j in range(k))
