"""Graph utilities shared by the torch executor and the Lava compiler: flattening nested
graphs, execution order with cycles (back-edges read the previous step), fan-in."""
from __future__ import annotations

from dataclasses import dataclass

import nir
import numpy as np

from exporters.nir.extensions import is_extension
from exporters.nir.io import NIRError


def flatten_graph(graph: nir.NIRGraph, prefix: str = "") -> tuple[dict[str, nir.NIRNode], list[tuple[str, str]]]:
    """Inline nested ``NIRGraph`` nodes (not zoo extensions) into one flat node/edge set.

    A nested graph ``g`` is entered through its Input nodes and left through its Output nodes;
    both become pass-through nodes named ``g.input``/``g.output`` (an identity ``Scale``, so
    that the flat graph keeps exactly one Input and one Output)."""
    nodes: dict[str, nir.NIRNode] = {}
    edges: list[tuple[str, str]] = []
    entry: dict[str, str] = {}
    exit_: dict[str, str] = {}
    for name, node in graph.nodes.items():
        full = f"{prefix}{name}"
        if isinstance(node, nir.NIRGraph) and not is_extension(node):
            sub_nodes, sub_edges = flatten_graph(node, prefix=f"{full}.")
            ins = [n for n, v in node.nodes.items() if isinstance(v, nir.Input)]
            outs = [n for n, v in node.nodes.items() if isinstance(v, nir.Output)]
            if len(ins) != 1 or len(outs) != 1:
                raise NIRError(f"nested graph {full!r}: needs exactly one Input and one Output node")
            entry[full], exit_[full] = f"{full}.{ins[0]}", f"{full}.{outs[0]}"
            sub_nodes[entry[full]] = _identity(node.nodes[ins[0]].input_type, entry[full])
            sub_nodes[exit_[full]] = _identity(node.nodes[outs[0]].output_type, exit_[full])
            for n in sub_nodes:
                _claim(nodes, n, f"node {n.removeprefix(prefix)!r} of nested graph {name!r}")
            nodes.update(sub_nodes)
            edges.extend(sub_edges)
        else:
            _claim(nodes, full, f"node {name!r}")
            nodes[full] = node
    seen: set[tuple[str, str]] = set()
    for edge in graph.edges:
        if not isinstance(edge, (tuple, list)) or len(edge) != 2 or not all(isinstance(e, str) for e in edge):
            raise NIRError(f"edge {edge!r} of {prefix.rstrip('.') or 'the graph'} is not a (source, target) pair of node names")
        src, dst = edge
        if (src, dst) in seen:  # nir.read refuses it too; the Python API must not sum it twice
            raise NIRError(f"edge ({src!r}, {dst!r}) appears twice")
        seen.add((src, dst))
        s, d = f"{prefix}{src}", f"{prefix}{dst}"
        for n in (s, d):
            if n not in nodes and n not in entry:
                raise NIRError(f"edge ({src!r}, {dst!r}) names unknown node {n.removeprefix(prefix)!r}")
        edges.append((exit_.get(s, s), entry.get(d, d)))
    return nodes, edges


def _claim(nodes: dict, full: str, what: str) -> None:
    """Flat names must be unique: ``g -> lif`` and a top-level ``g.lif`` would both be ``g.lif``."""
    if full in nodes:
        raise NIRError(f"{what} flattens to {full!r}, a name another node already has; rename one of them")


def _identity(types: dict, name: str) -> nir.Scale:
    """An exact pass-through node (Scale by one) replacing a nested graph's Input/Output."""
    shape = next(iter(types.values()), None) if types else None
    if shape is None or not len(np.ravel(shape)):
        raise NIRError(f"nested graph node {name!r}: its Input/Output has no shape")
    return nir.Scale(scale=np.ones(tuple(int(v) for v in np.ravel(shape))))


@dataclass
class Schedule:
    """Execution order of a flat graph plus the edges that close cycles (read at t-1)."""

    order: list[str]
    back_edges: set[tuple[str, str]]
    inputs: dict[str, list[str]]  # node -> its source nodes (fan-in is summed)


def schedule(nodes: dict[str, nir.NIRNode], edges: list[tuple[str, str]]) -> Schedule:
    """Depth-first order from the Input nodes; an edge to a node still on the DFS stack is a
    back-edge, i.e. a recurrent connection that reads its source's previous-step output."""
    roots = [n for n, v in nodes.items() if isinstance(v, nir.Input)]
    if not roots:
        raise NIRError("graph has no Input node")
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    inputs: dict[str, list[str]] = {n: [] for n in nodes}
    for s, d in edges:
        succ[s].append(d)
        inputs[d].append(s)
    state: dict[str, int] = {}  # 1 on stack, 2 done
    back: set[tuple[str, str]] = set()
    post: list[str] = []

    def visit(n: str) -> None:
        stack = [(n, iter(succ[n]))]
        state[n] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                stack.pop()
                state[node] = 2
                post.append(node)
            elif state.get(nxt) == 1:
                back.add((node, nxt))
            elif nxt not in state:
                state[nxt] = 1
                stack.append((nxt, iter(succ[nxt])))

    for r in roots:
        if r not in state:
            visit(r)
    unreached = [n for n in nodes if n not in state]
    if unreached:
        raise NIRError(f"nodes not reachable from any Input: {', '.join(sorted(unreached))}")
    return Schedule(order=post[::-1], back_edges=back, inputs=inputs)
