"""NIR graph -> a Lava-shaped plan: neuron populations joined by Dense stages (pure numpy).

``compile_plan`` runs the compiler passes (:data:`exporters.lava.passes.PASSES`, in order:
validate, partition, fuse_linear, timing, map_neurons, attach_bias, stages, readout, assemble).

Linear nodes (Affine, Linear, Scale, Flatten, Conv1d/2d, Sum/AvgPool2d) between two
populations become one exact stage (:mod:`exporters.lava.fusion`, :mod:`exporters.lava.linear_map`):
Affine/Linear/Scale/Flatten fuse into one matrix (a Lava ``Dense``); a path holding a convolution
or pooling keeps its kernels (a :class:`ConvSpec`, run by ``BatchedConv``; conv -> conv and
conv -> Affine stay a chain of kernels within the stage, no dense matrix is built). Each stage
delays by one step. Timing model: a population's *latency* is its number of Dense stages from
the Input; a forward edge needs latency(dst) = latency(src) + 1, a recurrent edge (a cycle:
previous-step input, as in snnTorch RLeaky and NIRTorch) needs latency(dst) = latency(src). The
Output lags the torch reference by ``plan.latency`` steps. Neuron mapping:
:mod:`exporters.lava.neuron_map` and the kind registry :mod:`exporters.lava.populations`.
A NIR Delay of d whole steps on a path makes its stage a Lava ``DelayDense`` (1 + d steps), so
latencies are unchanged; samples then end with d silent steps so no delayed activity crosses
into the next sample.
"""
from __future__ import annotations

import nir

from exporters.lava.linear_map import max_dense_bytes  # noqa: F401 (re-exported)
from exporters.lava.passes import PASSES, GraphInput, run_passes
from exporters.lava.specs import INPUT, OUTPUT, ConvSpec, DenseSpec, NeuronSpec, Plan  # noqa: F401 (re-exported)
from exporters.nir.validate import CheckedGraph


def compile_plan(graph: nir.NIRGraph | CheckedGraph, dt: float | None = None) -> Plan:
    """Map a NIR graph to populations and Dense stages; raise :class:`NIRError` naming the node.
    The graph is validated by :func:`exporters.nir.validate.check_graph` (a CheckedGraph passes)."""
    return run_passes(GraphInput(graph, dt), PASSES)
