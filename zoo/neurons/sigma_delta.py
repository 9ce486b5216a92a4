"""Sigma-delta ReLU unit (graded spikes), the ``lava.proc.sdn`` ``SigmaDelta`` convention plus a
minimum interval between messages.

Exact discrete update of unit j at step t (``theta`` in units of the activation; ``n_ref =
max(1, round(t_ref / dt))`` steps, ``t_ref`` in ms)::

    y[t] = ReLU(x[t])                       x = pre-activation (here: summed gamma buckets + bias)
    e[t] = y[t] - r[t-1]                    r = the unit's own reconstruction, r[-1] = 0
    send = |e[t]| >= theta and q[t-1] <= 0  # NOT strict: >=;  q = refractory steps left, q[-1] = 0
    s[t] = e[t] if send else 0              # graded spike (delta message)
    r[t] = r[t-1] + s[t]
    q[t] = n_ref - 1 if send else max(q[t-1] - 1, 0)

With ``n_ref = 1`` (t_ref <= dt) the refractory term is always true and the unit is exactly
Lava's ``AbstractDeltaModel.delta_dynamics`` (``np.abs(delta) >= vth``, ``cum_error=False``):
Lava's residue ``act - r`` equals our ``y[t-1] - r[t-1]``, so ``delta = act - act_prev +
residue = y[t] - r[t-1] = e[t]``. The receiver decodes with a sigma (sum of received
messages), which recovers ``r`` exactly: ``sigma[t] = sum_{t'<=t} s[t'] = r[t]``. The number
of non-zero ``s`` is the message count.

Why ``t_ref`` [ours]: without it the count is the number of steps at which |y - r| >= theta.
At a coarse dt one graded message carries all the change of a step; as dt shrinks it tends to
the continuous level-crossing count (total variation of y / theta), which for SpikingGamma's
fast bucket kernels is ~3x the count at dt = 1 ms (the ``t_ref = 0`` rows of
``python -m benchmarks.gamma.transfer``). A minimum interval ``t_ref`` in *ms* is a
continuous-time rule (at most one message per t_ref, whatever dt), so the count has the same
bound at every dt; at ``dt = t_ref`` it changes nothing. The shipped models use ``t_ref = 1 ms`` (their training dt).

Gradient: the quantiser is treated as the identity (``dr/dy = 1``, straight-through) -- the
SpikingGamma "no surrogate gradient" convention: the unit's value is differentiable (ReLU),
only the encoding error ``r - y`` is ignored by the gradient. [ours]
"""
from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import nn


class SigmaDeltaParameters(NamedTuple):
    """``theta``: send threshold on |y - r| (activation units); ``n_ref``: minimum number of
    steps between two messages of a unit (1 = no refractory period)."""

    theta: float = 0.05
    n_ref: int = 1


def refractory_steps(t_ref_ms: float, dt_ms: float) -> int:
    """``n_ref = max(1, round(t_ref / dt))``: the minimum message interval in steps."""
    return max(1, int(round(float(t_ref_ms) / float(dt_ms))))


def sigma_delta_step(y: Any, r: Any, p: SigmaDeltaParameters, q: Any = None, xp: Any = torch) -> tuple[Any, Any, Any]:
    """One delta-encoding step: returns (graded spike ``s``, new reconstruction ``r``, new
    refractory count ``q``); ``q=None`` means no refractory steps left (zeros). ``xp``: torch
    (tensors) or numpy (arrays: the Lava process models and the emulator, float or integer).

    Values only (no gradient path); see :func:`sigma_delta_relu` for the differentiable unit.
    """
    if q is None:
        q = xp.zeros_like(r)
    e = y - r
    send = (abs(e) >= p.theta) & (q <= 0)
    s = xp.where(send, e, xp.zeros_like(e))
    return s, r + s, xp.where(send, xp.full_like(q, p.n_ref - 1), xp.maximum(q - 1, xp.zeros_like(q)))


def sigma_delta_relu(x: torch.Tensor, r: torch.Tensor, p: SigmaDeltaParameters, q: torch.Tensor | None = None,
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """ReLU + sigma-delta encoding of pre-activation ``x`` with previous reconstruction ``r``.

    Returns ``(r_new, s, y, q_new)``; ``r_new`` carries the straight-through gradient
    ``d r_new / d y = 1``.
    """
    y = torch.relu(x)
    s, r_val, q_new = sigma_delta_step(y.detach(), r.detach(), p, q)
    r_new = y + (r_val - y).detach()
    return r_new, s, y, q_new


class SigmaDeltaCell(nn.Module):
    """Stateful wrapper: ``r_new, s, y, q_new = cell(x, r, q)``; ``r=None`` starts at zero."""

    def __init__(self, theta: float = 0.05, n_ref: int = 1) -> None:
        super().__init__()
        self.theta, self.n_ref = float(theta), int(n_ref)

    def forward(self, x: torch.Tensor, r: torch.Tensor | None = None, q: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        if r is None:
            r = torch.zeros_like(x)
        return sigma_delta_relu(x, r, SigmaDeltaParameters(self.theta, self.n_ref), q)
