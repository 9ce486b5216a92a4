"""One validation of a NIR graph for every backend (torch executor, Lava compiler, emulator).

``check_graph(graph, dt)`` runs once at the boundary (``zoo nir`` after loading the file; the
Python API on entry to ``from_nir`` / ``compile_plan``) and returns a :class:`CheckedGraph`
that the backends take as it is, so a graph either runs on all backends or is refused before
any of them starts. Every error is one line naming the node and the parameter:

* ``dt``: a positive finite number (metadata or argument);
* structure: nested graphs flattened without name collisions, exactly one Input and one
  Output, known node types, every node reachable from the Input and fed by something, no
  cycle made only of instantaneous (linear) nodes;
* parameters: finite (no NaN/inf anywhere, zoo extensions included), time constants > 0
  with dt/tau <= 1 (forward Euler is unstable beyond, and Loihi decays are fractions),
  thresholds > 0, Delay one whole non-negative number of steps, per-neuron arrays of one size;
* shapes: every edge's source size equals its destination's input size (Output included).

``check_input(x, checked)`` validates inputs (batch, T, *input_shape) the same way for all
backends: exactly the graph's input shape (not just the element count), at least one sample
and one step, finite values.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import nir
import numpy as np

from exporters.nir.io import NIRError

NEURON_TYPES = (nir.LIF, nir.LI, nir.IF, nir.I, nir.CubaLIF, nir.CubaLI)
LINEAR_TYPES = (nir.Affine, nir.Linear, nir.Scale, nir.Flatten, nir.Conv1d, nir.Conv2d, nir.SumPool2d,
                nir.AvgPool2d)
SUPPORTED = (nir.Input, nir.Output, nir.Threshold, nir.Delay) + LINEAR_TYPES + NEURON_TYPES
TAU_KEYS = ("tau", "tau_syn", "tau_mem")
THRESHOLD_KEYS = ("v_threshold", "threshold")


@dataclass
class CheckedGraph:
    """A validated graph: the original, its step and its flat form (what every backend runs)."""

    graph: nir.NIRGraph
    dt: float | None
    nodes: dict[str, nir.NIRNode]
    edges: list[tuple[str, str]]
    sched: Any  # exporters.nir.graph.Schedule
    input_name: str
    output_name: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]

    @property
    def metadata(self) -> dict:
        return metadata_of(self.graph)


def metadata_of(node: Any) -> dict:
    """A node's metadata as a dict (NIRGraph's default is the ``dict`` type itself, not a dict)."""
    meta = getattr(node, "metadata", None)
    return meta if isinstance(meta, dict) else {}


def check_dt(dt: Any, where: str = "dt") -> float:
    """A positive finite number of seconds (a 0-d array is fine; strings and arrays are not)."""
    if isinstance(dt, np.ndarray) and dt.ndim == 0:
        dt = dt.item()
    if isinstance(dt, (bool, np.bool_)) or not isinstance(dt, (int, float, np.integer, np.floating)):
        raise NIRError(f"{where} must be a number of seconds, got {type(dt).__name__} {_short(dt)}")
    dt = float(dt)
    if not np.isfinite(dt) or dt <= 0:
        raise NIRError(f"{where} must be a positive finite number of seconds, got {dt}")
    return dt


def graph_dt(graph: nir.NIRGraph, dt: Any = None) -> float:
    """The step: explicit ``dt`` wins; else graph metadata ``dt``; else an error (never a guess)."""
    if dt is not None:
        return check_dt(dt, "dt")
    meta = metadata_of(graph)
    if meta.get("dt") is None:
        raise NIRError("the graph has no 'dt' in its metadata: pass dt explicitly (the producer's step, in seconds)")
    return check_dt(meta["dt"], "graph metadata 'dt'")


def _short(v: Any) -> str:
    s = repr(v).replace("\n", " ")
    return s if len(s) <= 40 else s[:37] + "..."


def _size(shape: Any) -> int:
    return int(np.prod([int(v) for v in np.ravel(shape)])) if shape is not None else 0


def _first_type(types: Any) -> tuple[int, ...] | None:
    if not types:
        return None
    shape = next(iter(types.values()))
    if shape is None:
        return None
    try:
        return tuple(int(v) for v in np.ravel(shape))
    except (TypeError, ValueError):
        return None


def _numeric_params(node: nir.NIRNode) -> dict[str, np.ndarray]:
    """Numeric parameters of a node (arrays and numbers; types, metadata and strings excluded)."""
    out = {}
    for key, v in vars(node).items():
        if key in ("input_type", "output_type", "metadata", "nodes", "edges") or v is None or isinstance(v, str):
            continue
        try:
            a = np.asarray(v)
        except Exception:  # noqa: BLE001 - an object numpy cannot hold is not a parameter
            continue
        if a.dtype.kind in "biuf":
            out[key] = a
        elif a.dtype.kind in "OUSc":
            raise NIRError(f"parameter {key!r} is not a real number array ({a.dtype})")
    return out


def _check_finite(name: str, node: nir.NIRNode) -> None:
    try:
        params = _numeric_params(node)
    except NIRError as exc:
        raise NIRError(f"node {name!r}: {exc}") from None
    for key, a in params.items():
        if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
            bad = "NaN" if np.any(np.isnan(a)) else "inf"
            raise NIRError(f"node {name!r}: parameter {key!r} contains {bad}")
    if isinstance(node, nir.NIRGraph):
        for sub, v in node.nodes.items():
            _check_finite(f"{name}.{sub}", v)


def _check_neuron(name: str, node: nir.NIRNode, dt: float | None) -> int:
    """Constraints of one neuron / Threshold node; returns its size."""
    params = _numeric_params(node)
    sizes = {k: a.size for k, a in params.items()}
    n = max(sizes.values(), default=0)
    for key, size in sizes.items():
        if size not in (n, 1) or (key != "w_in" and size != n):
            raise NIRError(f"node {name!r}: parameter {key!r} has {size} values, the node has {n} neurons")
    if n == 0:
        raise NIRError(f"node {name!r}: no neurons (empty parameter arrays)")
    for key in TAU_KEYS:
        if key in params:
            tau = params[key]
            if np.any(tau <= 0):
                raise NIRError(f"node {name!r}: parameter {key!r} must be > 0 (got min {tau.min():.4g})")
            if dt is not None and np.any(dt / tau > 1):
                raise NIRError(f"node {name!r}: parameter {key!r} = {tau.min():.4g} is shorter than the step "
                               f"dt = {dt} (dt/{key} must be <= 1)")
    for key in THRESHOLD_KEYS:
        if key in params and np.any(params[key] <= 0):
            raise NIRError(f"node {name!r}: parameter {key!r} must be > 0 (got min {params[key].min():.4g})")
    return n


def delay_steps(name: str, node: nir.Delay, dt: float | None) -> int | None:
    """The Delay in whole steps (one value for all elements), or an error naming the node."""
    d = np.asarray(node.delay, float).ravel()
    if d.size == 0:
        raise NIRError(f"node {name!r}: parameter 'delay' is empty")
    if np.any(d < 0):
        raise NIRError(f"node {name!r}: parameter 'delay' must be >= 0 (got {d.min():.4g})")
    if dt is None:
        return None
    steps = d / dt
    if not np.allclose(steps, steps[0]) or abs(steps[0] - round(steps[0])) > 1e-6:
        raise NIRError(f"node {name!r}: parameter 'delay' must be one whole number of steps for all elements "
                       f"(got {np.unique(np.round(steps, 6))[:4]} steps at dt={dt})")
    return int(round(steps[0]))


def _linear_sizes(name: str, node: nir.NIRNode) -> tuple[int, int]:
    """(input size, output size) of a linear node, computing conv/pool output shapes."""
    if isinstance(node, (nir.Affine, nir.Linear)):
        w = np.asarray(node.weight)
        if w.ndim != 2:
            raise NIRError(f"node {name!r}: parameter 'weight' must be 2-D, got shape {w.shape}")
        if isinstance(node, nir.Affine) and np.asarray(node.bias).size not in (w.shape[0],):
            raise NIRError(f"node {name!r}: parameter 'bias' has {np.asarray(node.bias).size} values for "
                           f"{w.shape[0]} outputs")
        return w.shape[1], w.shape[0]
    if isinstance(node, nir.Scale):
        n = np.asarray(node.scale).size
        in_shape = _first_type(node.input_type)
        return (_size(in_shape) if in_shape else n), (_size(in_shape) if in_shape else n)
    in_shape = _first_type(node.input_type)
    if in_shape is None or _size(in_shape) == 0:
        raise NIRError(f"node {name!r}: {type(node).__name__} has no input shape")
    import torch

    from exporters.nir.linear import linear_step
    params = {k: torch.as_tensor(np.asarray(v, float)) for k in ("weight", "bias")
              if (v := getattr(node, k, None)) is not None}
    try:
        with torch.no_grad():
            y = linear_step(node, torch.zeros(1, *in_shape, dtype=torch.float64), params, 1)
    except NIRError as exc:
        raise NIRError(f"node {name!r}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - torch reports inconsistent conv/pool settings in many ways
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise NIRError(f"node {name!r}: {type(node).__name__} with input shape {in_shape}: {msg}") from None
    return _size(in_shape), int(y[0].numel())


def _node_sizes(name: str, node: nir.NIRNode, dt: float | None) -> tuple[int | None, int | None]:
    """(input size, output size); None where it follows the sources (Output, v_tap)."""
    from exporters.nir.extensions import V_TAP, extension_of, is_extension

    if isinstance(node, nir.Input):
        shape = _first_type(node.input_type)
        if shape is None or _size(shape) == 0 or any(s <= 0 for s in shape):
            raise NIRError(f"node {name!r}: Input has no valid shape (got {_short(node.input_type)})")
        return None, _size(shape)
    if isinstance(node, nir.Output):
        shape = _first_type(node.output_type)
        if shape is None or _size(shape) == 0:
            raise NIRError(f"node {name!r}: Output has no valid shape (got {_short(node.output_type)})")
        return _size(shape), _size(shape)
    if is_extension(node):
        ext = extension_of(node, name)
        try:
            ext.params(node, name)  # the extension's own checks (names the node)
        except NIRError:
            raise
        except Exception as exc:  # noqa: BLE001 - a malformed subgraph breaks a reader in many ways
            raise NIRError(f"node {name!r}: malformed zoo extension {ext.name!r} ({type(exc).__name__}: {exc})") from None
        shape = _first_type(getattr(node, "input_type", None))
        if ext.name == V_TAP:
            return None, None
        n = _size(shape) if shape else None
        return n, n
    if isinstance(node, NEURON_TYPES + (nir.Threshold,)):
        n = _check_neuron(name, node, dt)
        return n, n
    if isinstance(node, nir.Delay):
        delay_steps(name, node, dt)
        n = np.asarray(node.delay).size
        return (None, None) if n == 1 else (n, n)  # one value delays any width
    if isinstance(node, LINEAR_TYPES):
        return _linear_sizes(name, node)
    raise NIRError(f"node {name!r}: {type(node).__name__} is not supported")


def _is_population(node: nir.NIRNode) -> bool:
    from exporters.nir.extensions import V_TAP, extension_name, is_extension

    return isinstance(node, NEURON_TYPES + (nir.Threshold,)) or (is_extension(node) and extension_name(node) != V_TAP)


def _linear_cycles(nodes: dict[str, nir.NIRNode], edges: list[tuple[str, str]]) -> list[list[str]]:
    """Strongly connected components (cycles) without any population (Tarjan, iterative)."""
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    for s, d in edges:
        succ[s].append(d)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    comps: list[list[str]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(succ[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        x = stack.pop()
                        on_stack.discard(x)
                        comp.append(x)
                        if x == v:
                            break
                    if len(comp) > 1 or v in succ[v]:
                        comps.append(comp)
            elif w not in index:
                index[w] = low[w] = counter
                counter += 1
                stack.append(w)
                on_stack.add(w)
                work.append((w, iter(succ[w])))
            elif w in on_stack:
                low[v] = min(low[v], index[w])
    return [sorted(c) for c in comps if not any(_is_population(nodes[n]) for n in c)]


def check_graph(graph: nir.NIRGraph | CheckedGraph, dt: Any = None, need_dt: bool = True) -> CheckedGraph:
    """Validate ``graph`` (see the module docstring); a :class:`CheckedGraph` passes through
    unless another ``dt`` is asked for. ``need_dt=False`` (``zoo nir info`` without a step)
    skips the checks that need dt."""
    from exporters.nir.graph import flatten_graph, schedule

    if isinstance(graph, CheckedGraph):
        if dt is None or (graph.dt is not None and check_dt(dt) == graph.dt):
            if graph.dt is not None or not need_dt:
                return graph
        graph = graph.graph
    if not isinstance(graph, nir.NIRGraph):
        raise NIRError(f"expected a NIR graph, got {type(graph).__name__}")
    if not isinstance(graph.metadata, dict):  # nir.NIRGraph's default metadata is the dict *type*
        graph.metadata = {}
    bits = graph.metadata.get("input_frac_bits")
    if isinstance(bits, np.ndarray) and bits.ndim == 0:
        bits = bits.item()
    if bits is not None and (isinstance(bits, (bool, np.bool_)) or not isinstance(bits, (int, np.integer))
                             or not 0 <= int(bits) <= 15):
        raise NIRError(f"graph metadata 'input_frac_bits' must be a whole number in 0..15, got {_short(bits)}")
    step = graph_dt(graph, dt) if need_dt or dt is not None or metadata_of(graph).get("dt") is not None else None
    if not graph.nodes:
        raise NIRError("the graph is empty (no nodes)")
    nodes, edges = flatten_graph(graph)
    for name, node in nodes.items():
        _check_finite(name, node)
    inputs = [n for n, v in nodes.items() if isinstance(v, nir.Input)]
    outputs = [n for n, v in nodes.items() if isinstance(v, nir.Output)]
    if len(inputs) != 1 or len(outputs) != 1:
        raise NIRError(f"the graph needs exactly one Input and one Output node, found {len(inputs)} Input "
                       f"({', '.join(inputs) or '-'}) and {len(outputs)} Output ({', '.join(outputs) or '-'})")
    sizes = {name: _node_sizes(name, node, step) for name, node in nodes.items()}
    sched = schedule(nodes, edges)
    fed: dict[str, set[str]] = {n: set() for n in nodes}
    for s, d in edges:
        fed[d].add(s)
        if isinstance(nodes[d], nir.Input):
            raise NIRError(f"edge ({s!r}, {d!r}): the Input node cannot have inputs")
        if isinstance(nodes[s], nir.Output):
            raise NIRError(f"edge ({s!r}, {d!r}): the Output node cannot feed other nodes")
    # sizes along the edges, in schedule order (Output and v_tap take their sources' size)
    out_size: dict[str, int | None] = {}
    for name in sched.order:
        n_in, n_out = sizes[name]
        srcs = sorted(fed[name])
        if not srcs and not isinstance(nodes[name], nir.Input):
            raise NIRError(f"node {name!r} has no input edge")
        src_sizes = {s: out_size.get(s, sizes[s][1]) for s in srcs}
        known = {s: v for s, v in src_sizes.items() if v is not None}
        if n_in is not None:
            for s, v in known.items():
                if v != n_in:
                    raise NIRError(f"edge ({s!r}, {name!r}): {s!r} sends {v} values, {name!r} expects {n_in}")
        elif len(set(known.values())) > 1:
            raise NIRError(f"node {name!r}: inputs of different sizes "
                           f"({', '.join(f'{s}: {v}' for s, v in known.items())})")
        out_size[name] = n_out if n_out is not None else next(iter(known.values()), None)
    loops = _linear_cycles(nodes, edges)
    if loops:
        raise NIRError(f"cycle without a neuron ({' -> '.join(loops[0])}): a loop of instantaneous nodes has no "
                       "state to close it; put a neuron (or a population) in the loop")
    in_shape = _first_type(nodes[inputs[0]].input_type)
    out_shape = _first_type(nodes[outputs[0]].output_type)
    return CheckedGraph(graph, step, nodes, edges, sched, inputs[0], outputs[0], in_shape, out_shape)


def check_input(x: Any, input_shape: tuple[int, ...], time_first: bool = False) -> Any:
    """Inputs of shape (batch, T, *input_shape) (``time_first``: (T, batch, ...)): a numpy array
    (or the torch tensor as given); an error names the expected shape. Empty batches, T = 0,
    non-numeric values and NaN/inf are refused."""
    layout = "(T, batch, " if time_first else "(batch, T, "
    expected = f"{layout}{', '.join(map(str, input_shape))})"
    if type(x).__module__.startswith("torch"):
        import torch

        a, kind = x, ("f" if x.is_floating_point() else "c" if x.is_complex() else "b" if x.dtype == torch.bool else "i")
        finite = (lambda: bool(torch.isfinite(x.detach()).all()))
    else:
        try:
            a = np.asarray(x)
        except Exception as exc:  # noqa: BLE001
            raise NIRError(f"input is not an array ({type(exc).__name__}); expected shape {expected}") from None
        kind = a.dtype.kind
        finite = (lambda: bool(np.all(np.isfinite(a))))
    if kind not in "biuf":
        raise NIRError(f"input must be real numbers, got dtype {a.dtype}; expected shape {expected}")
    if a.ndim != len(input_shape) + 2 or tuple(a.shape[2:]) != tuple(input_shape):
        raise NIRError(f"input has shape {tuple(a.shape)}, expected {expected}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise NIRError(f"input has shape {tuple(a.shape)}: needs at least one sample and one time step")
    if kind == "f" and not finite():
        raise NIRError("input contains NaN or inf")
    return a
