"""``from_nir``: run any NIR graph in PyTorch with the zoo's discrete-time semantics.

Per step t, nodes run in schedule order; a node's input is the sum of its sources' outputs at
t (back-edges: at t-1, zero at t=0). Neurons use forward Euler with step ``dt`` (seconds):
  LI       v += dt/tau * (v_leak - v + r*I)                                   -> v
  LIF      same, then z = v > v_threshold; v = v_reset where z (or v -= v_threshold
           when metadata["zoo.reset"] == "subtract")                          -> z
  I / IF   v += dt * r * I   (IF spikes and resets as LIF)
  CubaLI/CubaLIF  i += dt/tau_syn * (-i + w_in*I);  v += dt/tau_mem * (v_leak - v + r*i)
(one function for all of them: :func:`zoo.neurons.lif.primitive_step`).
Affine/Linear/Scale/Threshold/Flatten/Conv/Pool are instantaneous; Delay shifts by
round(delay/dt) steps. Zoo extension neurons (NIRGraph with metadata["zoo.neuron"]) run with
the exact semantics documented in :mod:`exporters.nir.extensions`.
"""
from __future__ import annotations

from typing import Any

import nir
import numpy as np
import torch
from torch import nn

from exporters.nir.extensions import V_TAP, extension_of, is_extension
from exporters.nir.io import NIRError
from exporters.nir.linear import LINEAR_OPS, linear_step  # noqa: F401 (linear_step re-exported)
from exporters.nir.validate import CheckedGraph, check_graph, check_input, graph_dt  # noqa: F401 (graph_dt re-exported)
from zoo.neurons.lif import primitive_step, reset_of

NEURONS = (nir.LIF, nir.LI, nir.IF, nir.I, nir.CubaLIF, nir.CubaLI)


def is_spiking(node: nir.NIRNode) -> bool:
    """Nodes whose output is spikes (populations recorded for spike agreement)."""
    return isinstance(node, (nir.LIF, nir.IF, nir.CubaLIF, nir.Threshold)) or (
        is_extension(node) and extension_of(node).spiking)


def reset_mode(node: nir.NIRNode, name: str = "") -> str:
    mode = reset_of(node)
    if mode not in ("zero", "subtract"):
        raise NIRError(f"node {name!r}: unsupported zoo.reset {mode!r} (zero|subtract)")
    return mode


class NIRExecutor(nn.Module):
    """A torch module that simulates a NIR graph; ``forward(x)`` with x (T, B, *input_shape)."""

    def __init__(self, graph: nir.NIRGraph | CheckedGraph, dt: float | None = None,
                 dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        checked = check_graph(graph, dt)  # the validation every backend shares (a CheckedGraph passes)
        self.dt = checked.dt
        self.dtype = dtype
        self.nodes, self.sched = checked.nodes, checked.sched
        self.input_name, self.output_name = checked.input_name, checked.output_name
        self.input_shape, self.output_shape = checked.input_shape, checked.output_shape
        self.p = {n: {k: torch.as_tensor(np.asarray(v, dtype=np.float64), dtype=dtype)
                      for k, v in _params(node).items()} for n, node in self.nodes.items()}
        for name, node in self.nodes.items():
            _check_supported(name, node)
        self.ext = {n: (extension_of(node, n), {k: (torch.as_tensor(v, dtype=dtype) if isinstance(v, np.ndarray) else v)
                                                for k, v in extension_of(node, n).params(node, n).items()})
                    for n, node in self.nodes.items() if is_extension(node)}
        self.v_taps = {n for n, (ext, _) in self.ext.items() if ext.name == V_TAP}
        self.records: dict[str, torch.Tensor] = {}

    def forward(self, x: torch.Tensor, record: bool = False) -> torch.Tensor:
        """x: (T, batch, *input_shape); returns (T, batch, *output_shape)."""
        x = check_input(x, self.input_shape, time_first=True)
        x = (x if isinstance(x, torch.Tensor) else torch.as_tensor(x)).to(self.dtype)
        steps, batch = x.shape[0], x.shape[1]
        state: dict[str, Any] = {}
        prev: dict[str, torch.Tensor] = {}
        rec: dict[str, list[torch.Tensor]] = {n: [] for n in self.nodes} if record else {}
        outputs = []
        for t in range(steps):
            cur: dict[str, torch.Tensor] = {}
            for name in self.sched.order:
                node = self.nodes[name]
                if isinstance(node, nir.Input):
                    y = x[t]
                elif name in self.v_taps:  # membrane (after reset) of the source populations
                    y = sum(state[src]["v"] for src in self.sched.inputs[name])
                else:
                    terms = []
                    for src in self.sched.inputs[name]:
                        if (src, name) in self.sched.back_edges:
                            if src in prev:
                                terms.append(prev[src])
                        else:
                            terms.append(cur[src])
                    inp = sum(terms[1:], terms[0]) if terms else None
                    y = self._step(name, node, inp, state, batch)
                cur[name] = y
                if record:
                    rec[name].append(y)
            prev = cur
            outputs.append(cur[self.output_name].reshape(batch, *self.output_shape))
        if record:
            self.records = {n: torch.stack(v) for n, v in rec.items() if v}
        return torch.stack(outputs)

    def _step(self, name: str, node: nir.NIRNode, inp: torch.Tensor | None, state: dict, batch: int) -> torch.Tensor:
        p, dt = self.p[name], self.dt
        if inp is None:
            raise NIRError(f"node {name!r} has no input at this step (a cycle without a path from Input?)")
        if isinstance(node, nir.Output):
            return inp
        if isinstance(node, LINEAR_OPS):
            return linear_step(node, inp, p, batch)
        if isinstance(node, nir.Threshold):
            return (inp > p["threshold"]).to(self.dtype)
        if isinstance(node, nir.Delay):
            d = int(round(float(np.max(node.delay)) / dt))
            buf = state.setdefault(name, [torch.zeros_like(inp)] * d)
            buf.append(inp)
            return buf.pop(0)
        if isinstance(node, NEURONS):
            return self._neuron(name, node, inp, state)
        if name in self.ext:
            ext, params = self.ext[name]
            return ext.torch_step(params, state.setdefault(name, {}), inp, dt).to(self.dtype)
        raise NIRError(f"node {name!r}: {type(node).__name__} is not supported by the torch executor")

    def _neuron(self, name: str, node: nir.NIRNode, inp: torch.Tensor, state: dict) -> torch.Tensor:
        st = state.setdefault(name, {"v": torch.zeros_like(inp), "i": torch.zeros_like(inp)})
        mode = reset_mode(node, name) if isinstance(node, (nir.LIF, nir.IF, nir.CubaLIF)) else "none"
        return primitive_step(torch, type(node).__name__, self.p[name], st, inp, self.dt, mode).to(self.dtype)


def _params(node: nir.NIRNode) -> dict[str, Any]:
    keys = ("weight", "bias", "scale", "threshold", "tau", "tau_syn", "tau_mem", "r", "v_leak", "v_threshold",
            "v_reset", "w_in")
    return {k: getattr(node, k) for k in keys if getattr(node, k, None) is not None and not isinstance(getattr(node, k), str)}


def _check_supported(name: str, node: nir.NIRNode) -> None:
    if is_extension(node):
        if extension_of(node, name).torch_step is None and extension_of(node, name).name != V_TAP:
            raise NIRError(f"node {name!r}: zoo extension has no torch semantics")
        return
    ok = (nir.Input, nir.Output, nir.Affine, nir.Linear, nir.Scale, nir.Threshold, nir.Flatten, nir.Conv1d,
          nir.Conv2d, nir.SumPool2d, nir.AvgPool2d, nir.Delay) + NEURONS
    if not isinstance(node, ok):
        raise NIRError(f"node {name!r}: {type(node).__name__} is not supported")
    if isinstance(node, NEURONS):
        reset_mode(node, name)


def from_nir(graph: nir.NIRGraph, dt: float | None = None, dtype: torch.dtype = torch.float64) -> NIRExecutor:
    """Build a torch module that runs ``graph`` (time-first input)."""
    return NIRExecutor(graph, dt=dt, dtype=dtype)
