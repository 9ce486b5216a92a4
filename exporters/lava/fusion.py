"""Linear NIR nodes between populations -> one exact map per (source, recurrent) (pure numpy).

The input of a population (or of the Output) is

    in = sum over (source key, recurrent) of A @ out(source) + c

where A is a :class:`~exporters.lava.linear_map.LinearMap` (fused Affine/Linear/Scale/Flatten
matrices, or kernels of convolutions and pools) and c the Affine biases it carries. A source key
is ``pop[:v][@d]``: a population's spikes (``pop``), its membrane read through a ``v_tap``
(``pop:v``), delayed by d whole steps by NIR Delay nodes (``@d``; a Lava ``DelayDense``).
``recurrent`` marks a path through a back-edge of the schedule (the previous step's value).
"""
from __future__ import annotations

import nir
import numpy as np

from exporters.lava.conv import ConvOp, conv_op
from exporters.lava.linear_map import LinearMap, apply_vec, check_dense, op_n_in
from exporters.lava.specs import INPUT
from exporters.nir.extensions import V_TAP, extension_name, is_extension
from exporters.nir.io import NIRError
from exporters.nir.validate import delay_steps

Maps = dict  # (source key, recurrent) -> (LinearMap, bias c)


def node_shape(node: nir.NIRNode, key: str) -> tuple[int, ...]:
    """The declared ``"input"`` or ``"output"`` shape of ``node``."""
    types = node.input_type if key == "input" else node.output_type
    arr = next(iter(types.values()))
    return tuple(int(v) for v in np.ravel(arr))


def linear_op(name: str, node: nir.NIRNode) -> tuple[np.ndarray | ConvOp | str, np.ndarray]:
    """(op, b) with out = op(in) + b on flattened (C-order) vectors: a dense matrix (Affine,
    Linear), a :class:`ConvOp` (convolutions and pooling, kernels only), ``"identity"``
    (Flatten) or ``"scale"`` (Scale: b holds the per-value factors)."""
    if isinstance(node, nir.Affine):
        return np.asarray(node.weight, float), np.asarray(node.bias, float)
    if isinstance(node, nir.Linear):
        w = np.asarray(node.weight, float)
        return w, np.zeros(w.shape[0])
    in_shape = node_shape(node, "input")
    if isinstance(node, nir.Scale):
        return "scale", np.broadcast_to(np.asarray(node.scale, float), in_shape).ravel().copy()
    if isinstance(node, nir.Flatten):
        return "identity", np.zeros(int(np.prod(in_shape)))
    op, b = conv_op(name, node, in_shape)
    declared = int(np.prod(node_shape(node, "output")))
    if declared != op.n_out:
        raise NIRError(f"node {name!r}: declares {declared} outputs, its kernel gives {op.out_shape}")
    return op, b


def split_key(key: str) -> tuple[str, str, int]:
    """A source key ``pop[:v][@d]`` -> (population, "v"|"spikes", delay in steps)."""
    key, _, d = key.partition("@")
    return (key[:-2], "v", int(d or 0)) if key.endswith(":v") else (key, "spikes", int(d or 0))


def pop_of(key: str) -> str:
    """The population of a source key."""
    return split_key(key)[0]


def _delayed(key: str, steps: int) -> str:
    pop, signal, d = split_key(key)
    return f"{pop}{':v' if signal == 'v' else ''}{'@' + str(d + steps) if d + steps else ''}"


def _delay_steps(name: str, node: nir.Delay, dt: float) -> int:
    d = delay_steps(name, node, dt)  # whole, uniform, >= 0: checked once by exporters.nir.validate
    if d > 63:
        raise NIRError(f"node {name!r}: Delay of {d} steps exceeds Loihi's 63-step synaptic delay")
    return d


class LinearFusion:
    """Memoised walk back from a node to the populations feeding it. ``is_pop``: node -> runs
    as a population; ``chains``: head -> members of a fused LI chain (bucket k of a chain reads
    rows k*n..(k+1)*n of the head's population)."""

    def __init__(self, nodes: dict, sched, dt: float, is_pop: dict[str, bool], chains: dict[str, list[str]]):
        self.nodes, self.sched, self.dt, self.is_pop, self.chains = nodes, sched, dt, is_pop, chains
        self.member_of = {m: (head, k) for head, ms in chains.items() for k, m in enumerate(ms)}
        self.memo: dict[str, Maps] = {}

    def source_maps(self, name: str) -> Maps:
        """Input of ``name`` as sum over (source, recurrent) of A @ out(source) + c."""
        total: Maps = {}
        for src in self.sched.inputs[name]:
            back = (src, name) in self.sched.back_edges
            for (s, rec), (a, c) in self.out_maps(src).items():
                key = (s, rec or back)
                if key in total:
                    a0, c0 = total[key]
                    if (a0.n_out, a0.n_in) != (a.n_out, a.n_in):
                        raise NIRError(f"node {name!r}: inputs of different shapes {a0.n_out} and {a.n_out}")
                    total[key] = (a0.plus(name, a), c0 + c)
                else:
                    total[key] = (a, c)
        return total

    def out_maps(self, name: str) -> Maps:
        """Output of ``name`` as sum over (source, recurrent) of A @ out(source) + c."""
        node, sched = self.nodes[name], self.sched
        if is_extension(node) and extension_name(node, name) == V_TAP:
            res = {}
            for src in sched.inputs[name]:
                if not self.is_pop.get(src):
                    raise NIRError(f"node {name!r}: a v_tap must be fed directly by a population, not {src!r}")
                n = int(np.prod(node_shape(self.nodes[src], "output")))
                res[(f"{src}:v", (src, name) in sched.back_edges)] = (LinearMap(n), np.zeros(n))
            return res
        if name in self.member_of:  # bucket k of a fused chain: rows k*n..(k+1)*n of its population
            head, k = self.member_of[name]
            n = int(np.prod(node_shape(node, "output")))
            check_dense(name, n, n * len(self.chains[head]), "gamma chain member")
            sel = np.zeros((n, n * len(self.chains[head])))
            sel[:, k * n:(k + 1) * n] = np.eye(n)
            return {(head, False): (LinearMap(sel.shape[1], (sel,)), np.zeros(n))}
        if isinstance(node, nir.Input) or self.is_pop[name]:
            n = int(np.prod(node_shape(node, "output")))
            return {(INPUT if isinstance(node, nir.Input) else name, False): (LinearMap(n), np.zeros(n))}
        if name in self.memo:
            return self.memo[name]
        self.memo[name] = {}  # guards a cycle made only of linear nodes
        if isinstance(node, nir.Delay):  # identity, later by whole steps: a DelayDense stage
            d = _delay_steps(name, node, self.dt)
            srcs = self.source_maps(name)
            if d and any(np.any(c) for (_, c) in srcs.values()):
                # the delayed copy of an Affine bias is absent for the first d steps (the Delay
                # starts empty); a population's constant bias cannot express that
                raise NIRError(f"node {name!r}: a Delay after an Affine bias is not mapped to Lava (the bias would "
                               f"be missing for the first {d} steps); move the bias after the Delay")
            self.memo[name] = {(_delayed(k, d), rec): ac for (k, rec), ac in srcs.items()}
            return self.memo[name]
        self.memo[name] = self._through(name, *linear_op(name, node))
        return self.memo[name]

    def _through(self, name: str, op, b: np.ndarray) -> Maps:
        """The source maps of ``name`` followed by its own op and bias."""
        res = {}
        srcs = self.source_maps(name)
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
        return res
