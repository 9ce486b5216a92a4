"""Sigma-delta ReLU unit (graded spikes), the ``lava.proc.sdn`` ``SigmaDelta`` convention.

Exact discrete update of unit j at step t (no leak, no dt dependence; ``theta`` in units of
the activation)::

    y[t] = ReLU(x[t])                       x = pre-activation (here: summed gamma buckets + bias)
    e[t] = y[t] - r[t-1]                    r = the unit's own reconstruction, r[-1] = 0
    s[t] = e[t]  if |e[t]| >= theta  else 0 # graded spike (delta message); NOT strict: >=
    r[t] = r[t-1] + s[t]

The comparison is ``|e| >= theta`` exactly as in Lava's ``AbstractDeltaModel.delta_dynamics``
(``np.abs(delta) >= vth``, ``cum_error=False``): Lava's residue ``act - r`` equals our
``y[t-1] - r[t-1]``, so ``delta = act - act_prev + residue = y[t] - r[t-1] = e[t]``.
The receiver decodes with a sigma (sum of received messages), which recovers ``r`` exactly:
``sigma[t] = sum_{t'<=t} s[t'] = r[t]``. The number of non-zero ``s`` is the spike count.

Gradient: the quantiser is treated as the identity (``dr/dy = 1``, straight-through) -- the
SpikingGamma "no surrogate gradient" convention: the unit's value is differentiable (ReLU),
only the encoding error ``r - y`` (|r - y| < theta) is ignored by the gradient. [ours]
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn


class SigmaDeltaParameters(NamedTuple):
    """``theta``: send threshold on |y - r| (activation units)."""

    theta: float = 0.05


def sigma_delta_step(y: torch.Tensor, r: torch.Tensor, p: SigmaDeltaParameters) -> tuple[torch.Tensor, torch.Tensor]:
    """One delta-encoding step: returns (graded spike ``s``, new reconstruction ``r``).

    Values only (no gradient path); see :func:`sigma_delta_relu` for the differentiable unit.
    """
    e = y - r
    s = torch.where(e.abs() >= p.theta, e, torch.zeros_like(e))
    return s, r + s


def sigma_delta_relu(x: torch.Tensor, r: torch.Tensor, p: SigmaDeltaParameters,
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """ReLU + sigma-delta encoding of pre-activation ``x`` with previous reconstruction ``r``.

    Returns ``(r_new, s, y)``; ``r_new`` carries the straight-through gradient ``d r_new / d y = 1``.
    """
    y = torch.relu(x)
    s, r_val = sigma_delta_step(y.detach(), r.detach(), p)
    r_new = y + (r_val - y).detach()
    return r_new, s, y


class SigmaDeltaCell(nn.Module):
    """Stateful wrapper: ``r_new, s, y = cell(x, r)``; ``r=None`` starts at zero."""

    def __init__(self, theta: float = 0.05) -> None:
        super().__init__()
        self.theta = float(theta)

    def forward(self, x: torch.Tensor, r: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if r is None:
            r = torch.zeros_like(x)
        return sigma_delta_relu(x, r, SigmaDeltaParameters(self.theta))
