"""A nirtorch node map with the zoo's exact semantics (issue 16, item 2).

    import nirtorch, nir, torch
    from exporters.nir.nodemap import zoo_node_map, run_nirtorch
    graph = nir.read("star-lorenz.nir")   # written by: zoo export star-lorenz --to nir --target nirtorch
    net = nirtorch.nir_to_torch(graph, zoo_node_map(graph), dtype=torch.float64)
    out, state = net(x_t)              # one step, x_t (batch, *input_shape)
    out, state = net(x_t1, state)      # ... and so on (or: run_nirtorch(net, x) for (batch, T, ...))

Why the map takes the graph: nirtorch 2.6 recurses into every nested ``NIRGraph`` before it
consults the node map, so a map keyed by type never sees a zoo extension subgraph or its
``zoo.neuron`` metadata, only the primitives inside it (an ``LIF``, an ``LI``, a ``Scale``...).
``zoo_node_map(graph)`` reads the graph once and recognises those inner nodes (by identity):

* the node fed by an extension's Input (its *entry*: ``lif`` for ALIF/SE-adLIF, ``u`` for BRF)
  becomes one stateful module running the extension's exact step
  (:data:`exporters.nir.extensions.EXTENSIONS`, the same functions as ``from_nir``);
* the node that feeds the extension's Output, if not the entry (BRF: ``spike``), returns the
  entry's spikes; every other inner node returns zeros, so the summed input of the entry is
  exactly the extension's input;
* identity extensions (``v_tap``, ``sigma_delta``) have no inner node that nirtorch calls, so
  the node that consumes them (which must have no other input) applies them: a ``v_tap``
  consumer reads the membrane of the tapped population, a ``sigma_delta`` consumer first runs
  the sigma-delta step on its input.

Use files written for nirtorch (``--target nirtorch``, :func:`exporters.nir.targets.for_nirtorch`):
nirtorch 2.6 wires nodes in file order (alphabetical after ``nir.read``) and crashes on a nested
graph met before its inputs exist, and it does not sum several edges into an Output; that
target renames the nodes in execution order and sums such outputs.

Primitives follow ``exporters.nir.executor`` (forward Euler, ``zoo.reset`` honoured, back edges
read the previous step as nirtorch does); linear nodes reuse the executor's ``linear_step``
(this also avoids nirtorch 2.6's default ``Affine`` map, which leaves the bias random:
``module.weight.bias = ...``). The step ``dt`` is the graph's ``metadata["dt"]``.
"""
from __future__ import annotations

from typing import Any, Callable

import nir
import numpy as np
import torch
from torch import nn

from exporters.nir.io import NIRError
from zoo.neurons.lif import primitive_step, reset_of

LINEAR = (nir.Affine, nir.Linear, nir.Scale, nir.Flatten, nir.Conv1d, nir.Conv2d, nir.SumPool2d, nir.AvgPool2d)
NEURON = (nir.LIF, nir.LI, nir.IF, nir.I, nir.CubaLIF, nir.CubaLI)
_KEYS = ("weight", "bias", "scale", "threshold", "tau", "tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset",
         "w_in")


def _params(node: nir.NIRNode) -> dict[str, torch.Tensor]:
    out = {}
    for k in _KEYS:
        v = getattr(node, k, None)
        if v is not None and not isinstance(v, str):
            out[k] = torch.as_tensor(np.asarray(v, dtype=np.float64))
    return out


class _Params(nn.Module):
    """Parameters as buffers (so ``nir_to_torch(..., dtype=...)`` converts them)."""

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__()
        self._names = []
        self._other = {}
        for k, v in params.items():
            if isinstance(v, (np.ndarray, torch.Tensor)):
                self.register_buffer(f"p_{k}", torch.as_tensor(np.asarray(v, dtype=np.float64)))
                self._names.append(k)
            else:
                self._other[k] = v

    def p(self) -> dict[str, Any]:
        return {**{k: getattr(self, f"p_{k}") for k in self._names}, **self._other}


class LinearOp(_Params):
    """Affine, Linear, Scale, Flatten, Conv, pooling: the executor's ``linear_step``."""

    def __init__(self, node: nir.NIRNode) -> None:
        super().__init__(_params(node))
        self.node = node

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from exporters.nir.linear import linear_step

        return linear_step(self.node, x, self.p(), x.shape[0])


class ThresholdOp(_Params):
    def __init__(self, node: nir.Threshold) -> None:
        super().__init__(_params(node))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x > self.p()["threshold"]).to(x.dtype)


class Neuron(_Params):
    """LI, LIF, I, IF, CubaLI, CubaLIF with the zoo executor's update; ``forward(x, state)``."""

    def __init__(self, node: nir.NIRNode, dt: float) -> None:
        super().__init__(_params(node))
        self.kind, self.dt, self.reset = type(node).__name__, float(dt), reset_of(node)
        self.last_v: torch.Tensor | None = None

    def forward(self, x: torch.Tensor, state: dict | None = None):
        st = dict(state) if state else {"v": torch.zeros_like(x), "i": torch.zeros_like(x)}
        y = primitive_step(torch, self.kind, self.p(), st, x, self.dt, self.reset)
        self.last_v = st["v"]
        return (y.to(x.dtype) if y.dtype == torch.bool else y), st


class ExtensionEntry(_Params):
    """The whole zoo extension neuron, placed on its entry node."""

    def __init__(self, ext, params: dict[str, Any], dt: float) -> None:
        super().__init__(params)
        self.ext, self.dt = ext, float(dt)
        self.last_v: torch.Tensor | None = None
        self.last_out: torch.Tensor | None = None

    def forward(self, x: torch.Tensor, state: dict | None = None):
        st = dict(state) if state else {}
        y = self.ext.torch_step(self.p(), st, x, self.dt).to(x.dtype)
        self.last_v, self.last_out = st.get("v"), y
        return y, st


class Zero(nn.Module):
    """An inner node of an extension whose effect the entry module already computes."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)


class EntryOutput(nn.Module):
    """The inner node feeding an extension's Output (not the entry): the entry's output."""

    def __init__(self, entry: ExtensionEntry) -> None:
        super().__init__()
        self.__dict__["entry"] = entry  # not a submodule: it is owned by its own node

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.entry.last_out


class Consumer(nn.Module):
    """The node after an identity extension: ``v_tap`` (reads the tapped membrane) or
    ``sigma_delta`` (runs the step on its input first), then the node's own module."""

    def __init__(self, base: nn.Module, kind: str, source: Callable[[], nn.Module] | None = None,
                 ext=None, params: dict | None = None, dt: float = 0.0) -> None:
        super().__init__()
        self.base, self.kind, self.ext, self.params, self.dt = base, kind, ext, params or {}, float(dt)
        self.__dict__["source"] = source

    def forward(self, x: torch.Tensor, state: dict | None = None):
        st = dict(state) if state else {"pre": {}, "base": None}
        if self.kind == "v_tap":
            src = self.source()
            if src.last_v is None:
                raise NIRError("v_tap: the tapped population has not run in this step")
            x = src.last_v.reshape(x.shape)
        else:
            pre = dict(st["pre"])
            x = self.ext.torch_step(self.params, pre, x, self.dt).to(x.dtype)
            st["pre"] = pre
        if "state" in _signature(self.base):
            y, st["base"] = self.base(x, st["base"])
        else:
            y = self.base(x)
        return y, st


def _signature(m: nn.Module) -> set[str]:
    import inspect

    return set(inspect.signature(m.forward).parameters)


def _plain(node: nir.NIRNode, dt: float) -> nn.Module:
    if isinstance(node, (nir.Input, nir.Output)):
        return nn.Identity()
    if isinstance(node, LINEAR):
        return LinearOp(node)
    if isinstance(node, nir.Threshold):
        return ThresholdOp(node)
    if isinstance(node, NEURON):
        return Neuron(node, dt)
    raise NIRError(f"zoo_node_map: {type(node).__name__} is not supported")


def zoo_node_map(graph: nir.NIRGraph, dt: float | None = None) -> dict[type, Callable[[nir.NIRNode], nn.Module]]:
    """A nirtorch ``node_map`` running ``graph`` (a zoo export, or any NIR graph of the
    primitives above) with the zoo's exact semantics; ``dt`` defaults to the graph's."""
    from exporters.nir.extensions import V_TAP, extension_of, is_extension
    from exporters.nir.validate import graph_dt

    dt = graph_dt(graph, dt)
    special: dict[int, Callable[[], nn.Module]] = {}
    entries: dict[str, ExtensionEntry] = {}  # top-level extension node name -> its entry module

    def walk(g: nir.NIRGraph) -> None:
        for name, node in g.nodes.items():
            if not is_extension(node):
                if isinstance(node, nir.NIRGraph):
                    walk(node)
                continue
            ext = extension_of(node, name)
            if ext.torch_step is None or ext.name == V_TAP or not ext.spiking and _is_identity(node):
                _consumers(g, name, node, ext)
                continue
            _inner(g, name, node, ext)

    def _inner(g: nir.NIRGraph, name: str, node: nir.NIRGraph, ext) -> None:
        ins = [n for n, v in node.nodes.items() if isinstance(v, nir.Input)]
        outs = [n for n, v in node.nodes.items() if isinstance(v, nir.Output)]
        entry = [d for s, d in node.edges if s in ins]
        if len(ins) != 1 or len(outs) != 1 or len(entry) != 1:
            raise NIRError(f"zoo_node_map: extension {name!r}: expected one Input feeding one entry node")
        module = ExtensionEntry(ext, ext.params(node, name), dt)
        entries[name] = module
        last = [s for s, d in node.edges if d == outs[0]]
        for inner_name, inner in node.nodes.items():
            if inner_name in ins or inner_name in outs:
                continue
            if inner_name == entry[0]:
                special[id(inner)] = lambda m=module: m
            elif inner_name in last:
                special[id(inner)] = lambda m=module: EntryOutput(m)
            else:
                special[id(inner)] = Zero

    def _consumers(g: nir.NIRGraph, name: str, node: nir.NIRGraph, ext) -> None:
        for s, d in g.edges:
            if s != name:
                continue
            if [e for e in g.edges if e[1] == d] != [(s, d)]:
                raise NIRError(f"zoo_node_map: {ext.name} node {name!r} feeds {d!r}, which has other inputs; "
                               "nirtorch sums them before any module sees them")
            if isinstance(g.nodes[d], nir.NIRGraph):
                raise NIRError(f"zoo_node_map: {ext.name} node {name!r} feeds a nested graph {d!r}")
            target = g.nodes[d]
            if ext.name == V_TAP:
                srcs = [a for a, b in g.edges if b == name]
                if len(srcs) != 1:
                    raise NIRError(f"zoo_node_map: v_tap {name!r} needs exactly one source")

                def make(target=target, src=srcs[0]):
                    def source():
                        if src in entries:
                            return entries[src]
                        raise NIRError(f"zoo_node_map: v_tap source {src!r} is not a zoo neuron")
                    return Consumer(_plain(target, dt), V_TAP, source=source)
            else:
                params = {k: (torch.as_tensor(v, dtype=torch.float64) if isinstance(v, np.ndarray) else v)
                          for k, v in ext.params(node, name).items()}

                def make(target=target, params=params):
                    return Consumer(_plain(target, dt), ext.name, ext=ext, params=params, dt=dt)
            special[id(target)] = make

    walk(graph)
    # primitive (non-extension) neurons of the top level also keep their modules for v_tap
    for name, node in graph.nodes.items():
        if isinstance(node, NEURON) and id(node) not in special:
            mod = Neuron(node, dt)
            entries.setdefault(name, mod)  # type: ignore[arg-type]
            special[id(node)] = lambda m=mod: m

    def mapper(node: nir.NIRNode) -> nn.Module:
        fn = special.get(id(node))
        return fn() if fn is not None else _plain(node, dt)

    types = {nir.Input, nir.Output, nir.Threshold, nir.Delay, *LINEAR, *NEURON}
    return {t: mapper for t in types}


def _is_identity(node: nir.NIRGraph) -> bool:
    return all(isinstance(v, (nir.Input, nir.Output)) for v in node.nodes.values())


def run_nirtorch(net: nn.Module, x: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Run a module from ``nirtorch.nir_to_torch`` over x (batch, T, ...): output (batch, T, ...)."""
    x = torch.as_tensor(x)
    outs, state = [], None
    with torch.no_grad():
        for t in range(x.shape[1]):
            y, state = net(x[:, t], state)
            outs.append(y)
    return torch.stack(outs, 1)
