"""SpikingGamma in NIR: the ``sigma_delta`` v2 zoo extension and the ``GammaNet`` graph exporter.

``sigma_delta`` v2 -- ReLU unit with sigma-delta (graded spike) output. Subgraph: ``input ->
output`` (identity) with ``metadata = {"zoo.neuron": "sigma_delta", "zoo.version": 2, "theta":
THETA, "t_ref": T_REF}`` (t_ref in seconds, absent or 0 in v1 files); shape (n,). Exact
semantics (:mod:`zoo.neurons.sigma_delta`), ``n_ref = max(1, round(t_ref / dt))``::

    y[t] = ReLU(I[t]);  e = y - r[t-1];  send = |e| >= theta and q[t-1] <= 0
    s[t] = e if send else 0;  r[t] = r[t-1] + s[t];  q[t] = n_ref - 1 if send else max(q[t-1] - 1, 0)
    output: r[t]  (the reconstruction the receivers decode by summing the graded spikes s)

A tool that ignores the metadata sees the identity (no ReLU, no quantisation). Lava sends the
sparse deltas ``s`` and the receiving population sums them (sigma); see
:mod:`exporters.lava.gamma_populations`.

``GammaNet`` export (registered in ``GRAPH_EXPORTERS``): per layer, the gamma buckets are the
exact step ``b[t] = Phi b[t-1] + h u[t]`` of :func:`zoo.neurons.gamma.gamma_matrices`. NIR has
no matrix-exponential primitive and ``Phi`` is not a same-step cascade of first-order nodes,
so the graph holds the equivalent cascade of :func:`zoo.neurons.gamma.gamma_cascade` -- a chain
of NIR ``LI`` nodes ``c_k`` with decay ``a_k = exp(-dt/tau_k)`` (written Euler-equivalently as
``tau = dt/(1 - a_k)``, ``r = g_k/(1 - a_k)``, so one step is ``c_k <- a_k c_k + g_k c_{k-1}``)
-- and folds the change of basis ``b = M c`` into the bucket weights
(``W'[:, :, k] = sum_m W[:, :, m] M[m, k]``). The graph's output equals the module's for every
input (float64 round-off). A tool that ignores the zoo and integrates the LI chain in
continuous time gets a gamma memory with ``tau' = dt/(1 - a)`` and the mixed weights: close
to, not the same as, the zoo's model. The graph step must be the module's dt.
"""
from __future__ import annotations

from typing import Any

import nir
import numpy as np
import torch
from torch import nn

from exporters.nir.extensions import Extension, register_extension
from exporters.nir.io import NIRError
from exporters.nir.zoo_models import GRAPH_EXPORTERS

SIGMA_DELTA = "sigma_delta"


def sigma_delta_node(n: int, theta: float, t_ref: float = 0.0) -> nir.NIRGraph:
    """The ``sigma_delta`` v2 subgraph (``t_ref`` in seconds)."""
    nodes = {"input": nir.Input(input_type={"input": np.array([n])}),
             "output": nir.Output(output_type={"output": np.array([n])})}
    return nir.NIRGraph(nodes=nodes, edges=[("input", "output")],
                        metadata={"zoo.neuron": SIGMA_DELTA, "zoo.version": 2, "theta": float(theta),
                                  "t_ref": float(t_ref)})


def sigma_delta_params(node: nir.NIRGraph, name: str = "") -> dict[str, Any]:
    theta = node.metadata.get("theta")
    if theta is None or not float(theta) > 0:
        raise NIRError(f"node {name!r}: sigma_delta needs metadata theta > 0, got {theta!r}")
    t_ref = float(node.metadata.get("t_ref", 0.0))
    if not t_ref >= 0:
        raise NIRError(f"node {name!r}: sigma_delta needs t_ref >= 0 (seconds), got {t_ref!r}")
    return {"theta": float(theta), "t_ref": t_ref}


def refractory_steps_of(p: dict, dt: float) -> int:
    """``n_ref`` at graph step ``dt`` (seconds) -- the same rounding as the torch module."""
    from zoo.neurons.sigma_delta import refractory_steps

    return refractory_steps(p["t_ref"], dt)


def sigma_delta_step(p: dict, st: dict, inp: torch.Tensor, dt: float) -> torch.Tensor:
    from zoo.neurons.sigma_delta import SigmaDeltaParameters
    from zoo.neurons.sigma_delta import sigma_delta_step as step

    if not st:
        st.update(r=torch.zeros_like(inp), q=torch.zeros_like(inp))
    sd = SigmaDeltaParameters(p["theta"], refractory_steps_of(p, dt))
    st["s"], st["r"], st["q"] = step(torch.relu(inp), st["r"], sd, st["q"])
    st["v"] = st["r"]
    return st["r"]


register_extension(Extension(SIGMA_DELTA, 2, False, sigma_delta_params, sigma_delta_step))


def gamma_chain_nodes(prefix: str, src: str, n: int, cascade: dict, dt: float, nodes: dict, edges: list
                      ) -> list[str]:
    """The cascade ``c_1 <- a_1 c_1 + g_1 u``, ``c_k <- a_k c_k + g_k c_{k-1}`` (same step) as a
    chain of NIR LI nodes (Euler form: tau = dt/(1-a), r = g/(1-a)); returns the node names."""
    names, prev = [], src
    for k, (a, g) in enumerate(zip(cascade["a"], cascade["g"])):
        name = f"{prefix}.b{k + 1}"
        nodes[name] = nir.LI(tau=np.full(n, dt / (1.0 - a)), r=np.full(n, g / (1.0 - a)), v_leak=np.zeros(n))
        edges.append((prev, name))
        names.append(name)
        prev = name
    return names


def gamma_net_graph(model: nn.Module, dt: float, input_shape: tuple[int, ...] | None) -> tuple[dict, list]:
    """GammaNet: input -> bucket cascade (LI chain) -> per-bucket Linear (weights W M) ->
    sigma_delta -> bucket cascade -> per-bucket Linear -> output. ``dt`` is the graph step in
    seconds and must be the module's dt (ms)."""
    from zoo.neurons.gamma import gamma_cascade

    if abs(dt * 1e3 - model.dt) > 1e-9 * model.dt:
        raise NIRError(f"GammaNet built for dt = {model.dt} ms cannot be exported at dt = {dt * 1e3:g} ms: "
                       f"build it with dt={dt * 1e3:g} (the weights run at any dt)")
    layers = list(model.layers)
    n_in = layers[0].weight.shape[1]
    nodes: dict[str, nir.NIRNode] = {"input": nir.Input(input_type={"input": np.array([n_in])})}
    edges: list = []
    src, n_src = "input", n_in
    for li, layer in enumerate(layers):
        cell = layer.gamma
        cas = gamma_cascade(cell.tau.detach().double(), model.dt, cell.input_mode)
        if cas["residual"] > 1e-9:
            raise NIRError(f"layer {li}: the LI cascade does not reproduce the exact bucket step "
                           f"(residual {cas['residual']:.1e})")
        buckets = gamma_chain_nodes(f"l{li}", src, n_src, cas, dt, nodes, edges)
        w = np.einsum("oim,mk->oik", layer.weight.detach().double().numpy(), cas["M"])  # (n_out, n_in, K)
        bias = layer.bias.detach().double().numpy()
        dst = f"l{li}.sd" if li < len(layers) - 1 else "output"
        for k, b in enumerate(buckets):
            lin = f"l{li}.w{k + 1}"
            nodes[lin] = nir.Affine(weight=w[:, :, k], bias=bias) if k == 0 else nir.Linear(weight=w[:, :, k])
            edges += [(b, lin), (lin, dst)]
        if dst != "output":
            nodes[dst] = sigma_delta_node(w.shape[0], model.theta, model.t_ref_ms * 1e-3)
        src, n_src = dst, w.shape[0]
    nodes["output"] = nir.Output(output_type={"output": np.array([n_src])})
    return nodes, edges


GRAPH_EXPORTERS["GammaNet"] = gamma_net_graph
