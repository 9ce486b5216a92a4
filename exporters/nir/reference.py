"""An independent numpy reference simulator for plain NIR graphs (float64, forward Euler).

Written from the NIR primitive definitions (``nir/ir/*.py`` docstrings), not from the zoo's
torch executor (:mod:`exporters.nir.executor`) nor the Lava compiler, so that tests can check
both against it. It shares no code with them (only ``nir`` itself).

Time: step ``dt`` (seconds); inputs ``x`` of shape (B, T, *input_shape); at step t every node
computes its output from the sum of its inputs. Each node's primitive (I = summed input):

  Input, Output   pass-through
  Affine          W @ I + b            Linear  W @ I          Scale  s * I
  Flatten         reshape to the node's ``output_type`` (C order)
  Conv1d/Conv2d   cross-correlation (torch convention) with stride, zero padding, dilation,
                  groups and bias
  SumPool2d       sum over each window (zero padding);  AvgPool2d  that sum / (kh*kw)
  Threshold       z = (I > threshold)
  Delay           output(t) = I(t - d), d = round(delay/dt) whole steps (zero before)
  LI              tau dv/dt = (v_leak - v) + r I            -> v += dt/tau * (v_leak - v + r I)
  LIF             as LI, then spike and reset                 (output: spikes)
  I (Integrator)  dv/dt = r I                               -> v += dt * r * I
  IF              as I, then spike and reset
  CubaLI/CubaLIF  tau_syn dI_s/dt = -I_s + w_in I ;  tau_mem dv/dt = (v_leak - v) + r I_s
                  -> I_s += dt/tau_syn * (w_in I - I_s), then v with the *new* I_s

Conventions where NIR does not decide (the zoo's, docs/user-guide.md; stated so they can be
checked):
  * spike when v > v_threshold (strict); the membrane resets in the same step to v_reset
    ("zero" reset) or, when the node's metadata has ``zoo.reset = "subtract"``, by v_threshold;
    Threshold uses the strict ``>`` too (NIR writes a Heaviside step, H(0) unspecified).
  * CubaLIF/CubaLI: the membrane update uses the synaptic current of the same step (snnTorch's
    ``Synaptic``; a strictly explicit Euler step would use the previous step's current, as the
    NIR paper's own ``debug_CubaLIF/nir_reference_impl.py`` does, one step later).
  * Cycles: the graph is searched depth first from the Input, successors in the order the edges
    are listed; an edge into a node still on the search stack closes a cycle and carries the
    *previous* step's output of its source. At t = 0 that previous output is zero -- including
    any Affine bias inside the source (nirtorch's interpreter does the same; snnTorch's
    ``RSynaptic``/``RLeaky`` instead add the recurrent Linear's bias already at t = 0).
  * A node whose only inputs close cycles gets zero input at t = 0 (the zoo executor refuses).
  * AvgPool2d divides by the full window, padding included (torch ``count_include_pad=True``).
  * Neuron parameters broadcast to the node's output shape; state starts at zero.
"""
from __future__ import annotations

from typing import Any

import nir
import numpy as np

_NEURONS = (nir.LIF, nir.LI, nir.IF, nir.I, nir.CubaLIF, nir.CubaLI)


def _flat(graph: nir.NIRGraph, prefix: str = "") -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Nested NIRGraph nodes inlined; a subgraph's Input/Output become pass-throughs."""
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    enter: dict[str, str] = {}
    leave: dict[str, str] = {}
    for name, node in graph.nodes.items():
        full = prefix + name
        if isinstance(node, nir.NIRGraph):
            sub_nodes, sub_edges = _flat(node, full + ".")
            ins = [k for k, v in node.nodes.items() if isinstance(v, nir.Input)]
            outs = [k for k, v in node.nodes.items() if isinstance(v, nir.Output)]
            if len(ins) != 1 or len(outs) != 1:
                raise ValueError(f"subgraph {full}: needs one Input and one Output")
            enter[full], leave[full] = f"{full}.{ins[0]}", f"{full}.{outs[0]}"
            sub_nodes[enter[full]] = "pass"
            sub_nodes[leave[full]] = "pass"
            nodes.update(sub_nodes)
            edges += sub_edges
        else:
            nodes[full] = node
    for s, d in graph.edges:
        s, d = prefix + s, prefix + d
        edges.append((leave.get(s, s), enter.get(d, d)))
    return nodes, edges


def _cycle_edges(nodes: dict[str, Any], edges: list[tuple[str, str]], roots: list[str]) -> set[tuple[str, str]]:
    """Edges into a node that is on the depth-first search stack (successors in edge order)."""
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    for s, d in edges:
        succ[s].append(d)
    on_stack: set[str] = set()
    seen: set[str] = set()
    closing: set[tuple[str, str]] = set()

    def dfs(n: str) -> None:
        seen.add(n)
        on_stack.add(n)
        for m in succ[n]:
            if m in on_stack:
                closing.add((n, m))
            elif m not in seen:
                dfs(m)
        on_stack.discard(n)

    import sys
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 10 * len(nodes) + 100))
    try:
        for r in roots:
            if r not in seen:
                dfs(r)
    finally:
        sys.setrecursionlimit(old)
    if len(seen) != len(nodes):
        raise ValueError(f"nodes not reachable from the Input: {sorted(set(nodes) - seen)}")
    return closing


def _topo(nodes: dict[str, Any], edges: list[tuple[str, str]], closing: set) -> list[str]:
    """Kahn's algorithm on the edges that do not close a cycle."""
    indeg = {n: 0 for n in nodes}
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    for s, d in edges:
        if (s, d) not in closing:
            indeg[d] += 1
            succ[s].append(d)
    ready = [n for n in nodes if indeg[n] == 0]
    order = []
    while ready:
        n = ready.pop(0)
        order.append(n)
        for m in succ[n]:
            indeg[m] -= 1
            if indeg[m] == 0:
                ready.append(m)
    return order


def _shape(types: dict) -> tuple[int, ...] | None:
    v = next(iter(types.values()), None) if types else None
    return None if v is None else tuple(int(a) for a in np.ravel(v))


def _two(v: Any) -> tuple[int, int]:
    a = np.ravel(np.asarray(v, dtype=np.int64))
    return (int(a[0]), int(a[0])) if a.size == 1 else (int(a[0]), int(a[1]))


def conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride, padding, dilation, groups: int) -> np.ndarray:
    """x (B, C, H, W), w (O, C/groups, kh, kw): torch-style cross-correlation."""
    if isinstance(padding, str):
        raise ValueError("string padding is not supported by the reference")
    (sh, sw), (ph, pw), (dh, dw) = _two(stride), _two(padding), _two(dilation)
    x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    bsz, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    ho, wo = (h - dh * (kh - 1) - 1) // sh + 1, (wd - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((bsz, o, ho, wo))
    og = o // groups
    for g in range(groups):
        xs = x[:, g * cg:(g + 1) * cg]
        for i in range(kh):
            for j in range(kw):
                patch = xs[:, :, i * dh:i * dh + sh * (ho - 1) + 1:sh, j * dw:j * dw + sw * (wo - 1) + 1:sw]
                out[:, g * og:(g + 1) * og] += np.einsum("bchw,oc->bohw", patch, w[g * og:(g + 1) * og, :, i, j])
    if b is not None:
        out += np.broadcast_to(np.asarray(b, float), (o,))[None, :, None, None]
    return out


def pool2d(x: np.ndarray, kernel, stride, padding) -> np.ndarray:
    """Window sums of x (B, C, H, W) with zero padding."""
    (kh, kw), (sh, sw), (ph, pw) = _two(kernel), _two(stride), _two(padding)
    c = x.shape[1]
    w = np.zeros((c, 1, kh, kw))
    w[:] = 1.0
    return conv2d(x, w, None, (sh, sw), (ph, pw), (1, 1), c)


class Reference:
    """Runs a plain NIR graph; ``run(x)`` returns the output and every node's output per step."""

    def __init__(self, graph: nir.NIRGraph, dt: float):
        self.dt = float(dt)
        self.nodes, self.edges = _flat(graph)
        for name, node in self.nodes.items():
            ok = (nir.Input, nir.Output, nir.Affine, nir.Linear, nir.Scale, nir.Flatten, nir.Conv1d, nir.Conv2d,
                  nir.SumPool2d, nir.AvgPool2d, nir.Threshold, nir.Delay) + _NEURONS
            if node != "pass" and (type(node) not in ok or isinstance(node, nir.NIRGraph)):
                raise ValueError(f"node {name}: {type(node).__name__} is not a plain NIR primitive of the reference")
        ins = [n for n, v in self.nodes.items() if isinstance(v, nir.Input)]
        outs = [n for n, v in self.nodes.items() if isinstance(v, nir.Output)]
        if len(ins) != 1 or len(outs) != 1:
            raise ValueError("the reference runs graphs with one Input and one Output")
        self.input, self.output = ins[0], outs[0]
        self.closing = _cycle_edges(self.nodes, self.edges, [self.input])
        self.order = _topo(self.nodes, self.edges, self.closing)
        self.sources = {n: [s for s, d in self.edges if d == n] for n in self.nodes}

    def run(self, x: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """x (B, T, *input_shape) -> (output (B, T, ...), {node: (B, T, ...)})."""
        x = np.asarray(x, dtype=np.float64)
        bsz, steps = x.shape[:2]
        state: dict[str, dict] = {n: {} for n in self.nodes}
        prev: dict[str, np.ndarray] = {}
        rec: dict[str, list[np.ndarray]] = {n: [] for n in self.nodes}
        for t in range(steps):
            cur: dict[str, np.ndarray] = {}
            for n in self.order:
                node = self.nodes[n]
                if n == self.input:
                    y = x[:, t]
                else:
                    total = None
                    for s in self.sources[n]:
                        val = prev.get(s) if (s, n) in self.closing else cur[s]
                        if val is None:
                            continue  # a cycle-closing edge at t = 0: its source's previous output is zero
                        total = val if total is None else _add(total, val)
                    y = self._node(n, node, total, state[n], bsz)
                cur[n] = y
                rec[n].append(y)
            prev = cur
        records = {n: np.stack(v, axis=1) for n, v in rec.items() if v and v[0] is not None}
        return records[self.output], records

    def _node(self, name: str, node: Any, inp: np.ndarray | None, st: dict, bsz: int) -> np.ndarray:
        if inp is None:  # only cycle-closing inputs, first step
            shape = _shape(getattr(node, "input_type", {}) or {}) if node != "pass" else None
            if shape is None:
                raise ValueError(f"node {name}: no input at t = 0 and no declared input shape")
            inp = np.zeros((bsz, *shape))
        if node == "pass" or isinstance(node, (nir.Output, nir.Input)):
            return inp
        dt = self.dt
        if isinstance(node, nir.Affine):
            return inp.reshape(bsz, -1) @ np.asarray(node.weight, float).T + np.asarray(node.bias, float)
        if isinstance(node, nir.Linear):
            return inp.reshape(bsz, -1) @ np.asarray(node.weight, float).T
        if isinstance(node, nir.Scale):
            s = np.asarray(node.scale, float)
            return inp.reshape(bsz, *s.shape) * s if s.ndim and inp[0].size == s.size else inp * s
        if isinstance(node, nir.Flatten):
            return inp.reshape(bsz, *_shape(node.output_type))
        if isinstance(node, (nir.Conv2d, nir.SumPool2d, nir.AvgPool2d, nir.Conv1d)):
            shape = _shape(node.input_type)
            if shape is not None:
                inp = inp.reshape(bsz, *shape)
            if isinstance(node, nir.Conv2d):
                return conv2d(inp, np.asarray(node.weight, float), node.bias, node.stride, node.padding, node.dilation,
                              int(node.groups))
            if isinstance(node, nir.Conv1d):
                w = np.asarray(node.weight, float)[:, :, None, :]
                pad = node.padding if isinstance(node.padding, str) else (0, int(np.ravel(node.padding)[0]))
                y = conv2d(inp[:, :, None, :], w, node.bias, (1, int(np.ravel(node.stride)[0])), pad,
                           (1, int(np.ravel(node.dilation)[0])), int(node.groups))
                return y[:, :, 0, :]
            y = pool2d(inp, node.kernel_size, node.stride, node.padding)
            if isinstance(node, nir.AvgPool2d):
                kh, kw = _two(node.kernel_size)
                y = y / (kh * kw)
            return y
        if isinstance(node, nir.Threshold):
            th = np.asarray(node.threshold, float)
            return (inp.reshape(bsz, *th.shape) > th).astype(np.float64) if th.ndim else (inp > th).astype(np.float64)
        if isinstance(node, nir.Delay):
            d = int(round(float(np.max(node.delay)) / dt))
            queue = st.setdefault("queue", [np.zeros_like(inp) for _ in range(d)])
            queue.append(inp)
            return queue.pop(0)
        return self._neuron(node, inp, st, bsz)

    def _neuron(self, node: Any, inp: np.ndarray, st: dict, bsz: int) -> np.ndarray:
        dt = self.dt
        shape = _shape(node.output_type) or np.shape(node.v_leak if not isinstance(node, (nir.I, nir.IF)) else node.r)
        inp = inp.reshape(bsz, *shape)

        def p(key: str) -> np.ndarray:
            return np.broadcast_to(np.asarray(getattr(node, key), float), shape)

        v = st.get("v", np.zeros((bsz, *shape)))
        if isinstance(node, (nir.CubaLIF, nir.CubaLI)):
            cur = st.get("i", np.zeros((bsz, *shape)))
            cur = cur + dt / p("tau_syn") * (p("w_in") * inp - cur)
            st["i"] = cur
            v = v + dt / p("tau_mem") * (p("v_leak") - v + p("r") * cur)
        elif isinstance(node, (nir.LIF, nir.LI)):
            v = v + dt / p("tau") * (p("v_leak") - v + p("r") * inp)
        else:  # I, IF
            v = v + dt * p("r") * inp
        if isinstance(node, (nir.LI, nir.CubaLI, nir.I)):
            st["v"] = v
            return v
        th = p("v_threshold")
        z = v > th
        if (getattr(node, "metadata", None) or {}).get("zoo.reset") == "subtract":
            v = v - z * th
        else:
            v = np.where(z, p("v_reset"), v)
        st["v"] = v
        return z.astype(np.float64)


def _add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.shape != b.shape and a[0].size == b[0].size:
        b = b.reshape(a.shape)
    return a + b


def simulate(graph: nir.NIRGraph, x: np.ndarray, dt: float) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Run ``graph`` on x (B, T, *input_shape) with step ``dt``: (output, records per node)."""
    return Reference(graph, dt).run(x)
