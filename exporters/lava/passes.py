"""The Lava compiler as an explicit, ordered list of small passes (pure numpy).

``compile_plan(graph, dt) = run_passes(GraphInput(graph, dt), PASSES)``; each pass is one
function whose output is the next one's input:

  validate     GraphInput -> CheckedGraph   check_graph (flatten, schedule, dt); every node mappable
  partition    CheckedGraph -> Partition    which nodes run as populations; LI chains fused into one
  fuse_linear  Partition -> Fused           linear nodes between populations -> one map per source
  timing       Fused -> Timed               latency of each population (Dense stages from the Input)
  map_neurons  Timed -> Mapped              NIR node -> NeuronSpec + input gain (kind registry)
  attach_bias  Mapped -> Mapped             the Affine bias reaching a population onto its register
  stages       Mapped -> Staged             Dense / convolution stages into every population
  readout      Staged -> Readout            the Output: a population's spikes or v, or one Dense
  assemble     Readout -> Plan              what each node became, and the Plan

Quantisation to Loihi fixed point is the separate step :func:`exporters.lava.quantize.quantize_plan`.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

import nir
import numpy as np

from exporters.lava.fusion import LinearFusion, Maps, node_shape, pop_of, split_key
from exporters.lava.neuron_map import delayed_bias, neuron_spec
from exporters.lava.specs import INPUT, OUTPUT, ConvSpec, DenseSpec, NeuronSpec, Plan
from exporters.nir.executor import LINEAR_OPS, NEURONS
from exporters.nir.extensions import V_TAP, extension_name, is_extension
from exporters.nir.io import NIRError
from exporters.nir.validate import CheckedGraph, check_graph

CONV_NODES = (nir.Conv1d, nir.Conv2d, nir.SumPool2d, nir.AvgPool2d)
MAPPED = (nir.Input, nir.Output, nir.Threshold, nir.Delay) + LINEAR_OPS + NEURONS


@dataclass(frozen=True)
class GraphInput:
    """What the compiler is given: a NIR graph (or an already validated one) and dt in seconds
    (None: from the graph's metadata)."""

    graph: nir.NIRGraph | CheckedGraph
    dt: float | None = None


@dataclass
class Partition:
    """The validated graph split into populations (each pass below adds its result to this)."""

    checked: CheckedGraph
    chains: dict[str, list[str]]  # head -> LI nodes fused into one population
    is_pop: dict[str, bool]  # node -> runs as (part of) a population
    pops: list[str]  # populations in schedule order

    @property
    def nodes(self) -> dict[str, nir.NIRNode]:
        return self.checked.nodes

    @property
    def dt(self) -> float:
        return self.checked.dt


@dataclass
class Fused(Partition):
    """... plus the fused linear input of every population and of the Output."""

    maps: dict[str, Maps]  # population or Output -> {(source key, recurrent): (LinearMap, bias)}


@dataclass
class Timed(Fused):
    """... plus every population's latency."""

    latency: dict[str, int]  # INPUT and every population -> Dense stages from the Input


@dataclass
class Mapped(Timed):
    """... plus every population's float spec and input gain."""

    neurons: dict[str, NeuronSpec]
    gains: dict[str, np.ndarray]  # population -> input gain (per row, or a matrix for LI chains)


@dataclass
class Staged(Mapped):
    """... plus the stages into the populations."""

    denses: list  # DenseSpec | ConvSpec, in build order


@dataclass
class Readout(Staged):
    """... plus how the Output is read (a readout stage, if any, is appended to ``denses``)."""

    output_src: str
    output_kind: str  # "spikes" | "v" | "dense"
    output_latency: int
    output_bias: np.ndarray | None


def validate(src: GraphInput) -> CheckedGraph:
    """GraphInput -> CheckedGraph: :func:`exporters.nir.validate.check_graph` (flattened,
    scheduled, one Input and one Output, dt known; a CheckedGraph passes), then every node has a
    Lava mapping (a NIR primitive listed in ``MAPPED`` or a zoo extension)."""
    checked = check_graph(src.graph, src.dt)
    for name, node in checked.nodes.items():
        if not isinstance(node, MAPPED) and not is_extension(node):
            raise NIRError(f"node {name!r}: {type(node).__name__}: no Lava mapping")
    return checked


def li_chains(nodes: dict[str, nir.NIRNode], sched) -> dict[str, list[str]]:
    """Chains LI_1 -> LI_2 -> ... (>= 2 nodes, each fed only by the previous one, same step):
    a gamma memory. Each chain becomes one population with the exact same-step cascade."""
    succ: dict[str, list[str]] = {}
    for n, v in nodes.items():
        ins = sched.inputs[n]
        if isinstance(v, nir.LI) and len(ins) == 1 and isinstance(nodes[ins[0]], nir.LI) \
                and (ins[0], n) not in sched.back_edges:
            succ.setdefault(ins[0], []).append(n)
    nxt = {p: s[0] for p, s in succ.items() if len(s) == 1}
    chains = {}
    for head in (p for p in nxt if p not in nxt.values()):
        chain = [head]
        while chain[-1] in nxt:
            chain.append(nxt[chain[-1]])
        chains[head] = chain
    return chains


def partition(checked: CheckedGraph) -> Partition:
    """CheckedGraph -> Partition: neuron nodes, Threshold and zoo extensions (but ``v_tap``) are
    populations; each LI chain (:func:`li_chains`) is one population named after its head."""
    nodes, sched = checked.nodes, checked.sched
    chains = li_chains(nodes, sched)
    members = [m for ms in chains.values() for m in ms]
    is_pop = {n: isinstance(v, NEURONS + (nir.Threshold,)) or (is_extension(v) and extension_name(v, n) != V_TAP)
              for n, v in nodes.items()}
    is_pop.update({m: m in chains for m in members})
    return Partition(checked, chains, is_pop, [n for n in sched.order if is_pop[n]])


def fuse_linear(part: Partition) -> Fused:
    """Partition -> Fused: the input of every population and of the Output as
    {(source key, recurrent): (LinearMap, bias)} (:class:`exporters.lava.fusion.LinearFusion`)."""
    fusion = LinearFusion(part.nodes, part.checked.sched, part.dt, part.is_pop, part.chains)
    return Fused(**vars(part), maps={n: fusion.source_maps(n) for n in part.pops + [part.checked.output_name]})


def timing(fused: Fused) -> Timed:
    """Fused -> Timed: latency(pop) = latency(src) + 1 over its forward inputs (all equal; the
    Input has 0); a forward input from a population scheduled later, or none at all, is refused.
    The Output is checked the same way."""
    latency = {INPUT: 0}
    out = fused.checked.output_name
    for name in fused.pops + [out]:
        maps = fused.maps[name]
        if not maps:
            raise NIRError(f"node {name!r} has no input")
        fwd = {latency[pop_of(s)] + 1 for (s, rec) in maps if not rec and pop_of(s) in latency}
        if any(pop_of(s) not in latency and not rec for (s, rec) in maps):
            raise NIRError(f"node {name!r}: a forward input comes from a population scheduled later")
        if len(fwd) > 1:
            raise NIRError(f"node {name!r}: inputs arrive through different numbers of Dense stages ({sorted(fwd)}); "
                           "skip connections need Delay compensation, not supported yet")
        if name == out:
            break
        if not fwd:
            raise NIRError(f"node {name!r}: only recurrent inputs, no path from the Input")
        latency[name] = fwd.pop()
    return Timed(**vars(fused), latency=latency)


def map_neurons(timed: Timed) -> Mapped:
    """Timed -> Mapped: each population's :class:`NeuronSpec` (float registers, or a custom
    kind's params) and input gain — NIR primitives by :func:`exporters.lava.neuron_map.neuron_spec`,
    zoo extensions through the kind registry (``exporters.lava.populations.SPECS``), LI chains by
    ``chain_spec`` (accumulating when fed by a kind that sends deltas); the gain must fit the
    number of input rows."""
    from exporters.lava.gamma_populations import chain_spec
    from exporters.lava.populations import sends_deltas

    neurons, gains = {}, {}
    for name in timed.pops:
        maps, lat = timed.maps[name], timed.latency[name]
        if name in timed.chains:
            deltas = {sends_deltas(timed.nodes.get(pop_of(s))) for (s, _) in maps}
            if len(deltas) > 1:
                raise NIRError(f"node {name!r}: mixes inputs that send deltas (sigma-delta) and others")
            spec, gain = chain_spec(name, [timed.nodes[m] for m in timed.chains[name]], timed.dt, lat, deltas.pop())
        else:
            spec, gain = neuron_spec(name, timed.nodes[name], timed.dt, lat)
        n_rows = next(iter(maps.values()))[0].n_out
        if (gain.shape[-1] if gain.ndim == 2 else spec.n) != n_rows:
            raise NIRError(f"node {name!r}: {spec.n} neurons but {n_rows} inputs")
        neurons[name], gains[name] = spec, gain
    return Mapped(**vars(timed), neurons=neurons, gains=gains)


def attach_bias(mapped: Mapped) -> Mapped:
    """Mapped -> Mapped: the Affine bias c reaching each population, times its input gain, goes
    onto the register its spec names (``bias_register``: "u" for a current register, CubaLIF and
    CubaLI; else "v"). A bias arriving only through a recurrent edge (absent at t = 0) is exact
    only on u (:func:`exporters.lava.neuron_map.delayed_bias`) and refused elsewhere. A custom
    kind reads the result as ``params["bias"]``."""
    neurons = {}
    for name, spec in mapped.neurons.items():
        gain = mapped.gains[name]
        gained_bias, rec_bias = (sum((gain @ c if gain.ndim == 2 else gain * c)
                                     for (_, r), (_, c) in mapped.maps[name].items() if r == rec) + np.zeros(spec.n)
                                 for rec in (False, True))
        spec = replace(spec, params=None if spec.params is None else dict(spec.params))
        if spec.bias_register == "u":
            spec.bias_u = gained_bias
            if np.any(rec_bias):
                delayed_bias(name, spec, rec_bias)
        else:
            if np.any(rec_bias):
                raise NIRError(f"node {name!r}: an Affine bias reaches this {spec.kind} only through a recurrent "
                               "edge (absent at the first step, present from the second); a Lava population's "
                               "constant bias cannot express that exactly (CubaLIF/CubaLI with tau_syn > dt can); "
                               "move the bias onto a feedforward Affine")
            spec.bias_v = spec.bias_v + gained_bias
        if spec.params is not None:
            spec.params["bias"] = spec.bias_v
        neurons[name] = spec
    return replace(mapped, neurons=neurons)


def _stage(name: str, src: str, dst: str, lm, rec: bool, signal: str, delay: int) -> DenseSpec | ConvSpec:
    """A convolution stage when the map holds a kernel, else a Dense stage with its matrix."""
    if lm.has_conv:
        return ConvSpec(name, src, dst, lm.ops, rec, signal, delay)
    return DenseSpec(name, src, dst, lm.dense(name, "the fused weights"), rec, signal, delay)


def stages(mapped: Mapped) -> Staged:
    """Mapped -> Staged: one stage per (source, recurrent) input of each population with weights
    gain x fused map; a recurrent edge must join populations of equal latency (Lava would add
    steps otherwise) and carry no Delay; a kind that sends deltas feeds only LI chains."""
    from exporters.lava.populations import sends_deltas

    denses: list = []
    for name in mapped.pops:
        lat, gain = mapped.latency[name], mapped.gains[name]
        for (s, rec), (a, _) in mapped.maps[name].items():
            p = pop_of(s)
            if rec and mapped.latency[p] != lat:
                raise NIRError(f"node {name!r}: recurrent input from {p!r} spans Dense stages "
                               f"(latency {mapped.latency[p]} vs {lat}); Lava would add {lat - mapped.latency[p]} "
                               "steps")
            if sends_deltas(mapped.nodes.get(p)) and name not in mapped.chains:
                raise NIRError(f"node {name!r}: the {mapped.neurons[p].kind} output of {p!r} sends deltas, which "
                               "only gamma bucket (LI) chains sum back")
            w = a.left_matmul(name, gain) if gain.ndim == 2 else a.scale_rows(name, gain)
            _, signal, delay = split_key(s)
            if delay and rec:
                raise NIRError(f"node {name!r}: a Delay on a recurrent edge is not mapped to Lava")
            denses.append(_stage(f"{s}->{name}", p, name, w, rec, signal, delay))
    return Staged(**vars(mapped), denses=denses)


def readout(staged: Staged) -> Readout:
    """Staged -> Readout: the Output reads one population directly (spikes; v for non-spiking
    populations and v_taps) or through one feedforward stage (kind "dense", one step later; an
    Affine bias there is added when the sink is read)."""
    out = staged.checked.output_name
    maps = staged.maps[out]
    (src, rec), (a, c) = next(iter(maps.items()))
    denses = list(staged.denses)
    if len(maps) == 1 and src != INPUT and not rec and a.is_identity() and not np.any(c) and split_key(src)[2] == 0:
        spec = staged.neurons[pop_of(src)]
        kind = "v" if (not spec.spiking or split_key(src)[1] == "v") else "spikes"
        out_src, out_lat = pop_of(src), staged.latency[pop_of(src)]
    else:
        if len(maps) > 1 or rec:
            raise NIRError(f"output {out!r}: only one feedforward linear readout is mapped to a Dense sink")
        p, signal, delay = split_key(src)
        denses.append(_stage(f"{src}->{OUTPUT}", p, OUTPUT, a, False, signal, delay))
        kind, out_src, out_lat = "dense", denses[-1].name, staged.latency[p] + 1
    bias = c if kind == "dense" and np.any(c) else None
    return Readout(**{**vars(staged), "denses": denses}, output_src=out_src, output_kind=kind,
                   output_latency=out_lat, output_bias=bias)


def assemble(r: Readout) -> Plan:
    """Readout -> Plan, with ``mapping``: what each NIR node became."""
    nodes, checked = r.nodes, r.checked
    mapping = {checked.input_name: "lava.proc.io.source.RingBuffer"}
    mapping.update({n: f"ZooNeuron({s.kind}, latency {s.latency})" for n, s in r.neurons.items()})
    conv_stages = any(isinstance(d, ConvSpec) for d in r.denses)
    for name, node in nodes.items():
        if isinstance(node, LINEAR_OPS):
            mapping[name] = ("fused into Dense" if not conv_stages else "kernel of a convolution stage"
                             if isinstance(node, CONV_NODES) else "fused into a Dense or convolution stage")
        elif is_extension(node) and name not in r.neurons:
            mapping[name] = "membrane read through ZooNeuron.v_out"
    mapping[checked.output_name] = "lava.proc.io.sink.RingBuffer"
    return Plan(r.dt, node_shape(nodes[checked.input_name], "input"), r.neurons, r.denses, r.output_src,
                r.output_kind, node_shape(nodes[checked.output_name], "output"), r.output_latency, mapping,
                r.output_bias)


Pass = tuple[str, Callable[[Any], Any]]
PASSES: tuple[Pass, ...] = (
    ("validate", validate),
    ("partition", partition),
    ("fuse_linear", fuse_linear),
    ("timing", timing),
    ("map_neurons", map_neurons),
    ("attach_bias", attach_bias),
    ("stages", stages),
    ("readout", readout),
    ("assemble", assemble),
)


def run_passes(source: Any, passes: tuple[Pass, ...] = PASSES) -> Any:
    """Feed ``source`` through ``passes`` in order; the last pass's output."""
    for _, fn in passes:
        source = fn(source)
    return source
