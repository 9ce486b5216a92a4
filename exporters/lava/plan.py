"""NIR graph -> a Lava-shaped plan: neuron populations joined by Dense stages (pure numpy).

Linear nodes (Affine, Linear, Scale, Flatten, Conv1d/2d, Sum/AvgPool2d) between two
populations become one exact stage (:mod:`exporters.lava.linear_map`): Affine/Linear/Scale/
Flatten fuse into one matrix (a Lava ``Dense``); a path holding a convolution or pooling keeps
its kernels (a :class:`ConvSpec`, run by ``BatchedConv``; conv -> conv and conv -> Affine stay a
chain of kernels within the stage, no dense matrix is built). Each stage delays by one step.
Timing model: a population's *latency* is its number of Dense stages from the Input;
a forward edge needs latency(dst) = latency(src) + 1, a recurrent edge (a cycle: previous-step
input, as in snnTorch RLeaky and NIRTorch) needs latency(dst) = latency(src). The Output lags
the torch reference by ``plan.latency`` steps. Neuron mapping: :mod:`exporters.lava.neuron_map`.
A NIR Delay of d whole steps on a path makes its stage a Lava ``DelayDense`` (1 + d steps), so
latencies are unchanged; samples then end with d silent steps so no delayed activity crosses
into the next sample.
"""
from __future__ import annotations

import nir
import numpy as np

from exporters.lava.conv import ConvOp, conv_op
from exporters.lava.linear_map import LinearMap, apply_vec, check_dense, op_n_in
from exporters.lava.linear_map import max_dense_bytes  # noqa: F401 (re-exported)
from exporters.lava.neuron_map import delayed_bias, neuron_spec
from exporters.lava.specs import INPUT, OUTPUT, ConvSpec, DenseSpec, NeuronSpec, Plan  # noqa: F401 (re-exported)
from exporters.nir.executor import LINEAR_OPS, NEURONS
from exporters.nir.extensions import V_TAP, extension_name, is_extension
from exporters.nir.io import NIRError
from exporters.nir.validate import CheckedGraph, check_graph, delay_steps

LINEAR = LINEAR_OPS
CONV_NODES = (nir.Conv1d, nir.Conv2d, nir.SumPool2d, nir.AvgPool2d)


def _shape(node: nir.NIRNode, key: str) -> tuple[int, ...]:
    types = node.input_type if key == "input" else node.output_type
    arr = next(iter(types.values()))
    return tuple(int(v) for v in np.ravel(arr))


def _linear_op(name: str, node: nir.NIRNode) -> tuple[np.ndarray | ConvOp | str, np.ndarray]:
    """(op, b) with out = op(in) + b on flattened (C-order) vectors: a dense matrix (Affine,
    Linear), a :class:`ConvOp` (convolutions and pooling, kernels only), ``"identity"``
    (Flatten) or ``"scale"`` (Scale: b holds the per-value factors)."""
    if isinstance(node, nir.Affine):
        return np.asarray(node.weight, float), np.asarray(node.bias, float)
    if isinstance(node, nir.Linear):
        w = np.asarray(node.weight, float)
        return w, np.zeros(w.shape[0])
    in_shape = _shape(node, "input")
    if isinstance(node, nir.Scale):
        return "scale", np.broadcast_to(np.asarray(node.scale, float), in_shape).ravel().copy()
    if isinstance(node, nir.Flatten):
        return "identity", np.zeros(int(np.prod(in_shape)))
    op, b = conv_op(name, node, in_shape)
    declared = int(np.prod(_shape(node, "output")))
    if declared != op.n_out:
        raise NIRError(f"node {name!r}: declares {declared} outputs, its kernel gives {op.out_shape}")
    return op, b


def _stage(name: str, src: str, dst: str, lm: LinearMap, rec: bool, signal: str, delay: int) -> DenseSpec | ConvSpec:
    """A convolution stage when the map holds a kernel, else a Dense stage with its matrix."""
    if lm.has_conv:
        return ConvSpec(name, src, dst, lm.ops, rec, signal, delay)
    return DenseSpec(name, src, dst, lm.dense(name, "the fused weights"), rec, signal, delay)


def split_key(key: str) -> tuple[str, str, int]:
    """A source key ``pop[:v][@d]`` -> (population, "v"|"spikes", delay in steps)."""
    key, _, d = key.partition("@")
    return (key[:-2], "v", int(d or 0)) if key.endswith(":v") else (key, "spikes", int(d or 0))


def _delayed(key: str, steps: int) -> str:
    pop, signal, d = split_key(key)
    return f"{pop}{':v' if signal == 'v' else ''}{'@' + str(d + steps) if d + steps else ''}"


def _delay_steps(name: str, node: nir.Delay, dt: float) -> int:
    d = delay_steps(name, node, dt)  # whole, uniform, >= 0: checked once by exporters.nir.validate
    if d > 63:
        raise NIRError(f"node {name!r}: Delay of {d} steps exceeds Loihi's 63-step synaptic delay")
    return d


def _is_sigma_delta(node: nir.NIRNode | None) -> bool:
    return node is not None and is_extension(node) and extension_name(node) == "sigma_delta"


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


def compile_plan(graph: nir.NIRGraph | CheckedGraph, dt: float | None = None) -> Plan:
    """Map a NIR graph to populations and Dense stages; raise :class:`NIRError` naming the node.
    The graph is validated by :func:`exporters.nir.validate.check_graph` (a CheckedGraph passes)."""
    checked = check_graph(graph, dt)
    dt, nodes, sched = checked.dt, checked.nodes, checked.sched
    for name, node in nodes.items():
        if not isinstance(node, (nir.Input, nir.Output, nir.Threshold, nir.Delay) + LINEAR + NEURONS) \
                and not is_extension(node):
            raise NIRError(f"node {name!r}: {type(node).__name__}: no Lava mapping")
    chains = li_chains(nodes, sched)  # gamma-style LI chains run as one population each
    member_of = {m: (head, k) for head, ms in chains.items() for k, m in enumerate(ms)}
    is_pop = {n: isinstance(v, NEURONS + (nir.Threshold,)) or (is_extension(v) and extension_name(v, n) != V_TAP)
              for n, v in nodes.items()}
    is_pop.update({m: m in chains for m in member_of})

    def pop_of(key: str) -> str:
        return split_key(key)[0]
    inputs = [n for n, v in nodes.items() if isinstance(v, nir.Input)]
    outputs = [n for n, v in nodes.items() if isinstance(v, nir.Output)]
    if len(inputs) != 1 or len(outputs) != 1:
        raise NIRError(f"graph needs exactly one Input and one Output node (found {len(inputs)} and {len(outputs)})")

    memo: dict[str, dict[tuple[str, bool], tuple[np.ndarray, np.ndarray]]] = {}

    def source_maps(name: str) -> dict[tuple[str, bool], tuple[np.ndarray, np.ndarray]]:
        """Input of ``name`` as sum over (source, recurrent) of A @ out(source) + c."""
        total: dict[tuple[str, bool], tuple[np.ndarray, np.ndarray]] = {}
        for src in sched.inputs[name]:
            back = (src, name) in sched.back_edges
            for (s, rec), (a, c) in out_maps(src).items():
                key = (s, rec or back)
                if key in total:
                    a0, c0 = total[key]
                    if (a0.n_out, a0.n_in) != (a.n_out, a.n_in):
                        raise NIRError(f"node {name!r}: inputs of different shapes {a0.n_out} and {a.n_out}")
                    total[key] = (a0.plus(name, a), c0 + c)
                else:
                    total[key] = (a, c)
        return total

    def out_maps(name: str) -> dict[tuple[str, bool], tuple[np.ndarray, np.ndarray]]:
        node = nodes[name]
        if is_extension(node) and extension_name(node, name) == V_TAP:
            res = {}
            for src in sched.inputs[name]:
                if not is_pop.get(src):
                    raise NIRError(f"node {name!r}: a v_tap must be fed directly by a population, not {src!r}")
                n = int(np.prod(_shape(nodes[src], "output")))
                res[(f"{src}:v", (src, name) in sched.back_edges)] = (LinearMap(n), np.zeros(n))
            return res
        if name in member_of:  # bucket k of a fused chain: rows k*n..(k+1)*n of its population
            head, k = member_of[name]
            n = int(np.prod(_shape(node, "output")))
            check_dense(name, n, n * len(chains[head]), "gamma chain member")
            sel = np.zeros((n, n * len(chains[head])))
            sel[:, k * n:(k + 1) * n] = np.eye(n)
            return {(head, False): (LinearMap(sel.shape[1], (sel,)), np.zeros(n))}
        if isinstance(node, nir.Input) or is_pop[name]:
            n = int(np.prod(_shape(node, "output")))
            return {(INPUT if isinstance(node, nir.Input) else name, False): (LinearMap(n), np.zeros(n))}
        if name in memo:
            return memo[name]
        memo[name] = {}  # guards a cycle made only of linear nodes
        if isinstance(node, nir.Delay):  # identity, later by whole steps: a DelayDense stage
            d = _delay_steps(name, node, dt)
            srcs = source_maps(name)
            if d and any(np.any(c) for (_, c) in srcs.values()):
                # the delayed copy of an Affine bias is absent for the first d steps (the Delay
                # starts empty); a population's constant bias cannot express that
                raise NIRError(f"node {name!r}: a Delay after an Affine bias is not mapped to Lava (the bias would "
                               f"be missing for the first {d} steps); move the bias after the Delay")
            memo[name] = {(_delayed(k, d), rec): ac for (k, rec), ac in srcs.items()}
            return memo[name]
        op, b = _linear_op(name, node)
        res = {}
        srcs = source_maps(name)
        # this node's own bias is present from the first step: attach it to a source that is not
        # read through a back-edge (everything on a back-edge is absent at t = 0)
        own = next((k for k in srcs if not k[1]), next(iter(srcs), None))
        for key, (a, c) in srcs.items():
            n_in = len(b) if isinstance(op, str) else op_n_in(op)
            if a.n_out != n_in:
                raise NIRError(f"node {name!r}: expects {n_in} inputs, receives {a.n_out}")
            if isinstance(op, str):  # Flatten: as it is; Scale: b holds the factors (no bias)
                res[key] = (a, c) if op == "identity" else (a.scale_rows(name, b), b * c)
                continue
            if isinstance(op, np.ndarray):
                check_dense(name, op.shape[0], a.n_in, "the fused weights")
            res[key] = (a.then(op), apply_vec(op, c) + (b if key == own else 0))
        memo[name] = res
        return res

    neurons: dict[str, NeuronSpec] = {}
    denses: list[DenseSpec] = []
    latency: dict[str, int] = {INPUT: 0}
    mapping = {inputs[0]: "lava.proc.io.source.RingBuffer"}
    pops = [n for n in sched.order if is_pop[n]]
    for name in pops + [outputs[0]]:
        maps = source_maps(name)
        if not maps:
            raise NIRError(f"node {name!r} has no input")
        fwd = {latency[pop_of(s)] + 1 for (s, rec) in maps if not rec and pop_of(s) in latency}
        if any(pop_of(s) not in latency and not rec for (s, rec) in maps):
            raise NIRError(f"node {name!r}: a forward input comes from a population scheduled later")
        if len(fwd) > 1:
            raise NIRError(f"node {name!r}: inputs arrive through different numbers of Dense stages ({sorted(fwd)}); "
                           "skip connections need Delay compensation, not supported yet")
        lat = fwd.pop() if fwd else None
        if name == outputs[0]:
            break
        if lat is None:
            raise NIRError(f"node {name!r}: only recurrent inputs, no path from the Input")
        if name in chains:
            from exporters.lava.gamma_populations import chain_spec

            sigma_in = {_is_sigma_delta(nodes.get(pop_of(s))) for (s, _) in maps}
            if len(sigma_in) > 1:
                raise NIRError(f"node {name!r}: mixes sigma-delta and other inputs")
            spec, gain = chain_spec(name, [nodes[m] for m in chains[name]], dt, lat, sigma_in.pop())
        else:
            spec, gain = neuron_spec(name, nodes[name], dt, lat)
        n_rows = next(iter(maps.values()))[0].n_out
        if (gain.shape[-1] if gain.ndim == 2 else spec.n) != n_rows:
            raise NIRError(f"node {name!r}: {spec.n} neurons but {n_rows} inputs")
        gained_bias, rec_bias = (sum((gain @ c if gain.ndim == 2 else gain * c) for (_, r), (_, c) in maps.items()
                                     if r == rec) + np.zeros(spec.n) for rec in (False, True))
        if spec.kind.startswith("Cuba"):
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
        latency[name] = lat
        neurons[name] = spec
        mapping[name] = f"ZooNeuron({spec.kind}, latency {lat})"
        for (s, rec), (a, _) in maps.items():
            p = pop_of(s)
            if rec and latency.get(p, lat) != lat:
                raise NIRError(f"node {name!r}: recurrent input from {p!r} spans Dense stages "
                               f"(latency {latency.get(p)} vs {lat}); Lava would add {lat - latency.get(p, lat)} steps")
            if _is_sigma_delta(nodes.get(p)) and name not in chains:
                raise NIRError(f"node {name!r}: sigma-delta output of {p!r} can only feed gamma bucket (LI) chains")
            w = a.left_matmul(name, gain) if gain.ndim == 2 else a.scale_rows(name, gain)
            _, signal, delay = split_key(s)
            if delay and rec:
                raise NIRError(f"node {name!r}: a Delay on a recurrent edge is not mapped to Lava")
            denses.append(_stage(f"{s}->{name}", p, name, w, rec, signal, delay))
    # Output: straight from a population, or through one Dense stage
    maps = source_maps(outputs[0])
    out_shape = _shape(nodes[outputs[0]], "output")
    (src, rec), (a, c) = next(iter(maps.items()))
    if len(maps) == 1 and src != INPUT and not rec and a.is_identity() \
            and not np.any(c) and split_key(src)[2] == 0:
        spec = neurons[pop_of(src)]
        kind = "v" if (not spec.spiking or split_key(src)[1] == "v") else "spikes"
        out_src, out_lat = pop_of(src), latency[pop_of(src)]
    else:
        if len(maps) > 1 or rec:
            raise NIRError(f"output {outputs[0]!r}: only one feedforward linear readout is mapped to a Dense sink")
        p, signal, delay = split_key(src)
        denses.append(_stage(f"{src}->{OUTPUT}", p, OUTPUT, a, False, signal, delay))
        kind, out_src, out_lat = "dense", denses[-1].name, latency[p] + 1
    conv_stages = any(isinstance(d, ConvSpec) for d in denses)
    for name, node in nodes.items():
        if isinstance(node, LINEAR):
            mapping[name] = ("fused into Dense" if not conv_stages else "kernel of a convolution stage"
                             if isinstance(node, CONV_NODES) else "fused into a Dense or convolution stage")
        elif is_extension(node) and name not in neurons:
            mapping[name] = "membrane read through ZooNeuron.v_out"
    mapping[outputs[0]] = "lava.proc.io.sink.RingBuffer"
    bias = c if kind == "dense" and np.any(c) else None
    return Plan(dt, _shape(nodes[inputs[0]], "input"), neurons, denses, out_src, kind, out_shape, out_lat, mapping,
                bias)
