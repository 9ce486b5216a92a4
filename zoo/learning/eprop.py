"""Online e-prop (Bellec et al. 2020) for :class:`zoo.models.hypr.RecurrentSNN`: neuron-local
eligibility traces from each neuron's own Jacobians, updated at every time step, times the
instantaneous learning signal of the LI readout (mechanics: :mod:`zoo.learning.eligibility`).
One optimizer step per batch, after the whole sequence."""
from __future__ import annotations

from typing import Any

from zoo.learning.eligibility import EpropGradient, GradientLearner


class EProp(GradientLearner):
    def __init__(self, model, task, **kw: Any) -> None:
        super().__init__(model, task, **kw)
        self.grad = EpropGradient(model, lam=None)

    def compute_grads(self, inputs, targets):
        return self.grad(inputs, targets)
