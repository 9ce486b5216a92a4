"""Shared spike mechanics: Heaviside forward with a surrogate derivative backward.

Forward is the STRICT Lava rule ``s = 1 if x > 0 else 0`` (x = v - threshold); the backward
pass replaces dH/dx by a smooth surrogate. Append new helpers at the end of this module.
"""
from __future__ import annotations

import torch


class _Heaviside(torch.autograd.Function):
    """``H(x) = [x > 0]`` forward; backward ``backward(grad_out, x)`` (the surrogate rule)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, backward) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.backward = backward
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return ctx.backward(grad_out, x), None


def fast_sigmoid_heaviside(x: torch.Tensor, slope: float = 10.0) -> torch.Tensor:
    """Spike ``[x > 0]``; backward ``dH/dx ~= 1 / (slope*|x| + 1)**2`` (SuperSpike, Zenke &
    Ganguli 2018; snnTorch ``surrogate.fast_sigmoid``)."""
    return _Heaviside.apply(x, lambda g, x: g / (slope * x.abs() + 1.0) ** 2)


def fast_sigmoid_grad(x: torch.Tensor, slope: float = 10.0) -> torch.Tensor:
    """The surrogate derivative used by :func:`fast_sigmoid_heaviside` (for tests, rules)."""
    return 1.0 / (slope * x.abs() + 1.0) ** 2


def exp_heaviside(x: torch.Tensor) -> torch.Tensor:
    """Spike ``[x > 0]``; backward ``dH/dx ~= exp(-|x|)`` (the STOP surrogate, Gao et al.
    arXiv 2411.11082, phi(x) = exp(-|x|), peak 1 at the threshold)."""
    return _Heaviside.apply(x, lambda g, x: g * torch.exp(-x.abs()))


def exp_grad(x: torch.Tensor) -> torch.Tensor:
    """The surrogate derivative used by :func:`exp_heaviside`: ``exp(-|x|)``."""
    return torch.exp(-x.abs())


def heaviside(x: torch.Tensor, grad_fn) -> torch.Tensor:
    """Spike ``[x > 0]`` (strict) whose backward uses the surrogate derivative ``grad_fn(x)``
    (any elementwise function; the HYPR neurons' e-prop Jacobians call the very same
    ``grad_fn``, so autograd and the online rules agree exactly)."""
    if not (torch.is_grad_enabled() and x.requires_grad):  # no graph: skip the autograd.Function
        return (x > 0).to(x.dtype)
    return _Heaviside.apply(x, lambda g, x: g * grad_fn(x))


def _gauss(x: torch.Tensor, mu: float, sigma: float) -> torch.Tensor:
    return torch.exp(-((x - mu) ** 2) / (2.0 * sigma ** 2)) / (2.5066282746310002 * sigma)


def double_gaussian_grad(x: torch.Tensor, gamma: float = 0.5, p: float = 0.15, sigma1: float = 0.5,
                         sigma2: float = 3.0) -> torch.Tensor:
    """Double-Gaussian surrogate derivative (Yin et al. 2021, used by the BRF code):
    ``gamma * [(1+p) N(x; 0, sigma1) - p N(x; sigma1, sigma2) - p N(x; -sigma1, sigma2)]``
    with N the normal density; defaults gamma=0.5, p=0.15, sigma1=0.5, sigma2=3 (docs/papers.md §4)."""
    return gamma * ((1.0 + p) * _gauss(x, 0.0, sigma1) - p * _gauss(x, sigma1, sigma2)
                    - p * _gauss(x, -sigma1, sigma2))


def slayer_grad(x: torch.Tensor, alpha: float = 5.0, c: float = 0.4) -> torch.Tensor:
    """SLAYER-style exponential surrogate ``c * alpha/2 * exp(-alpha |x|)`` (SE-adLIF code
    family; constants alpha=5, c=0.4 are our reconstruction)."""
    return c * alpha / 2.0 * torch.exp(-alpha * x.abs())
