"""HYPR (hybrid propagation; Baronig et al., arXiv 2506.14464 — algorithm reconstructed, see
docs/papers.md §4 [ours]) for :class:`zoo.models.hypr.RecurrentSNN`.

The sequence is split into sub-sequences of length ``lam``; each is run forward (sequentially:
the spiking dynamics are nonlinear), then its contribution is computed by a backward
neuron-local associative scan (work-efficient parallel prefix over the per-step affine maps,
2 ceil(log2 lam) batched rounds) and one matmul over the chunk, and the eligibilities are
carried to the next chunk (mechanics: :mod:`zoo.learning.eligibility`).
Memory O(lam), independent of T; the update equals online e-prop's for every ``lam``.
One optimizer step per batch."""
from __future__ import annotations

from typing import Any

from zoo.learning.eligibility import EpropGradient, GradientLearner


class HYPR(GradientLearner):
    """``lam``: sub-sequence length; ``backward``: ``"scan"`` (default; the chunk's backward
    recursions as a log-depth parallel-prefix scan) or ``"loop"`` (sequential reference)."""

    def __init__(self, model, task, lam: int = 32, backward: str = "scan", **kw: Any) -> None:
        super().__init__(model, task, **kw)
        self.lam = int(lam)
        self.grad = EpropGradient(model, lam=self.lam, backward=backward)

    def compute_grads(self, inputs, targets):
        return self.grad(inputs, targets)
