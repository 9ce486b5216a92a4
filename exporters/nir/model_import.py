"""NIR -> zoo model: load the parameters of a NIR graph the zoo wrote back into a zoo network.

The inverse of :func:`exporters.nir.export.to_nir` for the zoo's own networks, so that a NIR
file is a complete description of a trained network (the online rules that learn inside Lava
start from it, :mod:`exporters.lava.plastic.rules`, and their learned parameters round-trip
through it).

``NIR_IMPORTERS`` (:mod:`exporters.nir.graph_exporters`) maps a model's class name to ``fn(model, graph, dt) -> {state_dict name:
array}``: the importer reads the nodes its exporter wrote (named after the torch modules) and
inverts each parameter mapping (e.g. ``tau = dt/(1 - alpha)`` -> ``alpha``). An importer
registers itself beside its exporter. :func:`load_from_nir` fills a freshly built model (the
recipe's builder and ``model_config`` fix its class, sizes and training-only settings such as
surrogate slopes; the graph fixes every parameter value) and then checks the round trip: the
model re-exported with the graph's dt must give the graph back bit for bit, or it raises a
:class:`NIRError` naming the node and field that differ.

Exact inverses: ``1 - dt/(dt/(1 - a))`` differs from ``a`` in the last bit for ~4 % of float64
values; the importers search the neighbouring floats (of the model's dtype) of a closed-form
guess for the one whose forward mapping reproduces the stored value exactly
(:func:`zoo.numerics.nearest_preimage`; a value the template already holds wins a tie), and look
nodes up with :func:`exporters.nir.graph_exporters.graph_node` (errors name the node).
"""
from __future__ import annotations

import nir
import numpy as np
import torch
from torch import nn

from exporters.nir.graph_exporters import NIR_IMPORTERS
from exporters.nir.io import NIRError
from zoo.neurons.descriptor import node_fields



def graph_dt(graph: nir.NIRGraph) -> float:
    """The time step (seconds) in the graph's metadata."""
    dt = (graph.metadata or {}).get("dt")
    if dt is None or not float(dt) > 0:
        raise NIRError(f"the graph's metadata has no positive dt (got {dt!r}); zoo exports record it")
    return float(dt)


def _diff(want: nir.NIRGraph, got: nir.NIRGraph, prefix: str = "") -> str | None:
    """First difference between two graphs (node names, types, array fields), or None."""
    if set(want.nodes) != set(got.nodes):
        return f"nodes differ: {sorted(set(want.nodes) ^ set(got.nodes))}"
    for name, a in want.nodes.items():
        b = got.nodes[name]
        if type(a) is not type(b):
            return f"node {prefix}{name}: {type(a).__name__} vs {type(b).__name__}"
        if isinstance(a, nir.NIRGraph):
            d = _diff(a, b, f"{prefix}{name}.")
            if d:
                return d
            continue
        fa, fb = node_fields(a), node_fields(b)
        for k in sorted(set(fa) | set(fb)):
            if k not in fa or k not in fb or fa[k].shape != fb[k].shape:
                return f"node {prefix}{name}: field {k} missing or of another shape"
            if not np.array_equal(fa[k], fb[k]):
                dev = float(np.max(np.abs(fa[k].astype(np.float64) - fb[k].astype(np.float64))))
                return f"node {prefix}{name}: field {k} differs by up to {dev:.3g}"
    return None


def load_from_nir(model: nn.Module, graph: nir.NIRGraph, source: str = "NIR graph") -> nn.Module:
    """Load the parameter values of ``graph`` into ``model`` (same class and sizes as the
    network that was exported; see module docstring) and return it; errors name ``source``."""
    from exporters.nir.export import graph_exporters, to_nir

    cls = type(model).__name__
    graph_exporters()  # imports the exporter modules, which register their importers
    try:
        dt = graph_dt(graph)
        values = NIR_IMPORTERS.get(cls)(model, graph, dt)
        state = model.state_dict()
        unknown = sorted(set(values) - set(state))
        if unknown:
            raise NIRError(f"importer for {cls} returned {unknown}, not in the model's state_dict")
        for k, v in values.items():
            v = np.asarray(v, dtype=np.float64)
            if v.size != state[k].numel():
                raise NIRError(f"{k}: the graph holds {v.size} values, the model has {tuple(state[k].shape)}")
        with torch.no_grad():
            model.load_state_dict({k: torch.as_tensor(np.asarray(v, dtype=np.float64)).to(state[k].dtype)
                                   .reshape(state[k].shape) for k, v in values.items()}, strict=False)
        shape = getattr(graph.nodes.get("input"), "input_type", {}).get("input")  # convolutional nets need it
        diff = _diff(graph, to_nir(model, dt, input_shape=None if shape is None else tuple(int(d) for d in shape)))
    except NIRError as exc:
        raise NIRError(f"{source}: {exc}") from None
    if diff:
        raise NIRError(f"{source}: the graph is not an export of a {cls} with this configuration ({diff} "
                       "after loading it and exporting again)")
    return model

