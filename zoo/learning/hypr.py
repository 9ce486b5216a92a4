"""HYPR (hybrid propagation; Baronig et al., arXiv 2506.14464 — algorithm reconstructed, see
docs/papers.md §4 [ours]) for :class:`zoo.models.hypr.RecurrentSNN`.

The sequence is split into sub-sequences of length ``lam``; each is run forward, then its
contribution is computed by a backward neuron-local scan and one matmul over the chunk, and the
eligibilities are carried to the next chunk (mechanics: :mod:`zoo.learning.eligibility`).
Memory O(lam), independent of T; the update equals online e-prop's for every ``lam``.
One optimizer step per batch."""
from __future__ import annotations

from typing import Any

from zoo.learning.eligibility import EpropGradient, GradientLearner


class HYPR(GradientLearner):
    def __init__(self, model, task, lam: int = 32, **kw: Any) -> None:
        super().__init__(model, task, **kw)
        self.lam = int(lam)
        self.grad = EpropGradient(model, lam=self.lam)

    def compute_grads(self, inputs, targets):
        return self.grad(inputs, targets)
