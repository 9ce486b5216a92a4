"""Lava-NIR Zoo: spiking models from recent papers, trained in PyTorch, exported to NIR and
run in Intel Lava (floating and Loihi fixed point), with measured agreement.

>>> import zoo
>>> zoo.list_models()
>>> model = zoo.get_model("lif-digits")            # shipped, SHA-256-verified weights
>>> x, y = zoo.tasks.get_task("digits").load("test", n=32)

The names below load on first use (PEP 562), so ``import zoo.numerics`` or a neuron
descriptor does not import torch.
"""
from __future__ import annotations

import importlib
from typing import Any

__all__ = ["ZooError", "get_entry", "get_model", "get_task", "get_weights", "list_models", "tasks"]
__version__ = "0.1.0"
_LAZY = {"ZooError": "zoo.registry", "get_entry": "zoo.registry", "get_model": "zoo.registry",
         "get_weights": "zoo.registry", "list_models": "zoo.registry", "get_task": "zoo.tasks"}


def __getattr__(name: str) -> Any:
    if name == "tasks":
        return importlib.import_module("zoo.tasks")
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
