"""Import NIR graphs written by other frameworks' exporters with explicit, correct semantics.

The pinned releases export graphs whose meaning differs from what they simulate
(docs/agreement.md, "What the workarounds fix"). These helpers return a corrected copy that
carries ``metadata["dt"]`` and, for spiking nodes, ``metadata["zoo.reset"]``; the step ``dt``
is always an explicit argument. :func:`import_graph` decides which to apply, or refuses a raw
file naming the flags that decide what NIR does not record.

snnTorch 1.0.0 (``snntorch.export_nir.export_to_nir``), discrete update per step t:
    Leaky:    mem = beta*mem + I;            spk = mem > thr
    Synaptic: syn = alpha*syn + I; mem = beta*mem + syn
    RLeaky / RSynaptic: I += V @ spk[t-1]   (recurrent weights on the previous step's spikes)
    reset (reset_delay=False): mem -= thr*spk ("subtract", the default) | mem = 0 where spk ("zero")
    caveat (subtract): snnTorch also keeps r = (mem_prev > thr) and tests spk = (mem - thr*r > thr),
    adding thr back when r = 1 and spk = 0; this differs from NIR/Lava's ``mem > thr`` only when
    the voltage after a subtraction is still above threshold (an input > 2*thr in one step). The
    importer cannot see it (it depends on the data); docs/agreement.md measures it.
  Export: tau = 1e-4/(1-beta), r = tau/1e-4, tau_syn = 1e-4/(1-alpha), w_in = tau_syn/1e-4,
  v_reset = 0 and no reset mode. Bugs: the step is hard-coded to 1e-4 s and subtractive reset is
  written as "reset to 0"; ``Leaky(beta=1)`` gives tau = inf (NaN in NIR).
  :func:`from_snntorch` rescales every time constant to the real ``dt`` (tau *= dt/1e-4; r and
  w_in are dimensionless ratios and stay), sets the reset mode, turns beta = 1 into ``IF``.
  ``reset_delay=True`` (snnTorch's default): with zero reset a Leaky neuron's spikes are
  unchanged (only the recorded ``mem`` is pre-reset), so it is accepted; with subtractive reset
  snnTorch computes mem[t] = beta*mem[t-1] + I[t] - thr*spk[t-1] (the subtraction is not
  decayed), i.e. a reset of thr/beta against a threshold thr, which no NIR primitive nor our
  compiler represents: refused with an error (measured in ``docs/agreement.md``). Synaptic with
  zero reset and reset_delay=True zeroes ``mem`` one step late (dropping that step's input):
  refused too.

Norse 1.1.0 (``norse.torch.to_nir(module, sample, dt=...)``), per step (dt = the cells' dt):
    LIFBoxCell: v = v + dt*tau_mem_inv*(v_leak - v + I);  z = v > v_th;  v = v_reset where z
    IAFCell:    v = v + I                                  (no dt);     reset as above
    LIFCell:    j = i + I;  v = v + dt*tau_mem_inv*(v_leak - v + j);  z = v > v_th; reset v;
                i = j*(1 - dt*tau_syn_inv)        (the current *jumps* by the input)
    LIBoxCell:  v = v + dt*tau_mem_inv*(v_leak - v + I)
  Export: tau = export_dt/tau_mem_inv (should be 1/tau_mem_inv), r = 1, w_in = 1 (should be
  tau_syn/dt: a jump of I is dt/tau_syn * (w_in*I) in NIR's Euler form), IF r = 1 (should be
  1/dt), v_reset not written (Norse's default 0 is assumed), scalar parameters (no layer size)
  and the sample's batch dimension in the Input/Output types. :func:`from_norse` fixes all of
  these. With those fixes the three cells are *exactly* NIR LIF / IF / CubaLIF under forward
  Euler: Norse's LIFCell update j = (1-dt/tau_syn) j_prev + I equals NIR's
  i += dt/tau_syn*(w_in*I - i) with w_in = tau_syn/dt, and v reads the updated current.
"""
from __future__ import annotations

import copy
from typing import Any

import nir
import numpy as np

from exporters.nir.io import NIRError

SNNTORCH_DT = 1e-4  # snntorch 1.0.0 export_nir.py: ``dt = 1e-4`` in every neuron branch
SPIKING = (nir.LIF, nir.IF, nir.CubaLIF)


def _np(v: Any) -> np.ndarray:
    if hasattr(v, "detach"):
        v = v.detach().cpu().double().numpy()
    return np.asarray(v, dtype=np.float64)


def _nodes(graph: nir.NIRGraph, prefix: str = ""):
    """(name, node) for every node, nested graphs included."""
    for name, node in graph.nodes.items():
        yield f"{prefix}{name}", node
        if isinstance(node, nir.NIRGraph):
            yield from _nodes(node, f"{prefix}{name}.")


def _layer_shape(node: nir.NIRNode) -> tuple[int, ...] | None:
    shape = next(iter((node.input_type or {}).values()), None)
    if shape is None or np.size(shape) == 0:
        return None
    return tuple(int(v) for v in np.ravel(shape))


def _broadcast(node: nir.NIRNode, keys: tuple[str, ...], shape: tuple[int, ...] | None, name: str) -> None:
    for k in keys:
        v = getattr(node, k, None)
        if v is None:
            continue
        v = _np(v)
        if shape is not None and v.shape != shape:
            try:
                v = np.broadcast_to(v, shape).copy()
            except ValueError:
                raise NIRError(f"node {name!r}: parameter {k} of shape {v.shape} does not fit the layer {shape}") from None
        setattr(node, k, v)


def _retype(node: nir.NIRNode, shape: tuple[int, ...]) -> None:
    node.input_type = {"input": np.array(shape)}
    node.output_type = {"output": np.array(shape)}


def from_snntorch(graph: nir.NIRGraph, dt: float, reset: str = "subtract", reset_delay: bool = False) -> nir.NIRGraph:
    """A corrected copy of a graph written by snnTorch 1.0.0's ``export_to_nir``.

    ``dt``: the step (seconds) the user assigns to the snnTorch model (snnTorch itself is
    step-based; any positive dt gives the same discrete dynamics once time constants are in
    seconds). ``reset``/``reset_delay``: the ``reset_mechanism`` and ``reset_delay`` the
    neurons were built with (the export does not record them; snnTorch's defaults are
    ``"subtract"`` and ``True``)."""
    if dt is None or not float(dt) > 0:
        raise NIRError(f"from_snntorch: dt must be a positive number of seconds, got {dt!r}")
    if reset not in ("zero", "subtract"):
        raise NIRError(f"from_snntorch: reset must be 'zero' or 'subtract', got {reset!r}")
    dt = float(dt)
    g = copy.deepcopy(graph)
    k = dt / SNNTORCH_DT
    for name, node in list(_nodes(g)):
        if isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):  # snnTorch writes ints: NIR wants (h, w) arrays
            for key in ("kernel_size", "stride", "padding"):
                setattr(node, key, np.broadcast_to(np.asarray(getattr(node, key), dtype=np.int64), (2,)).copy())
        if not isinstance(node, SPIKING + (nir.LI, nir.CubaLI)):
            continue
        shape = _layer_shape(node)
        keys = ("tau", "tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset", "w_in")
        _broadcast(node, keys, shape, name)
        if reset_delay and isinstance(node, SPIKING):
            if reset == "subtract":
                raise NIRError(f"node {name!r}: snnTorch reset_delay=True with subtractive reset subtracts the "
                               "threshold one step late without decay (mem = beta*mem + I - thr*spk[t-1]); no NIR "
                               "neuron represents this: rebuild the model with reset_delay=False")
            if isinstance(node, nir.CubaLIF):
                raise NIRError(f"node {name!r}: snnTorch Synaptic with zero reset and reset_delay=True sets mem to "
                               "0 one step after a spike, dropping that step's input; rebuild with reset_delay=False")
        meta = dict(node.metadata or {})
        if isinstance(node, SPIKING):
            meta["zoo.reset"] = reset
            node.v_reset = np.zeros_like(_np(node.v_threshold))
        node.metadata = meta
        if isinstance(node, nir.LIF) and np.all(np.isinf(node.tau)):  # Leaky(beta=1): tau = 1e-4/0
            new = nir.IF(r=np.full(node.tau.shape, 1.0 / dt), v_threshold=node.v_threshold, v_reset=node.v_reset,
                         metadata=meta)
            _replace(g, name, new)
            continue
        for key in ("tau", "tau_syn", "tau_mem"):
            v = getattr(node, key, None)
            if v is not None:
                if np.any(~np.isfinite(v)) or np.any(v <= 0):
                    raise NIRError(f"node {name!r}: {key} must be finite and positive after export (beta or alpha "
                                   "in (0, 1) per neuron; beta = 1 only for a whole layer)")
                setattr(node, key, v * k)
    g.metadata = {**(g.metadata or {}), "dt": dt, "producer": "snntorch 1.0.0 export_to_nir",
                  "imported_by": "exporters.nir.frameworks.from_snntorch", "reset": reset}
    return g


def _replace(graph: nir.NIRGraph, name: str, new: nir.NIRNode) -> None:
    parts = name.split(".")
    g = graph
    for p in parts[:-1]:
        if p in g.nodes and isinstance(g.nodes[p], nir.NIRGraph):
            g = g.nodes[p]
        else:  # flat names that contain dots (nirtorch inlines subgraphs as "1.lif")
            g.nodes[name] = new
            return
    g.nodes[parts[-1]] = new


def from_norse(graph: nir.NIRGraph, dt: float, export_dt: float | None = None,
               input_shape: tuple[int, ...] | None = None) -> nir.NIRGraph:
    """A corrected copy of a graph written by Norse 1.1.0's ``norse.torch.to_nir``.

    ``dt``: the step (seconds) the Norse cells simulate with (their ``dt`` argument).
    ``export_dt``: the ``dt`` given to ``to_nir`` (written into tau as export_dt/tau_mem_inv);
    defaults to ``dt``. ``input_shape``: the input shape without batch; by default the Input
    type minus its leading (batch) dimension, as written by ``to_nir(module, sample)`` for a
    batched sample."""
    if dt is None or not float(dt) > 0:
        raise NIRError(f"from_norse: dt must be a positive number of seconds, got {dt!r}")
    dt = float(dt)
    export_dt = dt if export_dt is None else float(export_dt)
    g = copy.deepcopy(graph)
    for name, node in list(_nodes(g)):
        for key, val in list(vars(node).items()):
            if hasattr(val, "detach"):
                setattr(node, key, _np(val))
    ins = [n for n, v in g.nodes.items() if isinstance(v, nir.Input)]
    if len(ins) != 1:
        raise NIRError(f"from_norse: expected one Input node, found {len(ins)}")
    shape = _layer_shape(g.nodes[ins[0]])
    if input_shape is None:
        if shape is None or len(shape) < 2:
            raise NIRError("from_norse: the Input type has no batch dimension to drop; pass input_shape")
        input_shape = shape[1:]
    g.nodes[ins[0]] = nir.Input(input_type={"input": np.array(input_shape)})
    sizes = _propagate_sizes(g, ins[0], tuple(input_shape))
    for name, node in g.nodes.items():
        if isinstance(node, (nir.Input, nir.Output)) or not isinstance(node, SPIKING + (nir.LI, nir.CubaLI)):
            continue
        n = sizes.get(name)
        if n is None:
            raise NIRError(f"node {name!r}: cannot infer the layer size from its inputs")
        _broadcast(node, ("tau", "tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset", "w_in"), n, name)
        if isinstance(node, (nir.LIF, nir.LI)):
            node.tau = node.tau / export_dt  # Norse wrote export_dt / tau_mem_inv
        if isinstance(node, (nir.CubaLIF, nir.CubaLI)):
            node.tau_syn = node.tau_syn / export_dt
            node.tau_mem = node.tau_mem / export_dt
            node.w_in = node.tau_syn / dt  # Norse's current jumps by the full input
        if isinstance(node, nir.IF):
            node.r = np.full(n, 1.0 / dt)  # Norse's IAF adds the input to v without dt
        if isinstance(node, SPIKING):
            if node.v_reset is None:
                node.v_reset = np.zeros(n)
            node.metadata = {**(node.metadata or {}), "zoo.reset": "zero"}
        _retype(node, n)
    outs = [n for n, v in g.nodes.items() if isinstance(v, nir.Output)]
    for o in outs:
        g.nodes[o] = nir.Output(output_type={"output": np.array(sizes[o])})
    g = nir.NIRGraph(nodes=g.nodes, edges=g.edges,
                     metadata={**(graph.metadata or {}), "dt": dt, "producer": "norse 1.1.0 to_nir",
                               "imported_by": "exporters.nir.frameworks.from_norse", "reset": "zero"})
    return g


def _propagate_sizes(g: nir.NIRGraph, start: str, shape: tuple[int, ...]) -> dict[str, tuple[int, ...]]:
    """Shapes of every node's output along the (feed-forward) edges, from the weight matrices."""
    out: dict[str, tuple[int, ...]] = {start: shape}
    succ: dict[str, list[str]] = {}
    for s, d in g.edges:
        succ.setdefault(s, []).append(d)
    todo = [start]
    while todo:
        s = todo.pop()
        for d in succ.get(s, []):
            if d in out:
                continue
            node = g.nodes[d]
            if isinstance(node, (nir.Affine, nir.Linear)):
                out[d] = (int(np.shape(node.weight)[0]),)
            elif isinstance(node, nir.Conv2d):
                node.input_type = {"input": np.array(out[s])}
                out[d] = tuple(int(v) for v in _conv2d_out(node, out[s]))
            else:
                out[d] = out[s]
            todo.append(d)
    return out


def _conv2d_out(node: nir.Conv2d, in_shape: tuple[int, ...]) -> tuple[int, ...]:
    import torch
    import torch.nn.functional as F

    pad = tuple(int(v) for v in np.ravel(node.padding)) * (2 // np.size(node.padding))
    y = F.conv2d(torch.zeros(1, *in_shape, dtype=torch.float64), torch.as_tensor(_np(node.weight)),
                 stride=tuple(int(v) for v in np.broadcast_to(node.stride, 2)), padding=pad,
                 dilation=tuple(int(v) for v in np.broadcast_to(node.dilation, 2)), groups=int(node.groups))
    return tuple(y.shape[1:])


# ----------------------------------------------------------------------------- imports that say what they did

SOURCES = ("nir", "snntorch", "norse")


def producer_fingerprint(graph: nir.NIRGraph) -> str | None:
    """Who wrote this file, when its own metadata does not say: ``"snntorch"`` (snnTorch 1.0.0's
    export: no graph dt, LIF with ``r*1e-4/tau == 1`` and ``v_reset = 0``, no reset mode),
    ``"norse"`` (Norse 1.1.0's: no graph dt, a batch dimension in the Input type or neuron
    parameters of size 1), ``"zoo"`` (zoo metadata) or None (nothing recognisable)."""
    meta = graph.metadata if isinstance(graph.metadata, dict) else {}
    if meta.get("producer") == "lava-nir-zoo" or any(str(k).startswith("zoo.") for k in meta):
        return "zoo"
    if "dt" in meta:
        return None
    nodes = [n for _, n in _nodes(graph)]
    if any("zoo.reset" in (getattr(n, "metadata", None) or {}) for n in nodes):
        return "zoo"
    ins = [n for n, v in graph.nodes.items() if isinstance(v, nir.Input)]
    if len(ins) == 1:  # Norse writes the sample's batch dimension into the Input type
        in_shape = _layer_shape(graph.nodes[ins[0]])
        expect = {nir.Affine: 1, nir.Linear: 1, nir.Conv1d: 2, nir.Conv2d: 3}
        firsts = [graph.nodes[d] for s_, d in graph.edges if s_ == ins[0]]
        if in_shape and len(in_shape) >= 2 and in_shape[0] == 1 and any(
                len(in_shape) == expect.get(type(f), -9) + 1 for f in firsts):
            return "norse"
    neurons = [n for n in nodes if isinstance(n, (nir.LIF, nir.CubaLIF, nir.IF, nir.LI))]
    if any(_layer_shape(n) is None for n in neurons):  # Norse: scalar parameters, no layer size
        return "norse"

    def snn_like(n: nir.NIRNode) -> bool:
        tau = n.tau if isinstance(n, nir.LIF) else getattr(n, "tau_mem", None)
        return (tau is not None and not np.any(_np(n.v_reset))
                and np.allclose(_np(n.r) * SNNTORCH_DT / _np(tau), 1.0, rtol=1e-6))

    spiking = [n for n in nodes if isinstance(n, (nir.LIF, nir.CubaLIF))]
    if spiking and all(snn_like(n) for n in spiking):
        return "snntorch"
    return None


def import_graph(graph: nir.NIRGraph, source: str | None = None, dt: float | None = None, reset: str | None = None,
                 reset_delay: bool | None = None) -> tuple[nir.NIRGraph, str]:
    """The graph to run, and one line saying what was applied.

    ``source``: ``"snntorch"`` / ``"norse"`` (apply that producer's workarounds), ``"nir"`` (take
    the file as standard NIR, as written) or None (decide: a file that looks like a raw
    snnTorch / Norse export is refused with the flags that decide its semantics). NIR does
    not record snnTorch's reset mechanism nor its reset delay, nor the step of either
    framework: each must be given (``reset``, ``reset_delay``, ``dt``), never assumed."""
    if source not in (None,) + SOURCES:
        raise NIRError(f"unknown source {source!r} (choose from {', '.join(SOURCES)})")
    if source is None:
        found = producer_fingerprint(graph)
        if found == "snntorch":
            raise NIRError("this file looks like a raw snnTorch 1.0.0 export (LIF with r*1e-4/tau = 1, v_reset = 0, "
                           "no dt): NIR does not record its dt, reset mechanism or reset delay; run it with "
                           "--from snntorch --dt DT --reset zero|subtract --reset-delay true|false "
                           "(or --from nir to take it as written)")
        if found == "norse":
            raise NIRError("this file looks like a raw Norse 1.1.0 export (batch dimension in the Input type or "
                           "scalar neuron parameters, no dt): run it with --from norse --dt DT "
                           "(or --from nir to take it as written)")
        source = "nir"
    if source == "nir":
        if reset is not None or reset_delay is not None:
            raise NIRError("--reset / --reset-delay apply to --from snntorch only (a NIR file records its reset in "
                           "metadata['zoo.reset'] or resets to v_reset)")
        return graph, "taken as written (standard NIR semantics; zoo metadata honoured)"
    if dt is None:
        raise NIRError(f"--from {source} needs --dt (the step the {source} model simulates with, in seconds; "
                       "the export does not record it)")
    if source == "norse":
        if reset is not None or reset_delay is not None:
            raise NIRError("--reset / --reset-delay do not apply to --from norse (Norse's cells reset to v_reset, "
                           "which its export records)")
        return from_norse(graph, dt), f"Norse 1.1.0 workarounds applied, dt = {dt} s"
    if reset is None:
        raise NIRError("--from snntorch needs --reset zero|subtract: snnTorch 1.0.0's export writes v_reset = 0 for "
                       "both reset mechanisms (its default is subtract)")
    if reset_delay is None:
        raise NIRError("--from snntorch needs --reset-delay true|false: the export does not record it (snnTorch's "
                       "default is true, which only zero reset of Leaky can represent)")
    return (from_snntorch(graph, dt, reset=reset, reset_delay=reset_delay),
            f"snnTorch 1.0.0 workarounds applied: dt = {dt} s, reset = {reset}, reset_delay = {reset_delay}")
