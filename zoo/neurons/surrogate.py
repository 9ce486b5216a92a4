"""Shared spike mechanics: Heaviside forward with a surrogate derivative backward.

Forward is the STRICT Lava rule ``s = 1 if x > 0 else 0`` (x = v - threshold); the backward
pass replaces dH/dx by a smooth surrogate. Append new helpers at the end of this module.
"""
from __future__ import annotations

import torch


class FastSigmoidHeaviside(torch.autograd.Function):
    """``H(x) = [x > 0]`` forward; backward ``dH/dx ~= 1 / (slope*|x| + 1)**2`` (SuperSpike,
    Zenke & Ganguli 2018; snnTorch ``surrogate.fast_sigmoid``)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, slope: float) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.slope = slope
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad_out / (ctx.slope * x.abs() + 1.0) ** 2, None


def fast_sigmoid_heaviside(x: torch.Tensor, slope: float = 10.0) -> torch.Tensor:
    """Spike ``[x > 0]`` with the fast-sigmoid surrogate gradient of steepness ``slope``."""
    return FastSigmoidHeaviside.apply(x, slope)


def fast_sigmoid_grad(x: torch.Tensor, slope: float = 10.0) -> torch.Tensor:
    """The surrogate derivative used by :func:`fast_sigmoid_heaviside` (for tests, rules)."""
    return 1.0 / (slope * x.abs() + 1.0) ** 2


class ExpHeaviside(torch.autograd.Function):
    """``H(x) = [x > 0]`` forward; backward ``dH/dx ~= exp(-|x|)`` (the STOP surrogate,
    Gao et al. arXiv 2411.11082, phi(x) = exp(-|x|), peak 1 at the threshold)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad_out * torch.exp(-x.abs())


def exp_heaviside(x: torch.Tensor) -> torch.Tensor:
    """Spike ``[x > 0]`` with the surrogate derivative ``exp(-|x|)``."""
    return ExpHeaviside.apply(x)


def exp_grad(x: torch.Tensor) -> torch.Tensor:
    """The surrogate derivative used by :func:`exp_heaviside`: ``exp(-|x|)``."""
    return torch.exp(-x.abs())
