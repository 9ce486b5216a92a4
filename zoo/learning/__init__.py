"""Learning rules behind one interface (:class:`zoo.learning.base.Learner`)."""
from __future__ import annotations

import importlib
from typing import Any

import torch

from zoo.registries import Registry
from zoo.registry import ZooError
from zoo.tasks import Task

# rule name -> "module:Class"; modules are imported lazily so one rule's deps never block another
LEARNERS: Registry[str] = Registry("learning rule", ZooError)
for _rule, _path in (("bptt", "zoo.learning.bptt:BPTT"), ("tbptt", "zoo.learning.tbptt:TBPTT"),
                     ("stop", "zoo.learning.stop:STOP"), ("gamma_online", "zoo.learning.gamma_online:GammaOnline"),
                     ("eprop", "zoo.learning.eprop:EProp"), ("hypr", "zoo.learning.hypr:HYPR")):
    LEARNERS.register(_rule, _path)


def make_learner(rule: str, model: torch.nn.Module, task: Task, **params: Any):
    """Instantiate learning rule ``rule`` for ``model`` on ``task``."""
    module, cls = LEARNERS.get(rule).split(":")
    return getattr(importlib.import_module(module), cls)(model, task, **params)
