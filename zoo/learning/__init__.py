"""Learning rules behind one interface (:class:`zoo.learning.base.Learner`)."""
from __future__ import annotations

import importlib
from typing import Any

import torch

from zoo.registry import ZooError
from zoo.tasks import Task

# rule name -> "module:Class"; modules are imported lazily so one rule's deps never block another
LEARNERS: dict[str, str] = {
    "bptt": "zoo.learning.bptt:BPTT",
    "tbptt": "zoo.learning.tbptt:TBPTT",
    "stop": "zoo.learning.stop:STOP",
    "gamma_online": "zoo.learning.gamma_online:GammaOnline",
    "eprop": "zoo.learning.eprop:EProp",
    "hypr": "zoo.learning.hypr:HYPR",
}


def make_learner(rule: str, model: torch.nn.Module, task: Task, **params: Any):
    """Instantiate learning rule ``rule`` for ``model`` on ``task``."""
    if rule not in LEARNERS:
        raise ZooError(f"unknown learning rule {rule!r}; known: {', '.join(sorted(LEARNERS))}")
    module, cls = LEARNERS[rule].split(":")
    return getattr(importlib.import_module(module), cls)(model, task, **params)
