"""``sigma_delta`` v1 zoo NIR extension: ReLU unit with sigma-delta (graded spike) output.

Subgraph: ``input -> output`` (identity) with ``metadata = {"zoo.neuron": "sigma_delta",
"zoo.version": 1, "theta": THETA}``; shape (n,). Exact semantics (zoo.neurons.sigma_delta):

    y[t] = ReLU(I[t]);  e = y - r[t-1];  s[t] = e if |e| >= theta else 0;  r[t] = r[t-1] + s[t]
    output: r[t]  (the reconstruction the receivers decode by summing the graded spikes s)

A tool that ignores the metadata sees the identity (no ReLU, no quantisation). Lava sends the
sparse deltas ``s`` and the receiving population sums them (sigma); see
:mod:`exporters.lava.gamma_populations`.
"""
from __future__ import annotations

from typing import Any

import nir
import numpy as np
import torch

from exporters.nir.extensions import Extension, register_extension
from exporters.nir.io import NIRError

SIGMA_DELTA = "sigma_delta"


def sigma_delta_node(n: int, theta: float) -> nir.NIRGraph:
    nodes = {"input": nir.Input(input_type={"input": np.array([n])}),
             "output": nir.Output(output_type={"output": np.array([n])})}
    return nir.NIRGraph(nodes=nodes, edges=[("input", "output")],
                        metadata={"zoo.neuron": SIGMA_DELTA, "zoo.version": 1, "theta": float(theta)})


def sigma_delta_params(node: nir.NIRGraph, name: str = "") -> dict[str, Any]:
    theta = node.metadata.get("theta")
    if theta is None or not float(theta) > 0:
        raise NIRError(f"node {name!r}: sigma_delta needs metadata theta > 0, got {theta!r}")
    return {"theta": float(theta)}


def sigma_delta_step(p: dict, st: dict, inp: torch.Tensor, dt: float) -> torch.Tensor:
    if not st:
        st.update(r=torch.zeros_like(inp), s=torch.zeros_like(inp))
    e = torch.relu(inp) - st["r"]
    st["s"] = torch.where(e.abs() >= p["theta"], e, torch.zeros_like(e))
    st["r"] = st["r"] + st["s"]
    st["v"] = st["r"]
    return st["r"]


register_extension(Extension(SIGMA_DELTA, 1, False, sigma_delta_params, sigma_delta_step))
