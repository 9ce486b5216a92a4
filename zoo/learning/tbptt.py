"""Truncated BPTT with truncation length K (K=1: fully online, state detached every step).

The sequence is processed in chunks of K steps. Within a chunk, gradients flow through time
exactly as in BPTT; between chunks the recurrent state is detached (``tensor.detach()``), so
memory holds at most K steps of activations. The loss of a chunk is ``task.loss`` on the
chunk's outputs (and the chunk's targets when targets are per step, (B, T, ...)), weighted by
chunk_length / T; for tasks whose loss is a mean over steps (MSE forecasting, per-step
cross-entropy) the chunk losses sum to the full-sequence loss, and K = T equals full BPTT.
Gradients are accumulated over ``update_every`` chunks, then one optimizer step (``1``:
update after every chunk, i.e. every step for K=1; ``None``: once per sequence).

Model requirement: ``model(x (T, B, ...), state=None, return_state=True) -> (y, state)``
where ``state`` is a tensor or a (named) tuple of tensors (e.g. :class:`zoo.models.star.STARRSNN`).
"""
from __future__ import annotations

from typing import Any, Optional

import torch

from zoo.learning.base import make_optimizer, time_first
from zoo.tasks import Task


def detach_state(state: Any) -> Any:
    """Detach a tensor or a (named) tuple / list of tensors."""
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return state.detach()
    if isinstance(state, tuple) and hasattr(state, "_fields"):
        return type(state)(*(detach_state(s) for s in state))
    return type(state)(detach_state(s) for s in state)


class TBPTT:
    """Truncated BPTT(K); ``K`` and ``update_every`` are recipe parameters."""

    def __init__(self, model: torch.nn.Module, task: Task, K: int = 1, update_every: Optional[int] = 1,
                 optimizer: str = "adam", lr: float = 1e-3, grad_clip: float | None = None,
                 lr_decay: float = 1.0, **opt_kw: Any) -> None:
        if K < 1:
            raise ValueError(f"TBPTT needs K >= 1, got {K}")
        self.model, self.task, self.K, self.update_every, self.grad_clip = model, task, int(K), update_every, grad_clip
        self.optimizer = make_optimizer([p for p in model.parameters() if p.requires_grad], optimizer, lr, **opt_kw)
        # lr_decay: multiplicative learning-rate decay per optimizer step (1.0 = constant)
        self.scheduler = torch.optim.lr_scheduler.ExponentialLR(self.optimizer, gamma=lr_decay) if lr_decay != 1.0 else None

    def _apply(self) -> None:
        if self.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad()
        if self.scheduler is not None:
            self.scheduler.step()

    def step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, float]:
        inputs, targets = batch
        self.model.train()
        self.optimizer.zero_grad()
        xs = time_first(inputs)
        T = xs.shape[0]
        per_step_targets = targets.dim() >= 2 and targets.shape[1] == T
        state, total, pending = None, 0.0, 0
        for c in range(0, T, self.K):
            k = min(self.K, T - c)
            y, state = self.model(xs[c:c + k], state, return_state=True)
            tgt = targets[:, c:c + k] if per_step_targets else targets
            loss = self.task.loss(time_first(y), tgt) * (k / T)
            loss.backward()
            total += float(loss.detach())
            state = detach_state(state)
            pending += 1
            if self.update_every is not None and pending >= self.update_every:
                self._apply()
                pending = 0
        if pending:
            self._apply()
        return {"loss": total}

    def state_dict(self) -> dict[str, Any]:
        out = {"optimizer": self.optimizer.state_dict(), "K": self.K, "update_every": self.update_every}
        if self.scheduler is not None:
            out["scheduler"] = self.scheduler.state_dict()
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and "scheduler" in state:
            self.scheduler.load_state_dict(state["scheduler"])
