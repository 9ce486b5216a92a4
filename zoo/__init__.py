"""Lava-NIR Zoo: spiking models from recent papers, trained in PyTorch, exported to NIR and
run in Intel Lava (floating and Loihi fixed point), with measured agreement.

>>> import zoo
>>> zoo.list_models()
>>> model = zoo.get_model("lif-digits")            # shipped, SHA-256-verified weights
>>> x, y = zoo.tasks.get_task("digits").load("test", n=32)
"""
from zoo import tasks
from zoo.registry import ZooError, get_entry, get_model, get_weights, list_models
from zoo.tasks import get_task

__all__ = ["ZooError", "get_entry", "get_model", "get_task", "get_weights", "list_models", "tasks"]
__version__ = "0.1.0"
