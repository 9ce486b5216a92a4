"""The task type, the task registry and the losses/metrics tasks share.

Conventions: inputs batch-first (B, T, ...); ``Task.metric`` takes the model's output sequence
batch-first, (B, T, n_out). Task modules import this module (not the package), so that the
package's discovery (:func:`zoo.tasks.get_task`) can import them without an import cycle.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch

from zoo.registries import Registry
from zoo.registry import ZooError


@dataclass(frozen=True)
class Task:
    """A data source plus its training loss and evaluation metric."""

    name: str
    load: Callable[..., tuple[torch.Tensor, torch.Tensor]]  # (split, n=None, **params)
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (outputs (B,T,K), targets)
    metric: Callable[[torch.Tensor, torch.Tensor], float]
    metric_name: str
    higher_is_better: bool
    description: str = ""
    # (split, **params) -> a torch.utils.data.Dataset of (x (T, ...), y) read from disk sample by
    # sample; None: the task lives in memory and task_dataset() wraps task.load
    dataset: Callable[..., Any] | None = None


TASKS: Registry[Task] = Registry("task", ZooError)


def register_task(task: Task) -> Task:
    """Add ``task`` under its name (a later registration of the same name replaces it; a
    user's task module that would replace a zoo task is refused by ``load_task_module``)."""
    return TASKS.register(task.name, task, replace=True)


def spike_count_accuracy(outputs: torch.Tensor, targets: torch.Tensor) -> float:
    """Accuracy of argmax over the summed output (spike count, or summed voltage), ties to
    the lowest index. outputs: (B, T, K); targets: (B,) class indices."""
    pred = outputs.sum(dim=1).argmax(dim=-1)
    return float((pred == targets).float().mean())


def rate_cross_entropy(outputs: torch.Tensor, targets: torch.Tensor, scale: Any = 1.0) -> torch.Tensor:
    """Cross-entropy on time-summed outputs (snnTorch ``ce_count_loss`` convention)."""
    return torch.nn.functional.cross_entropy(outputs.sum(dim=1) * scale, targets)
