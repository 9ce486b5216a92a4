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
from zoo.numerics import nearest_preimage
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


def decay_of_tau(tau: np.ndarray, dt: float, dtype: np.dtype, where: str, prefer: np.ndarray | None = None
                 ) -> np.ndarray:
    """The per-step decay ``a`` in [0, 1) (float of ``dtype``, the model's) whose export
    ``tau = dt/(1 - a)`` (float64, seconds) is ``tau`` exactly (an importer's inverse). Where
    several floats qualify (a float64 ``a`` < 1/2), ``prefer`` (the template's value) wins.
    Errors name node ``where``."""
    tau = np.asarray(tau, dtype=np.float64)
    bad = ~(np.isfinite(tau) & (tau >= dt))
    if bad.any():
        raise NIRError(f"node {where!r}: field tau must be finite and >= dt = {dt:g} s, i.e. a decay in [0, 1) "
                       f"(got {tau[bad][:4].tolist()})")
    if prefer is not None and np.shape(prefer) != tau.shape:
        prefer = None
    with np.errstate(divide="ignore"):  # a candidate decay of 1 maps to tau = inf: no match
        a, ok = nearest_preimage(lambda x: dt / (1 - x) == tau, 1 - dt / tau, dtype, max_ulps=64, prefer=prefer)
    if not ok.all():
        raise NIRError(f"node {where!r}: no {np.dtype(dtype).name} decay writes field tau exactly "
                       f"(elements {np.flatnonzero(~ok.ravel())[:8].tolist()})")
    return a.astype(dtype)


def node_field(value: np.ndarray, name: str, field: str, shape: tuple[int, ...]) -> np.ndarray:
    """Field ``field`` of node ``name`` as float64 if it has the model's ``shape``; else an error
    naming node and field."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape != tuple(shape):
        raise NIRError(f"node {name!r}: field {field} has shape {arr.shape}; the model's is {tuple(shape)}")
    return arr
