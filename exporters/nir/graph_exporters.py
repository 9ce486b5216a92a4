"""Registry of NIR exporters for zoo networks whose structure is not a plain chain of children.

``GRAPH_EXPORTERS`` maps a model's class name to ``fn(model, dt, input_shape) -> (nodes, edges)``
(nodes include ``input`` and ``output``; ``dt`` in seconds). The exporters register themselves
when their modules are imported (:mod:`exporters.nir.zoo_models`, ``zoo_models_hypr``,
``ext_gamma``); :func:`exporters.nir.export.graph_exporters` imports them all. Keyed by class
name so that the zoo's model modules are not imported here.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn

from exporters.nir.io import NIRError
from zoo.registries import Registry

GraphExporter = Callable[[nn.Module, float, tuple], tuple[dict, list]]
GRAPH_EXPORTERS: Registry[GraphExporter] = Registry("NIR graph exporter", NIRError)
# class name -> fn(model, graph, dt) -> {state_dict name: array}: the inverse of the exporter
# (:func:`exporters.nir.model_import.load_from_nir`); registered beside the exporter
NIRImporter = Callable[[nn.Module, "nir.NIRGraph", float], dict[str, np.ndarray]]
NIR_IMPORTERS: Registry[NIRImporter] = Registry("NIR model importer", NIRError)


def as_numpy(t: torch.Tensor) -> np.ndarray:
    """A parameter tensor as a float64 numpy array (detached, on the CPU)."""
    return t.detach().cpu().double().numpy()


def graph_node(graph: "nir.NIRGraph", name: str, types: tuple[type, ...]) -> "nir.NIRNode":
    """Node ``name`` of ``graph``, which must be one of ``types`` (an importer's lookup; the
    error names the node)."""
    if name not in graph.nodes:
        raise NIRError(f"node {name!r} is missing (nodes: {', '.join(sorted(graph.nodes))})")
    found = graph.nodes[name]
    if not isinstance(found, types):
        raise NIRError(f"node {name!r} is {type(found).__name__}; expected {' or '.join(t.__name__ for t in types)}")
    return found
