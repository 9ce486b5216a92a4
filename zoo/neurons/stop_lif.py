"""STOP LIF: leaky integrate-and-fire with soft reset inside the leak, per-neuron (or
per-channel) learnable threshold and one learnable leak per layer (Gao et al., STOP,
arXiv 2411.11082; equations as cited in docs/papers.md §3).

Exact discrete update (one step of length ``dt``; all quantities dimensionless, the input
current ``I`` is in units of the threshold scale; ``v[-1] = 0``, ``s[-1] = 0``)::

    I[t] = W x[t] + b                                   # Linear or Conv2d synapse, same step
    v[t] = alpha * (v[t-1] - v_threshold * s[t-1]) + I[t]
    s[t] = 1 if v[t] > v_threshold else 0              # STRICT '>', Lava's rule

Reset: subtractive ("soft") reset by ``v_threshold``. Timing: the spike ``s[t]`` is emitted at
step t from the un-reset ``v[t]``; the subtraction ``v_threshold * s[t]`` is applied at the
start of step t+1, *inside* the leak (it is multiplied by ``alpha`` together with ``v[t]``).
Equivalently, with ``r[t] = v[t] - v_threshold*s[t]`` the state after reset in step t,
``v[t+1] = alpha * r[t] + I[t+1]``: a standard "leak, then integrate" LIF with subtractive
reset applied in the spike step. There is no separate synaptic current (Lava ``du = 4095``,
i.e. current decay 1 -> u[t] = input of the step) and no refractory period.

Time constant: ``alpha = exp(-dt/tau)`` is the per-step decay (forward Euler reading:
``alpha = 1 - dt/tau``); STOP learns ``alpha`` directly, so ``tau`` is derived, not stored.

Surrogate: ``dS/dv ~= exp(-|v - v_threshold|)`` (:func:`zoo.neurons.surrogate.exp_heaviside`).

Parameters held by :class:`STOPLIFCell` (its ``state_dict``):

* ``alpha``: shape ``(1,)``, the leak of the whole layer, stored *directly* (no sigmoid); the
  STOP learner clamps it to ``[0, 1]`` after every update.
* ``v_threshold``: shape ``(n,)`` — one per neuron (dense layers) or one per channel (conv
  layers, broadcast over height and width); the learner keeps it ``>= theta_min > 0``.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from zoo.neurons.surrogate import exp_heaviside


class STOPLIFParameters(NamedTuple):
    """Parameters of :func:`stop_lif_step`.

    alpha: per-step leak factor (dimensionless, scalar or broadcastable).
    v_threshold: firing threshold, broadcastable to the state (per neuron / per channel).
    """

    alpha: torch.Tensor
    v_threshold: torch.Tensor


class STOPLIFState(NamedTuple):
    """State after step t: membrane ``v[t]`` (before reset) and spikes ``s[t]``."""

    v: torch.Tensor
    s: torch.Tensor


def broadcast_threshold(v_threshold: torch.Tensor, ndim: int) -> torch.Tensor:
    """(n,) threshold -> shape broadcastable to a (B, n) or (B, C, H, W) state."""
    return v_threshold.reshape(v_threshold.shape + (1,) * (ndim - 2))


def stop_lif_step(input_current: torch.Tensor, state: STOPLIFState | None, p: STOPLIFParameters,
                  detach_reset: bool = False) -> tuple[torch.Tensor, STOPLIFState]:
    """One step: ``v = alpha*(v_prev - v_threshold*s_prev) + I``; ``s = [v > v_threshold]``.

    ``p.v_threshold`` must already broadcast against ``input_current`` (see
    :func:`broadcast_threshold`). ``detach_reset=True`` stops gradients through ``s_prev`` in
    the reset term (the path STOP ignores). Returns ``(s, STOPLIFState(v, s))``.
    """
    if state is None:
        v = input_current
    else:
        s_prev = state.s.detach() if detach_reset else state.s
        v = p.alpha * (state.v - p.v_threshold * s_prev) + input_current
    s = exp_heaviside(v - p.v_threshold)
    return s, STOPLIFState(v, s)


class STOPLIFCell(nn.Module):
    """Stateless-call STOP LIF layer (Norse style): ``s, state = cell(I, state)``.

    Args:
        n: number of neurons (dense) or channels (conv).
        alpha: initial leak (per-step decay), one value for the layer.
        v_threshold: initial threshold, one value per neuron / channel.
    """

    def __init__(self, n: int, alpha: float = 0.5, v_threshold: float = 1.0) -> None:
        super().__init__()
        self.n = n
        self.alpha = nn.Parameter(torch.tensor([float(alpha)]))
        self.v_threshold = nn.Parameter(torch.full((n,), float(v_threshold)))

    def parameters_for(self, ndim: int) -> STOPLIFParameters:
        """Parameters shaped for a state with ``ndim`` dimensions (2: dense, 4: conv)."""
        return STOPLIFParameters(self.alpha, broadcast_threshold(self.v_threshold, ndim))

    def forward(self, input_current: torch.Tensor, state: STOPLIFState | None = None,
                detach_reset: bool = False) -> tuple[torch.Tensor, STOPLIFState]:
        return stop_lif_step(input_current, state, self.parameters_for(input_current.ndim), detach_reset)

    def extra_repr(self) -> str:
        return f"n={self.n}"
