"""The one interface every learning rule implements, so a recipe can swap rules.

``Learner(model, task, **params)``; ``step((inputs, targets)) -> metrics``; ``state_dict()``.
Inputs arrive batch-first (B, T, ...) from the task; learners feed models time-first.
"""
from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch


@runtime_checkable
class Learner(Protocol):
    model: torch.nn.Module

    def step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, float]:
        """Consume one mini-batch, update the parameters, return scalar metrics (e.g. loss)."""

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume (optimizer state, rule traces if persistent)."""

    def load_state_dict(self, state: dict[str, Any]) -> None:
        ...


def time_first(x: torch.Tensor) -> torch.Tensor:
    """(B, T, ...) -> (T, B, ...)."""
    return x.transpose(0, 1)


def make_optimizer(params, name: str = "adam", lr: float = 1e-3, **kw: Any) -> torch.optim.Optimizer:
    """Optimizer by name (``adam``, ``adamw``, ``sgd``)."""
    table = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}
    if name not in table:
        raise ValueError(f"unknown optimizer {name!r}; choose from {sorted(table)}")
    return table[name](params, lr=lr, **kw)
