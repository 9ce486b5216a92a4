"""PyTorch (snnTorch / zoo) modules -> NIR graphs, exactly.

Discretisation contract (forward Euler, step ``dt`` in seconds), for a per-step input I:
  snnTorch Leaky(beta)           -> LIF(tau = dt/(1-beta), r = tau/dt, v_leak = 0)
      so that v[t] = v + dt/tau*(v_leak - v + r*I) = beta*v + I
  snnTorch Leaky(beta=1)         -> IF(r = 1/dt)                     v[t] = v + I
  snnTorch Synaptic(alpha, beta) -> CubaLIF(tau_syn = dt/(1-alpha), w_in = tau_syn/dt,
                                            tau_mem = dt/(1-beta), r = tau_mem/dt)
  nn.Linear -> Affine (Linear without bias); nn.Flatten -> Flatten; nn.Conv2d -> Conv2d.
Reset: NIR's LIF resets to ``v_reset``; snnTorch's subtractive reset has no primitive, so the
node carries ``metadata["zoo.reset"] = "subtract"`` (zero reset: ``"zero"``) and importers that
ignore it are warned by ``docs/nir-extensions.md``. This replaces snnTorch 1.0.0's exporter,
which writes v_reset=0 for subtractive reset and a hard-coded dt=1e-4.
"""
from __future__ import annotations

from typing import Any, Callable

import nir
import numpy as np
import torch
from torch import nn

from exporters.nir.io import NIRError

NodeExporter = Callable[[nn.Module, float], nir.NIRNode]
EXPORTERS: dict[type, NodeExporter] = {}


def exports(*types: type):
    """Register a module -> NIR node exporter."""
    def deco(fn: NodeExporter) -> NodeExporter:
        for t in types:
            EXPORTERS[t] = fn
        return fn
    return deco


def _np(x: Any, shape: tuple[int, ...] | None = None) -> np.ndarray:
    arr = np.asarray(x.detach().cpu().double() if isinstance(x, torch.Tensor) else x, dtype=np.float64)
    return np.broadcast_to(arr, shape).copy() if shape is not None else arr


@exports(nn.Linear)
def _linear(m: nn.Linear, dt: float) -> nir.NIRNode:
    if m.bias is None:
        return nir.Linear(weight=_np(m.weight))
    return nir.Affine(weight=_np(m.weight), bias=_np(m.bias))


@exports(nn.Flatten)
def _flatten(m: nn.Flatten, dt: float) -> nir.NIRNode:
    raise NIRError("nn.Flatten needs its input shape: export models with Flatten through a model.to_nir(dt) method")


def _reset_of(m: nn.Module, name: str) -> str:
    if getattr(m, "reset_delay", False):
        raise NIRError(f"{name}: snnTorch reset_delay=True has no NIR equivalent; build the neuron with reset_delay=False")
    mech = getattr(m, "reset_mechanism", "subtract")
    if mech not in ("zero", "subtract", "none"):
        raise NIRError(f"{name}: unknown reset_mechanism {mech!r}")
    return mech


def _neuron_shape(m: nn.Module, name: str, *params: torch.Tensor) -> tuple[int, ...]:
    shapes = [tuple(p.shape) for p in params if p is not None and p.dim() > 0]
    if not shapes:
        raise NIRError(f"{name}: neuron parameters are scalars; use per-neuron tensors so NIR knows the layer size")
    return max(shapes, key=len)


def leaky_to_nir(m: nn.Module, dt: float, name: str = "Leaky") -> nir.NIRNode:
    beta = m.beta.detach().clamp(0, 1)
    shape = _neuron_shape(m, name, m.beta, torch.as_tensor(m.threshold))
    beta, thr = _np(beta, shape), _np(m.threshold, shape)
    reset = _reset_of(m, name)
    meta = {"zoo.reset": reset}
    if np.all(beta == 1.0):
        return nir.IF(r=np.full(shape, 1.0 / dt), v_threshold=thr, v_reset=np.zeros(shape), metadata=meta)
    if np.any(beta >= 1.0):
        raise NIRError(f"{name}: beta must be < 1 in every neuron (or 1 in all, exported as IF)")
    tau = dt / (1.0 - beta)
    return nir.LIF(tau=tau, r=tau / dt, v_leak=np.zeros(shape), v_threshold=thr, v_reset=np.zeros(shape),
                   metadata=meta)


def synaptic_to_nir(m: nn.Module, dt: float, name: str = "Synaptic") -> nir.NIRNode:
    shape = _neuron_shape(m, name, m.alpha, m.beta, torch.as_tensor(m.threshold))
    alpha, beta = _np(m.alpha.detach().clamp(0, 1), shape), _np(m.beta.detach().clamp(0, 1), shape)
    if np.any(alpha >= 1) or np.any(beta >= 1):
        raise NIRError(f"{name}: alpha and beta must be < 1 to export as CubaLIF")
    tau_syn, tau_mem = dt / (1 - alpha), dt / (1 - beta)
    return nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau_mem, r=tau_mem / dt, v_leak=np.zeros(shape),
                       v_threshold=_np(m.threshold, shape), v_reset=np.zeros(shape), w_in=tau_syn / dt,
                       metadata={"zoo.reset": _reset_of(m, name)})


def _register_snntorch() -> None:
    import snntorch as snn

    EXPORTERS.setdefault(snn.Leaky, lambda m, dt: leaky_to_nir(m, dt))
    EXPORTERS.setdefault(snn.Synaptic, lambda m, dt: synaptic_to_nir(m, dt))


def module_to_node(m: nn.Module, dt: float, name: str) -> nir.NIRNode:
    """One module -> one NIR node (zoo neurons provide ``to_nir_node(dt)``)."""
    if hasattr(m, "to_nir_node"):
        return m.to_nir_node(dt)
    _register_snntorch()
    for t in type(m).__mro__:
        if t in EXPORTERS:
            return EXPORTERS[t](m, dt)
    raise NIRError(f"module {name!r} ({type(m).__name__}) has no NIR exporter; "
                   f"supported: {', '.join(sorted(t.__name__ for t in EXPORTERS))}")


def chain_to_nir(model: nn.Module, dt: float, metadata: dict[str, Any] | None = None) -> nir.NIRGraph:
    """Export a feedforward chain: the model's children, in order, each one NIR node."""
    nodes: dict[str, nir.NIRNode] = {}
    names = []
    for name, child in model.named_children():
        nodes[name] = module_to_node(child, dt, name)
        names.append(name)
    if not names:
        raise NIRError(f"{type(model).__name__} has no child modules to export")
    first = nodes[names[0]]
    in_shape = np.array(first.input_type["input"])
    nodes["input"] = nir.Input(input_type={"input": in_shape})
    nodes["output"] = nir.Output(output_type={"output": np.array(nodes[names[-1]].output_type["output"])})
    chain = ["input", *names, "output"]
    edges = list(zip(chain[:-1], chain[1:]))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=dict(metadata or {}))


def to_nir(model: nn.Module, dt: float, metadata: dict[str, Any] | None = None,
           input_shape: tuple[int, ...] | None = None) -> nir.NIRGraph:
    """Export ``model`` to a NIR graph with ``dt`` (seconds) and ``metadata`` in graph metadata.

    Models with non-chain structure implement ``model.to_nir(dt) -> nir.NIRGraph`` or have a
    graph exporter in :func:`graph_exporters`; ``input_shape`` (without
    batch and time) is needed where the first layer does not fix it (convolutions)."""
    if dt is None or not dt > 0:
        raise NIRError(f"dt must be a positive number of seconds, got {dt!r}")
    meta = {"dt": float(dt), "producer": "lava-nir-zoo", **(metadata or {})}
    exporters = graph_exporters()
    if type(model).__name__ in exporters:
        nodes, edges = exporters.get(type(model).__name__)(model, dt, input_shape)
        return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta)
    if hasattr(model, "to_nir"):
        graph = model.to_nir(dt)
        graph.metadata = {**meta, **(graph.metadata or {})}
        return graph
    return chain_to_nir(model, dt, meta)


def graph_exporters():
    """The registry of graph exporters (:mod:`exporters.nir.graph_exporters`) with every zoo
    exporter module imported, so each has registered itself."""
    from exporters.nir import ext_gamma, zoo_models, zoo_models_hypr  # noqa: F401  (they register on import)
    from exporters.nir.graph_exporters import GRAPH_EXPORTERS

    return GRAPH_EXPORTERS
