"""NIR files that *other* tools' importers run with the zoo's spikes (issue 16, item 1).

``graph_for_target(graph, target)`` rewrites a zoo NIR graph so that the named framework's own
importer, called the ordinary way, runs the same discrete dynamics; where the importer cannot
express the model it raises :class:`Refused` with one line saying why. Every rewrite keeps the
file a correct NIR graph *in NIR's own terms* (the graph ``dt`` changes together with the time
constants, so ``dt/tau`` is unchanged), so the zoo's executor gives the same output on the
rewritten file as on the original.

Targets and what each works around (pinned releases, read from their sources):

``snntorch`` (``snntorch.import_nir.import_from_nir``, 1.0.0)
    * assumes dt = 1e-4 s (``beta = 1 - 1e-4/tau``): every tau is multiplied by 1e-4/dt and the
      graph dt becomes 1e-4;
    * divides the threshold by ``w_scale = r*1e-4/tau`` and requires one threshold per layer:
      the input gain ``dt*r/tau`` and the threshold ``theta`` of every neuron are folded into the
      rows of the weight node that feeds it (``W[i] *= gain_i/theta_i``, threshold 1,
      ``r = tau/1e-4``) -- exact for zero reset to ``v_reset = 0`` with ``v_leak = 0`` (the
      dynamics are then homogeneous in v);
    * builds every neuron with ``reset_mechanism="zero"``, maps ``IF`` to ``Leaky(beta=0.9)``,
      has no ``LI``/``Scale``/``Threshold`` import, fails on recurrent graphs with nirtorch 2.6:
      refused.
``norse`` (``norse.torch.from_nir``, 1.1.0)
    * defaults to dt = 1e-3 s: taus multiplied by 1e-3/dt, graph dt 1e-3;
    * ignores LIF ``r``: r folded into the rows of the feeding weights (and set to 1);
    * ``IF`` becomes ``IAFCell`` (``v += I``): r*dt folded into the weights, r = 1/dt';
    * resets to ``v_reset`` only (no subtractive reset for LIF/IF), drops ``LI``, has no
      ``Scale``/``Threshold`` and no recurrence in ``nirtorch.load``'s executor: refused.
``nirtorch`` (``nirtorch.nir_to_torch(graph, zoo_node_map(graph))``, 2.6)
    the zoo graph unchanged; :mod:`exporters.nir.nodemap` supplies the exact modules.
``nir`` (any reader of NIR 1.0.8 primitives with their standard semantics)
    zoo metadata removed; a subtractive reset (``zoo.reset = subtract``) is written with
    primitives only: ``LI``/``I`` (membrane, no reset) -> ``Threshold`` (the spikes) and a
    back edge ``Threshold -> Scale(k) -> LI`` that subtracts the threshold from the previous
    step's membrane (``k = -beta*theta/((1-beta)*r)`` for LIF, ``-theta/(dt*r)`` for IF), which
    is the zoo's update exactly. Extension neurons (nonlinear: adaptive thresholds, resets of
    oscillators, sigma-delta) have no primitive form: refused.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import nir
import numpy as np

from exporters.nir.io import NIRError

TARGETS = ("nir", "snntorch", "norse", "nirtorch")
SNNTORCH_DT = 1e-4  # snntorch/import_nir.py: ``dt = 1e-4`` in every neuron branch
NORSE_DT = 1e-3  # norse/torch/utils/import_nir.py: from_nir(..., dt=0.001)
WEIGHT_TYPES = (nir.Affine, nir.Linear, nir.Conv2d, nir.Conv1d)
SPIKING_PRIMS = (nir.LIF, nir.IF, nir.CubaLIF)


class Refused(NIRError):
    """The target framework cannot express this model (one line: which and why)."""


# ----------------------------------------------------------------------------- helpers

def node_metadata(node: Any) -> dict:
    m = getattr(node, "metadata", None)
    return m if isinstance(m, dict) else {}


def as_text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _reset(node: nir.NIRNode) -> str:
    return as_text(node_metadata(node).get("zoo.reset", "zero"))


def _preds(graph: nir.NIRGraph, name: str) -> list[str]:
    return [s for s, d in graph.edges if d == name]


def _succs(graph: nir.NIRGraph, name: str) -> list[str]:
    return [d for s, d in graph.edges if s == name]


def _has_cycle(graph: nir.NIRGraph) -> bool:
    succ: dict[str, list[str]] = {}
    for s, d in graph.edges:
        succ.setdefault(s, []).append(d)
    state: dict[str, int] = {}

    def visit(n: str) -> bool:
        state[n] = 1
        for m in succ.get(n, []):
            if state.get(m) == 1 or (m not in state and visit(m)):
                return True
        state[n] = 2
        return False

    return any(n not in state and visit(n) for n in graph.nodes)


def _arr(v: Any, shape: tuple[int, ...]) -> np.ndarray:
    return np.broadcast_to(np.asarray(v, dtype=np.float64), shape).copy()


def _shape(node: nir.NIRNode) -> tuple[int, ...]:
    for key in ("v_threshold", "tau", "r", "threshold"):
        v = getattr(node, key, None)
        if v is not None:
            return np.shape(v)
    raise NIRError(f"{type(node).__name__} has no per-neuron parameter")


def _fold_rows(graph: nir.NIRGraph, name: str, gain: np.ndarray, target: str, why: str) -> None:
    """Multiply the output rows (channels) of the single weight node feeding ``name`` by
    ``gain`` (per neuron). Refused when the neuron has other inputs or no weight node."""
    preds = _preds(graph, name)
    if len(preds) != 1 or not isinstance(graph.nodes[preds[0]], WEIGHT_TYPES) or len(_succs(graph, preds[0])) != 1:
        raise Refused(f"{target}: node {name!r}: {why} must be folded into the weights feeding it, but its input is "
                      f"not one Affine/Linear/Conv node used only by it")
    w = graph.nodes[preds[0]]
    g = np.asarray(gain, dtype=np.float64)
    if isinstance(w, (nir.Affine, nir.Linear)):
        if g.ndim != 1 or g.shape[0] != np.shape(w.weight)[0]:
            raise Refused(f"{target}: node {name!r}: per-neuron gain of shape {g.shape} does not match the weights")
        w.weight = np.asarray(w.weight, dtype=np.float64) * g[:, None]
        if isinstance(w, nir.Affine):
            w.bias = np.asarray(w.bias, dtype=np.float64) * g
        return
    # convolutions: one gain per output channel only
    gc = g.reshape(g.shape[0], -1)
    if not np.all(gc == gc[:, :1]):
        raise Refused(f"{target}: node {name!r}: {why} differs within a convolution channel; it cannot be folded "
                      "into the kernel")
    gc = gc[:, 0]
    w.weight = np.asarray(w.weight, dtype=np.float64) * gc.reshape(-1, *([1] * (np.ndim(w.weight) - 1)))
    w.bias = np.asarray(w.bias, dtype=np.float64) * gc


def extension_of(node: nir.NIRNode) -> str | None:
    if isinstance(node, nir.NIRGraph) and "zoo.neuron" in node_metadata(node):
        return as_text(node.metadata["zoo.neuron"])
    return None


def _check_types(graph: nir.NIRGraph, target: str, allowed: tuple[type, ...], missing: dict[type, str]) -> None:
    for name, node in graph.nodes.items():
        ext = extension_of(node)
        if ext is not None:
            raise Refused(f"{target}: zoo extension neuron {ext!r} (node {name!r}) has no {target} equivalent")
        if isinstance(node, nir.NIRGraph):
            raise Refused(f"{target}: nested graph {name!r} is not supported")
        for t, why in missing.items():
            if isinstance(node, t):
                raise Refused(f"{target}: node {name!r}: {why}")
        if not isinstance(node, allowed):
            raise Refused(f"{target}: node {name!r}: {type(node).__name__} has no {target} import")


def metadata_dt(graph: nir.NIRGraph) -> float:
    dt = node_metadata(graph).get("dt")
    if dt is None:
        raise NIRError("graph has no metadata dt")
    return float(dt)


def _rescale_time(graph: nir.NIRGraph, k: float) -> None:
    for node in graph.nodes.values():
        for key in ("tau", "tau_syn", "tau_mem"):
            if getattr(node, key, None) is not None:
                setattr(node, key, np.asarray(getattr(node, key), dtype=np.float64) * k)


# ----------------------------------------------------------------------------- targets

def for_snntorch(graph: nir.NIRGraph) -> nir.NIRGraph:
    g = copy.deepcopy(graph)
    _check_types(g, "snntorch", (nir.Input, nir.Output, nir.Affine, nir.Linear, nir.Conv2d, nir.Flatten,
                                 nir.AvgPool2d, nir.LIF),
                 {nir.IF: "snnTorch 1.0.0 imports IF as Leaky(beta=0.9), not an integrator",
                  nir.LI: "snnTorch 1.0.0 has no LI import",
                  nir.Scale: "snnTorch 1.0.0 has no Scale import",
                  nir.CubaLIF: "snnTorch 1.0.0 imports CubaLIF with r ignored and per-layer thresholds only "
                               "(not supported by this exporter)"})
    if _has_cycle(g):
        raise Refused("snntorch: recurrent graph: snnTorch 1.0.0's import of recurrent graphs fails with nirtorch 2.6")
    dt = metadata_dt(g)
    for name, node in list(g.nodes.items()):
        if not isinstance(node, nir.LIF):
            continue
        n = _shape(node)
        if _reset(node) != "zero":
            raise Refused(f"snntorch: node {name!r}: subtractive reset; snnTorch 1.0.0's import_from_nir builds every "
                          "Leaky with reset_mechanism='zero'")
        if np.any(_arr(node.v_reset, n) != 0) or np.any(_arr(node.v_leak, n) != 0):
            raise Refused(f"snntorch: node {name!r}: v_reset/v_leak != 0 are not supported by snnTorch's import")
        tau, r, thr = _arr(node.tau, n), _arr(node.r, n), _arr(node.v_threshold, n)
        if np.any(thr <= 0):
            raise Refused(f"snntorch: node {name!r}: thresholds must be > 0")
        gain = dt * r / tau  # input gain per step; snnTorch's Leaky has gain 1 and one threshold
        if not (np.all(thr == thr.flat[0]) and np.all(gain == 1.0)):
            _fold_rows(g, name, (gain / thr).reshape(n[0], -1)[:, 0] if len(n) > 1 else gain / thr, "snntorch",
                       "per-neuron threshold and input gain")
            thr = np.ones(n)
        tau_new = tau * (SNNTORCH_DT / dt)
        g.nodes[name] = nir.LIF(tau=tau_new, r=tau_new / SNNTORCH_DT, v_leak=np.zeros(n), v_threshold=thr,
                                v_reset=np.zeros(n), metadata={"zoo.reset": "zero"})
    g.metadata = {**node_metadata(g), "dt": SNNTORCH_DT, "zoo.target": "snntorch",
                  "zoo.target_note": f"time constants scaled by 1e-4/{dt} for snnTorch's fixed dt"}
    return g


def for_norse(graph: nir.NIRGraph) -> nir.NIRGraph:
    g = copy.deepcopy(graph)
    _check_types(g, "norse", (nir.Input, nir.Output, nir.Affine, nir.Linear, nir.Conv2d, nir.Flatten, nir.LIF,
                              nir.IF),
                 {nir.LI: "Norse 1.1.0's from_nir drops LI nodes",
                  nir.Scale: "Norse 1.1.0 has no Scale import",
                  nir.AvgPool2d: "Norse 1.1.0 has no AvgPool2d import",
                  nir.CubaLIF: "Norse 1.1.0 imports CubaLIF (LIFCell) with different behaviour"})
    if _has_cycle(g):
        raise Refused("norse: recurrent graph: Norse 1.1.0's from_nir (nirtorch.load) does not run recurrent edges")
    dt = metadata_dt(g)
    k = NORSE_DT / dt
    for name, node in list(g.nodes.items()):
        if not isinstance(node, (nir.LIF, nir.IF)):
            continue
        n = _shape(node)
        if _reset(node) != "zero":
            raise Refused(f"norse: node {name!r}: subtractive reset; Norse 1.1.0's from_nir resets LIF/IF to v_reset "
                          "only")
        if np.any(_arr(node.v_reset, n) != 0):
            raise Refused(f"norse: node {name!r}: v_reset != 0 is not written to Norse's cells")
        r = _arr(node.r, n)
        gain = r if isinstance(node, nir.LIF) else r * dt
        _fold_rows(g, name, gain.reshape(n[0], -1)[:, 0] if len(n) > 1 else gain, "norse",
                   "r (ignored by Norse)")
        thr = _arr(node.v_threshold, n)
        if isinstance(node, nir.LIF):
            g.nodes[name] = nir.LIF(tau=_arr(node.tau, n) * k, r=np.ones(n), v_leak=_arr(node.v_leak, n),
                                    v_threshold=thr, v_reset=np.zeros(n), metadata={"zoo.reset": "zero"})
        else:  # Norse's IAFCell adds its input without dt: NIR IF with r = 1/dt'
            g.nodes[name] = nir.IF(r=np.full(n, 1.0 / NORSE_DT), v_threshold=thr, v_reset=np.zeros(n),
                                   metadata={"zoo.reset": "zero"})
    g.metadata = {**node_metadata(g), "dt": NORSE_DT, "zoo.target": "norse",
                  "zoo.target_note": f"time constants scaled by 1e-3/{dt} for Norse's default dt; "
                                     "r folded into weights"}
    return g


def for_plain_nir(graph: nir.NIRGraph) -> nir.NIRGraph:
    """Only NIR primitives with their standard semantics (no ``zoo.*`` node metadata needed)."""
    g = copy.deepcopy(graph)
    for name, node in g.nodes.items():
        ext = extension_of(node)
        if ext is not None:
            raise Refused(f"nir: zoo extension neuron {ext!r} (node {name!r}) is nonlinear beyond NIR's primitives "
                          "(no primitive form)")
    dt = metadata_dt(g)
    nodes, edges = dict(g.nodes), list(g.edges)
    for name, node in g.nodes.items():
        if not isinstance(node, SPIKING_PRIMS):
            continue
        if _reset(node) == "zero":
            node.metadata = {k: v for k, v in node_metadata(node).items() if not str(k).startswith("zoo.")}
            continue
        if isinstance(node, nir.CubaLIF):
            raise Refused(f"nir: node {name!r}: CubaLIF with subtractive reset has no primitive form here")
        n = _shape(node)
        thr, r = _arr(node.v_threshold, n), _arr(node.r, n)
        if isinstance(node, nir.LIF):
            tau, vl = _arr(node.tau, n), _arr(node.v_leak, n)
            beta = 1.0 - dt / tau
            if np.any(beta <= 0):
                raise Refused(f"nir: node {name!r}: tau <= dt; the reset loop needs beta = 1 - dt/tau > 0")
            mem: nir.NIRNode = nir.LI(tau=tau, r=r, v_leak=vl)
            k = -beta * thr / ((1.0 - beta) * r)
        else:
            mem = nir.I(r=r)
            k = -thr / (dt * r)
        vname, rname = f"{name}_v", f"{name}_reset"
        if vname in nodes or rname in nodes:
            raise Refused(f"nir: node names {vname!r}/{rname!r} already exist")
        nodes[vname] = mem
        nodes[name] = nir.Threshold(threshold=thr)
        nodes[rname] = nir.Scale(scale=k)
        edges = [(s, vname if d == name else d) for s, d in edges]
        edges += [(vname, name), (name, rname), (rname, vname)]
    g2 = nir.NIRGraph(nodes=nodes, edges=edges,
                      metadata={**node_metadata(g), "zoo.target": "nir",
                                "zoo.target_note": "subtractive resets written as Threshold -> Scale -> LI/I loops"})
    return g2


def for_nirtorch(graph: nir.NIRGraph) -> nir.NIRGraph:
    """The zoo graph for ``nirtorch.nir_to_torch(g, zoo_node_map(g))``, with two fixes for
    nirtorch 2.6's wiring (``nir_interpreter._construct_fx_graph``):

    * several edges into an Output are returned as separate tuple items (state last), not
      summed: such an Output gets one identity ``Scale`` in front that sums them;
    * identity extensions (``v_tap``, ``sigma_delta``) are applied by the module of the node
      they feed (:mod:`exporters.nir.nodemap`): where that node is an Output, a nested graph
      or has other inputs, an identity ``Scale`` is put in between;
    * nodes are wired in the order the file lists them (``nir.read`` lists them
      alphabetically), and a nested graph met before its inputs exist is built twice and
      crashes (``'GraphModule' object has no attribute 'items'``): every node except Input and
      Output is renamed ``nNNN_<name>`` in execution order, with ``metadata["zoo.name"]`` = its
      zoo name."""
    from exporters.nir.graph import schedule

    g = copy.deepcopy(graph)
    nodes, edges = dict(g.nodes), list(g.edges)
    for name, node in g.nodes.items():
        ins = [s for s, d in edges if d == name]
        if isinstance(node, nir.Output) and len(ins) > 1:
            shape = tuple(int(v) for v in np.ravel(next(iter(node.output_type.values()))))
            sname = f"{name}_sum"
            if sname in nodes:
                raise Refused(f"nirtorch: node name {sname!r} already exists")
            nodes[sname] = nir.Scale(scale=np.ones(shape))
            edges = [(s, sname if d == name else d) for s, d in edges] + [(sname, name)]
    for name, node in g.nodes.items():  # identity extensions are applied by their consumer module
        if extension_of(node) is None or not all(isinstance(v, (nir.Input, nir.Output)) for v in node.nodes.values()):
            continue
        shape = tuple(int(v) for v in np.ravel(next(iter(node.output_type.values()))))
        for i, (s, d) in enumerate(list(edges)):
            if s != name or (not isinstance(nodes[d], (nir.Output, nir.NIRGraph))
                             and [e for e in edges if e[1] == d] == [(s, d)]):
                continue
            cname = f"{name}_apply{i}"
            nodes[cname] = nir.Scale(scale=np.ones(shape))
            edges = [e for e in edges if e != (s, d)] + [(s, cname), (cname, d)]
    order = schedule(nodes, edges).order
    rename = {}
    for i, name in enumerate(order):
        node = nodes[name]
        if isinstance(node, (nir.Input, nir.Output)):
            rename[name] = name
            continue
        rename[name] = f"n{i:03d}_{name}"
        node.metadata = {**node_metadata(node), "zoo.name": name}
    nodes = {rename[n]: nodes[n] for n in order}
    edges = [(rename[s], rename[d]) for s, d in edges]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={**node_metadata(g), "zoo.target": "nirtorch"})


def graph_for_target(graph: nir.NIRGraph, target: str) -> nir.NIRGraph:
    """A copy of ``graph`` that ``target``'s importer runs with the zoo's dynamics, or :class:`Refused`."""
    if target == "nirtorch":
        return for_nirtorch(graph)
    fn = {"snntorch": for_snntorch, "norse": for_norse, "nir": for_plain_nir}.get(target)
    if fn is None:
        raise NIRError(f"unknown target {target!r} (choose from {', '.join(TARGETS)})")
    return fn(graph)


def export_for_target(graph: nir.NIRGraph, target: str, path: str | Path) -> Path:
    """``zoo export NAME --to nir --target T -o PATH``: write ``graph`` (the model's zoo graph)
    rewritten for ``target``."""
    from exporters.nir import write

    return write(Path(path), graph_for_target(graph, target))
