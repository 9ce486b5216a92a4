"""Tasks: deterministic data (generated or bundled), a loss and a metric.

Conventions: datasets are batch-first, ``inputs`` of shape (B, T, ...) and models are
time-first (T, B, ...) as in snnTorch and Norse; ``Task.metric`` takes the model's output
sequence batch-first, (B, T, n_out).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch

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


TASKS: dict[str, Task] = {}


def register_task(task: Task) -> Task:
    TASKS[task.name] = task
    return task


def get_task(name: str) -> Task:
    from zoo.tasks import digits  # noqa: F401  (tasks register on import)

    _import_optional_tasks()
    if name not in TASKS:
        raise ZooError(f"unknown task {name!r}; known: {', '.join(sorted(TASKS))}")
    return TASKS[name]


def _import_optional_tasks() -> None:
    import importlib
    import pkgutil

    import zoo.tasks as pkg

    for info in pkgutil.iter_modules(pkg.__path__):
        importlib.import_module(f"zoo.tasks.{info.name}")


def spike_count_accuracy(outputs: torch.Tensor, targets: torch.Tensor) -> float:
    """Accuracy of argmax over the summed output (spike count, or summed voltage), ties to
    the lowest index. outputs: (B, T, K); targets: (B,) class indices."""
    pred = outputs.sum(dim=1).argmax(dim=-1)
    return float((pred == targets).float().mean())


def rate_cross_entropy(outputs: torch.Tensor, targets: torch.Tensor, scale: Any = 1.0) -> torch.Tensor:
    """Cross-entropy on time-summed outputs (snnTorch ``ce_count_loss`` convention)."""
    return torch.nn.functional.cross_entropy(outputs.sum(dim=1) * scale, targets)
