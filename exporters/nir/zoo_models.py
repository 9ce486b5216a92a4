"""NIR exporters for zoo networks whose structure is not a plain chain of children: STOP's
convolutional/dense nets and the STAR RSNN, registered in
:data:`exporters.nir.graph_exporters.GRAPH_EXPORTERS` (which :func:`exporters.nir.export.to_nir`
consults before chain export), and their inverses, registered in ``NIR_IMPORTERS``
(:func:`exporters.nir.model_import.load_from_nir`).

What does not come back bit for bit (NIR holds the effective value): STOP's alpha outside
[0, 1] (exported clamped; the STOP learner keeps it inside), STAR's negative beta (exported as
max(beta, 0) = 0) and STAR's trained leak_logit (several logits give the stored alpha =
sigmoid(leak_logit); :func:`leak_logit_of`). The forward parameters are equal bit for bit.
"""
from __future__ import annotations

import nir
import numpy as np
import torch
from torch import nn

from exporters.nir.graph_exporters import GRAPH_EXPORTERS  # noqa: F401 (ext_gamma registers through this name)
from exporters.nir.graph_exporters import NIR_IMPORTERS, decay_of_tau, graph_node, node_field
from exporters.nir.graph_exporters import as_numpy as _a
from exporters.nir.io import NIRError
from zoo.numerics import nearest_preimage


def _spatial(op: nn.Module, shape: tuple[int, ...], name: str) -> tuple[nir.NIRNode | None, tuple[int, ...]]:
    """NIR node and output shape of a parameter-free spatial operator (or None for Identity)."""
    if isinstance(op, nn.Identity):
        return None, shape
    if isinstance(op, nn.AvgPool2d):
        k = np.array(np.broadcast_to(op.kernel_size, (2,)))
        s = np.array(np.broadcast_to(op.stride if op.stride is not None else op.kernel_size, (2,)))
        p = np.array(np.broadcast_to(op.padding, (2,)))
        out = (shape[0], *((np.array(shape[1:]) + 2 * p - k) // s + 1))
        node = nir.AvgPool2d(kernel_size=k, stride=s, padding=p)
        node.input_type, node.output_type = {"input": np.array(shape)}, {"output": np.array(out)}
        return node, tuple(int(v) for v in out)
    if isinstance(op, nn.Flatten):
        out = (int(np.prod(shape)),)
        return nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0, end_dim=-1), out
    if isinstance(op, nn.Sequential):
        raise NIRError(f"{name}: nested Sequential must be expanded by the caller")
    raise NIRError(f"{name}: {type(op).__name__} has no NIR export")


def _synapse(syn: nn.Module, shape: tuple[int, ...], name: str) -> tuple[nir.NIRNode, tuple[int, ...]]:
    if isinstance(syn, nn.Linear):
        node = nir.Affine(weight=_a(syn.weight), bias=_a(syn.bias)) if syn.bias is not None else \
            nir.Linear(weight=_a(syn.weight))
        return node, (syn.out_features,)
    if isinstance(syn, nn.Conv2d):
        bias = _a(syn.bias) if syn.bias is not None else np.zeros(syn.out_channels)
        node = nir.Conv2d(input_shape=tuple(shape[1:]), weight=_a(syn.weight), stride=syn.stride,
                          padding=syn.padding, dilation=syn.dilation, groups=syn.groups, bias=bias)
        return node, tuple(int(v) for v in node.output_type["output"])
    raise NIRError(f"{name}: synapse {type(syn).__name__} has no NIR export")


def stop_lif_node(alpha: torch.Tensor, v_threshold: torch.Tensor, shape: tuple[int, ...], dt: float,
                  name: str) -> nir.NIRNode:
    """STOP LIF (v = alpha*(v - theta*s) + I, soft reset) as NIR LIF with zoo.reset=subtract:
    tau = dt/(1-alpha), r = tau/dt (so dt/tau*r = 1); alpha = 1 -> IF(r=1/dt)."""
    a = float(alpha.detach().clamp(0, 1))
    thr = _a(v_threshold)
    thr = np.broadcast_to(thr.reshape(-1, *([1] * (len(shape) - 1))), shape).copy()
    meta = {"zoo.reset": "subtract"}
    if a >= 1.0:
        return nir.IF(r=np.full(shape, 1 / dt), v_threshold=thr, v_reset=np.zeros(shape), metadata=meta)
    tau = np.full(shape, dt / (1 - a))
    return nir.LIF(tau=tau, r=tau / dt, v_leak=np.zeros(shape), v_threshold=thr, v_reset=np.zeros(shape),
                   metadata=meta)


def _stopnet(model: nn.Module, dt: float, input_shape: tuple[int, ...] | None) -> tuple[dict, list]:
    first = model.blocks[0].syn
    if isinstance(first, nn.Linear):
        shape: tuple[int, ...] = (first.in_features,)
    elif input_shape is None:
        raise NIRError("STOPNet with a Conv2d input layer: pass input_shape=(C, H, W) to to_nir")
    else:
        shape = tuple(int(v) for v in input_shape)
    nodes: dict[str, nir.NIRNode] = {"input": nir.Input(input_type={"input": np.array(shape)})}
    edges, prev = [], "input"

    def add(name: str, node: nir.NIRNode | None) -> None:
        nonlocal prev
        if node is not None:
            nodes[name] = node
            edges.append((prev, name))
            prev = name

    for i, block in enumerate(model.blocks):
        node, shape = _spatial(block.pre, shape, f"blocks.{i}.pre")
        add(f"blocks.{i}.pre", node)
        node, shape = _synapse(block.syn, shape, f"blocks.{i}.syn")
        add(f"blocks.{i}.syn", node)
        add(f"blocks.{i}.lif", stop_lif_node(block.lif.alpha, block.lif.v_threshold, shape, dt, f"blocks.{i}.lif"))
    pre = list(model.readout_pre) if isinstance(model.readout_pre, nn.Sequential) else [model.readout_pre]
    for j, op in enumerate(pre):
        node, shape = _spatial(op, shape, f"readout_pre.{j}")
        add(f"readout_pre.{j}", node)
    node, shape = _synapse(model.readout, shape, "readout")
    add("readout", node)
    nodes["output"] = nir.Output(output_type={"output": np.array(shape)})
    edges.append((prev, "output"))
    return nodes, edges


GRAPH_EXPORTERS.register("STOPNet", _stopnet)


def _star(model: nn.Module, dt: float, input_shape: tuple[int, ...] | None) -> tuple[dict, list]:
    """STAR RSNN: fc_in (Affine) -> cell (zoo ``alif`` extension) with rec (Linear) cycle ->
    readout. LI readout: readout (Affine) -> li (LI, kappa = 1 - dt/tau). The membrane readout
    taps the cell's post-reset membrane through a ``v_tap`` extension node."""
    from exporters.nir.extensions import alif_node, v_tap_node

    cell = model.cell
    alpha, rho = _a(cell.alpha), _a(cell.rho)
    if np.any(alpha >= 1) or np.any(rho >= 1):
        raise NIRError("STAR cell: alpha and rho must be < 1")
    tau, tau_a = dt / (1 - alpha), dt / (1 - rho)
    n_in, n_out = model.fc_in.in_features, model.readout.out_features
    nodes = {"input": nir.Input(input_type={"input": np.array([n_in])}),
             "fc_in": nir.Affine(weight=_a(model.fc_in.weight), bias=_a(model.fc_in.bias)),
             "cell": alif_node(tau=tau, r=tau / dt, v_threshold=_a(cell.v_threshold), tau_adapt=tau_a,
                               beta=_a(cell.beta.clamp(min=0.0)), reset="subtract"),
             "rec": nir.Linear(weight=_a(model.rec.weight)),
             "readout": nir.Affine(weight=_a(model.readout.weight), bias=_a(model.readout.bias)),
             "output": nir.Output(output_type={"output": np.array([n_out])})}
    edges = [("input", "fc_in"), ("fc_in", "cell"), ("cell", "rec"), ("rec", "cell")]
    if model.readout_mode == "li":
        kappa = _a(model.readout_kappa)
        tau_o = dt / (1 - kappa)
        nodes["li"] = nir.LI(tau=tau_o, r=tau_o / dt, v_leak=np.zeros(n_out))
        edges += [("cell", "readout"), ("readout", "li"), ("li", "output")]
    else:
        nodes["cell_v"] = v_tap_node(model.n_hidden)
        edges += [("cell", "cell_v"), ("cell_v", "readout"), ("readout", "output")]
    return nodes, edges


GRAPH_EXPORTERS.register("STARRSNN", _star)


# --- NIR -> zoo: the inverses of the two exporters above (exporters.nir.model_import.load_from_nir) --------------

def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


def _decay(tau: np.ndarray, dt: float, current: torch.Tensor, where: str) -> np.ndarray:
    """:func:`decay_of_tau` of the dtype of the model's ``current`` value, which wins a tie."""
    cur = _np(current)
    return decay_of_tau(tau, dt, cur.dtype, where, prefer=cur)


def _synapse_values(graph: nir.NIRGraph, name: str, syn: nn.Module) -> dict[str, np.ndarray]:
    types = (nir.Conv2d,) if isinstance(syn, nn.Conv2d) else (nir.Affine,) if syn.bias is not None else (nir.Linear,)
    n = graph_node(graph, name, types)
    out = {f"{name}.weight": node_field(n.weight, name, "weight", syn.weight.shape)}
    if syn.bias is not None:
        out[f"{name}.bias"] = node_field(n.bias, name, "bias", syn.bias.shape)
    return out


def _stop_lif_values(graph: nir.NIRGraph, name: str, lif: nn.Module, dt: float) -> dict[str, np.ndarray]:
    """Inverse of :func:`stop_lif_node`: IF -> alpha = 1; LIF -> alpha from its (uniform) tau; the
    threshold must be uniform over each channel's positions. The exporter clamps alpha to [0, 1]:
    a raw alpha outside comes back clamped (the STOP learner keeps it inside)."""
    n = graph_node(graph, name, (nir.LIF, nir.IF))
    thr = np.asarray(n.v_threshold, dtype=np.float64)
    if thr.ndim == 0 or thr.shape[0] != lif.n:
        raise NIRError(f"node {name!r}: field v_threshold has shape {thr.shape}; the model has {lif.n} "
                       "neurons/channels first")
    thr = thr.reshape(lif.n, -1)
    if np.any(thr != thr[:, :1]):
        raise NIRError(f"node {name!r}: field v_threshold varies within a channel; STOP LIF has one per channel")
    if isinstance(n, nir.IF):
        alpha = np.ones(1)
    else:
        tau = np.asarray(n.tau, dtype=np.float64)
        if tau.size == 0 or np.any(tau != tau.flat[0]):
            raise NIRError(f"node {name!r}: field tau is not uniform; a STOP LIF layer has one leak")
        alpha = _decay(tau.reshape(-1)[:1], dt, lif.alpha, name)
    return {f"{name}.alpha": alpha, f"{name}.v_threshold": thr[:, 0]}


def _stopnet_import(model: nn.Module, graph: nir.NIRGraph, dt: float) -> dict[str, np.ndarray]:
    """STOPNet parameters from its export (nodes named as in :func:`_stopnet`); parameter-free
    spatial nodes are checked by the round trip."""
    out: dict[str, np.ndarray] = {}
    for i, block in enumerate(model.blocks):
        out.update(_synapse_values(graph, f"blocks.{i}.syn", block.syn))
        out.update(_stop_lif_values(graph, f"blocks.{i}.lif", block.lif, dt))
    out.update(_synapse_values(graph, "readout", model.readout))
    return out


NIR_IMPORTERS.register("STOPNet", _stopnet_import)


def leak_logit_of(alpha: np.ndarray, current: torch.Tensor) -> np.ndarray:
    """A ``leak_logit`` (dtype of the model's ``current`` logit) with ``torch.sigmoid(leak_logit)
    == alpha`` exactly, as STARALIFCell computes alpha. Several logits share one alpha (near
    alpha = 1 hundreds: 1/(alpha(1-alpha)) logit ulps per alpha ulp), and NIR stores only alpha:
    ``current`` wins if it is one (a template built like the exported model, initial logits
    come back exactly), else the one nearest ``log(alpha) - log1p(-alpha)`` (a trained logit may
    come back some ulps away, with the same alpha)."""
    cur = _np(current)
    a = torch.from_numpy(np.asarray(alpha, dtype=cur.dtype))
    guess = (torch.log(a) - torch.log1p(-a)).numpy()
    return nearest_preimage(lambda x: torch.sigmoid(torch.from_numpy(x.astype(cur.dtype))).numpy() == a.numpy(),
                            guess, cur.dtype, max_ulps=4096, prefer=cur)[0].astype(cur.dtype)


def _star_import(model: nn.Module, graph: nir.NIRGraph, dt: float) -> dict[str, np.ndarray]:
    """STARRSNN parameters from its export (:func:`_star`). ``alif`` tau -> alpha -> leak_logit
    (:func:`leak_logit_of`), tau_adapt -> rho, v_threshold; beta is exported as max(beta, 0): a
    negative beta comes back as 0 (same forward); LI tau -> readout_kappa."""
    from exporters.nir.extensions import ALIF, alif_params, extension_name, is_extension

    cell, n_h = model.cell, model.n_hidden
    node = graph_node(graph, "cell", (nir.NIRGraph,))
    kind = extension_name(node, "cell") if is_extension(node) else "a plain subgraph"
    if kind != ALIF:
        raise NIRError(f"node 'cell' is {kind!r}; expected the zoo extension {ALIF!r}")
    p = {k: node_field(v, "cell", k, (n_h,)) for k, v in alif_params(node, "cell").items()
         if k in ("tau", "tau_adapt", "v_threshold", "beta")}
    if np.any(p["beta"] < 0):
        raise NIRError("node 'cell': field beta must be >= 0 (the STAR cell uses max(beta, 0))")
    alpha = _decay(p["tau"], dt, cell.alpha, "cell")
    out = {"cell.leak_logit": leak_logit_of(alpha, cell.leak_logit), "cell.v_threshold": p["v_threshold"],
           "cell.beta": p["beta"], "cell.rho": _decay(p["tau_adapt"], dt, cell.rho, "cell")}
    out.update(_synapse_values(graph, "fc_in", model.fc_in))
    out.update(_synapse_values(graph, "rec", model.rec))
    out.update(_synapse_values(graph, "readout", model.readout))
    if model.readout_mode == "li":
        li = graph_node(graph, "li", (nir.LI,))
        out["readout_kappa"] = _decay(node_field(li.tau, "li", "tau", (model.n_outputs,)), dt, model.readout_kappa, "li")
    else:
        graph_node(graph, "cell_v", (nir.NIRGraph,))
    return out


NIR_IMPORTERS.register("STARRSNN", _star_import)
