"""Gamma memory: K leaky "buckets" per presynaptic neuron that spill into each other.

Exact discrete update (per presynaptic neuron i, one step of length ``dt`` ms; all buckets
are updated in the same step, bucket k reads the *new* value of bucket k-1)::

    a_k      = exp(-dt / tau_k)                              tau_k, dt in milliseconds
    b_1[t]   = a_1 * b_1[t-1] + c * u[t]                     c = 1 (events) | 1 - a_1 (values)
    b_k[t]   = a_k * b_k[t-1] + (1 - a_k) * b_{k-1}[t]       k = 2..K

``u[t]`` is the presynaptic signal of step t. Two input conventions keep the continuous-time
kernel independent of ``dt``:

* ``input_mode="event"``: u counts spikes (each an impulse of unit mass); a spike adds exactly
  1 to bucket 1, whose impulse response ``exp(-t/tau_1)`` is the exact sample of the
  continuous kernel at any dt.
* ``input_mode="value"``: u is a piecewise-constant signal (e.g. a sigma-delta reconstruction);
  ``c = 1 - a_1`` is the exact zero-order-hold discretisation of ``tau db/dt = -b + u``
  (unit DC gain).

Every bucket is a first-order linear recursion with unit DC gain from its input (bucket k-1),
i.e. a chain of NIR ``LI`` nodes (tau_k in seconds = tau_k[ms]*1e-3, r = 1, v_leak = 0); the
input gain ``c`` of bucket 1 (1 per spike for events, 1 - a_1 for values) must be carried by
the exporter (e.g. as a scaling of the incoming weights / metadata). Decays are the
exact exponential ``exp(-dt/tau)`` (not forward Euler ``1 - dt/tau``): the exponential is what
makes the kernel dt-independent; for Lava fixed point ``du = round(4096 * (1 - a_k))``.
With equal tau the bucket kernels are the gamma kernels ``(t/tau)^(k-1)/(k-1)! exp(-t/tau)``
(de Vries & Principe 1992), bucket k peaking at ``(k-1) tau`` ms.

Reconstruction note [ours]: the SpikingGamma paper's exact bucket equations are not public;
this is the gamma memory of de Vries & Principe with ms time constants (see
``../shared/papers.md`` section 2). Same-step spill (b_{k-1}[t], not b_{k-1}[t-1]) is our
choice so that each bucket is exactly one LI node with instantaneous input.
"""
from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import torch
from torch import nn


class GammaParameters(NamedTuple):
    """Bucket time constants ``tau`` (K,) in ms, step ``dt`` in ms, input convention."""

    tau: torch.Tensor
    dt: float = 1.0
    input_mode: str = "event"


def gamma_decays(tau: torch.Tensor, dt: float) -> torch.Tensor:
    """``a_k = exp(-dt / tau_k)`` (tau and dt in ms)."""
    return torch.exp(-dt / tau)


def gamma_input_gain(a1: float | torch.Tensor, input_mode: str) -> float | torch.Tensor:
    """Gain ``c`` of the presynaptic signal into bucket 1 (1 for events, 1 - a_1 for values)."""
    if input_mode == "event":
        return 1.0
    if input_mode == "value":
        return 1.0 - a1
    raise ValueError(f"input_mode must be 'event' or 'value', got {input_mode!r}")


def gamma_step(u: torch.Tensor, b: torch.Tensor, p: GammaParameters) -> torch.Tensor:
    """One step of the bucket chain, written exactly as the docstring recursion.

    u: (..., N) presynaptic signal; b: (..., N, K) bucket states; returns new (..., N, K).
    """
    a = gamma_decays(p.tau.to(b.dtype), p.dt)
    c = gamma_input_gain(a[0], p.input_mode)
    out = [a[0] * b[..., 0] + c * u]
    for k in range(1, b.shape[-1]):
        out.append(a[k] * b[..., k] + (1 - a[k]) * out[-1])
    return torch.stack(out, dim=-1)


def gamma_matrices(tau: torch.Tensor, dt: float, input_mode: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The same-step recursion unrolled: ``b[t] = (a * b[t-1]) @ L.T + u * h``.

    ``L[k, m] = prod_{l=m+1..k} (1 - a_l)`` (m <= k, else 0) and ``h[k] = c * prod_{l=2..k} (1 - a_l)``.
    Used by :class:`GammaCell` and the online rule (one matmul instead of a loop over K).
    """
    a = gamma_decays(tau, dt)
    K = len(a)
    L = torch.zeros(K, K, dtype=a.dtype)
    for k in range(K):
        for m in range(k + 1):
            L[k, m] = torch.prod(1 - a[m + 1:k + 1]) if k > m else 1.0
    c = gamma_input_gain(a[0], input_mode)
    h = c * L[:, 0]
    return L, h


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

    Buffers: ``tau`` (K,) ms, ``decay`` (K,) = exp(-dt/tau), ``L`` (K, K), ``h`` (K,).
    """

    def __init__(self, n_buckets: int = 4, tau: float | Sequence[float] = 2.0, dt: float = 1.0,
                 input_mode: str = "event") -> None:
        super().__init__()
        self.dt, self.input_mode = float(dt), input_mode
        tau_t = default_taus(n_buckets, tau)
        L, h = gamma_matrices(tau_t.double(), self.dt, input_mode)
        self.register_buffer("tau", tau_t)
        self.register_buffer("decay", gamma_decays(tau_t.double(), self.dt).float())
        self.register_buffer("L", L.float())
        self.register_buffer("h", h.float())

    @property
    def n_buckets(self) -> int:
        return len(self.tau)

    @property
    def parameters_tuple(self) -> GammaParameters:
        return GammaParameters(self.tau, self.dt, self.input_mode)

    def forward(self, u: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
        if b is None:
            b = u.new_zeros(*u.shape, self.n_buckets)
        return (b * self.decay) @ self.L.T + u.unsqueeze(-1) * self.h


def gamma_kernel(tau: float | Sequence[float], n_buckets: int, dt: float, duration: float,
                 input_mode: str = "event") -> tuple[torch.Tensor, torch.Tensor]:
    """Impulse response of every bucket to one spike at t = 0 (events) or to a unit value held
    for one step (values): returns times (ms) and (steps, K) responses (float64)."""
    steps = int(round(duration / dt))
    p = GammaParameters(default_taus(n_buckets, tau).double(), dt, input_mode)
    b = torch.zeros(1, n_buckets, dtype=torch.float64)
    out = []
    for t in range(steps):
        u = torch.ones(1, dtype=torch.float64) if t == 0 else torch.zeros(1, dtype=torch.float64)
        b = gamma_step(u, b, p)
        out.append(b[0])
    return torch.arange(steps, dtype=torch.float64) * dt, torch.stack(out)


def continuous_gamma_kernel(t: torch.Tensor, tau: float, k: int) -> torch.Tensor:
    """Continuous-time kernel of bucket k (1-based) for equal tau: (t/tau)^(k-1)/(k-1)! e^(-t/tau)."""
    return (t / tau) ** (k - 1) / math.factorial(k - 1) * torch.exp(-t / tau)
