"""Backpropagation through time: the offline reference every online rule is compared with."""
from __future__ import annotations

from typing import Any

import torch

from zoo.learning.base import make_optimizer, time_first
from zoo.tasks import Task


class BPTT:
    """Full BPTT on the task loss of the whole sequence; one optimizer step per batch."""

    def __init__(self, model: torch.nn.Module, task: Task, optimizer: str = "adam", lr: float = 1e-3,
                 grad_clip: float | None = None, **opt_kw: Any) -> None:
        self.model, self.task, self.grad_clip = model, task, grad_clip
        self.optimizer = make_optimizer(model.parameters(), optimizer, lr, **opt_kw)

    def step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, float]:
        inputs, targets = batch
        self.model.train()
        self.optimizer.zero_grad()
        outputs = time_first(self.model(time_first(inputs)))  # (B, T, K)
        loss = self.task.loss(outputs, targets)
        loss.backward()
        if self.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.optimizer.step()
        return {"loss": float(loss.detach())}

    def state_dict(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
