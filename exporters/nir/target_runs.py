"""Running a graph written for another tool in that tool's own importer, and comparing it with
the zoo's exact semantics (the torch executor in float64) on the same inputs.

``run_framework(graph, target, x)`` imports the file the ordinary way (snnTorch
``import_from_nir``, Norse ``from_nir``, ``nirtorch.nir_to_torch`` with the zoo node map, or the
zoo executor on plain NIR primitives); :func:`reference` runs the original zoo graph;
:func:`agreement` compares spikes per population and the outputs. The rewrites themselves are
in :mod:`exporters.nir.targets`.
"""
from __future__ import annotations

import contextlib
import copy
import io
from typing import Any

import nir
import numpy as np
import torch

from exporters.nir.io import NIRError
from exporters.nir.targets import (SPIKING_PRIMS, Refused, as_text, extension_of, graph_for_target, metadata_dt,
                                   node_metadata)



def _sanitize(name: str) -> str:
    import keyword

    name = name.replace(".", "_")
    return "nir_node_" + name if keyword.iskeyword(name) else name


def spiking_names(graph: nir.NIRGraph) -> dict[str, str]:
    """Top-level nodes whose output is spikes (primitives, Threshold, spiking extensions):
    {node name in this graph: the zoo population name (``metadata["zoo.name"]`` if renamed)}."""
    from exporters.nir.extensions import EXTENSIONS

    out = {}
    for name, node in graph.nodes.items():
        ext = extension_of(node)
        if isinstance(node, SPIKING_PRIMS + (nir.Threshold,)) or (ext in EXTENSIONS and EXTENSIONS[ext].spiking):
            out[name] = as_text(node_metadata(node).get("zoo.name", name))
    return out


def _hooks(module: torch.nn.Module, names: dict[str, str], rec: dict[str, list]) -> list:
    handles = []
    subs = dict(module.named_modules())
    for node_name, key in names.items():
        m = subs.get(_sanitize(node_name))
        if m is None:
            continue

        def hook(_m, _inp, out, key=key):
            rec[key].append((out[0] if isinstance(out, tuple) else out).detach().clone())

        handles.append(m.register_forward_hook(hook))
    return handles


def run_framework(graph: nir.NIRGraph, target: str, x: np.ndarray) -> dict[str, Any]:
    """Run ``graph`` (a file written for ``target``) through the framework's own importer.

    x: (batch, T, *input_shape). Returns ``output`` (batch, T, *out) float64 and ``spikes``
    {node: (batch, T, ...)} for the spiking nodes the framework exposes as modules."""
    g = copy.deepcopy(graph)
    if target == "snntorch":
        from snntorch.import_nir import import_from_nir

        with contextlib.redirect_stdout(io.StringIO()):
            net = import_from_nir(g)
        net = net.double()
        import snntorch as snn

        for m in net.modules():  # snnTorch's ATan spike function returns float32 0/1: exact in float64
            if isinstance(m, snn.SpikingNeuron):
                m.register_forward_hook(lambda _m, inp, out: out.to(inp[0].dtype))
        step = lambda xt, st: net(xt, st)  # noqa: E731  (fx GraphModule: (output, state))
    elif target == "norse":
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import norse.torch as norse

            net = norse.from_nir(g).double()
        step = lambda xt, st: net(xt, st)  # noqa: E731
    elif target == "nirtorch":
        import nirtorch

        from exporters.nir.nodemap import zoo_node_map

        net = nirtorch.nir_to_torch(g, zoo_node_map(g), dtype=torch.float64)
        step = lambda xt, st: net(xt, st)  # noqa: E731
    elif target == "nir":
        from exporters.nir import from_nir

        plain = _strip_zoo(g)
        ex = from_nir(plain, dt=metadata_dt(plain))
        with torch.no_grad():
            out = ex(torch.from_numpy(np.asarray(x, dtype=np.float64)).transpose(0, 1), record=True)
        return {"output": out.transpose(0, 1).numpy(),
                "spikes": {k: ex.records[n].transpose(0, 1).numpy() for n, k in spiking_names(plain).items()}}
    else:
        raise NIRError(f"unknown target {target!r}")
    names = spiking_names(g)
    rec: dict[str, list] = {k: [] for k in names.values()}
    handles = _hooks(net, names, rec)
    xt = torch.from_numpy(np.asarray(x, dtype=np.float64))
    outs, state = [], None
    try:
        with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()):
            for t in range(xt.shape[1]):
                res = step(xt[:, t], state)
                y, state = (res[0], res[1]) if isinstance(res, tuple) else (res, None)
                outs.append(y.detach().double().reshape(xt.shape[0], -1))
    finally:
        for h in handles:
            h.remove()
    out = torch.stack(outs, 1).numpy()
    spikes = {k: torch.stack([v.reshape(xt.shape[0], -1) for v in r], 1).numpy() for k, r in rec.items() if r}
    return {"output": out, "spikes": spikes}


def _strip_zoo(graph: nir.NIRGraph) -> nir.NIRGraph:
    """The graph as a reader of standard NIR sees it: zoo node metadata removed; extensions refused."""
    for name, node in graph.nodes.items():
        if extension_of(node) is not None:
            raise Refused(f"nir: node {name!r} is a zoo extension; plain NIR cannot run it exactly")
        if isinstance(node, nir.NIRNode) and hasattr(node, "metadata") and isinstance(node.metadata, dict):
            node.metadata = {k: v for k, v in node.metadata.items() if not str(k).startswith("zoo.")}
    return graph


def reference(graph: nir.NIRGraph, x: np.ndarray) -> dict[str, Any]:
    """The zoo's exact semantics (torch executor, float64) on the original zoo graph."""
    from exporters.nir import from_nir

    ex = from_nir(graph)
    with torch.no_grad():
        out = ex(torch.from_numpy(np.asarray(x, dtype=np.float64)).transpose(0, 1), record=True)
    return {"output": out.transpose(0, 1).numpy(),
            "spikes": {k: ex.records[n].transpose(0, 1).numpy() for n, k in spiking_names(graph).items()}}


def agreement(ref: dict[str, Any], got: dict[str, Any]) -> dict[str, Any]:
    """Spike agreement over the populations both expose, and the output difference."""
    keys = sorted(set(ref["spikes"]) & set(got["spikes"]))
    eq = total = 0
    for k in keys:
        a = np.asarray(ref["spikes"][k]).reshape(np.shape(got["spikes"][k]))
        eq += int((a == np.asarray(got["spikes"][k])).sum())
        total += a.size
    ro, go = np.asarray(ref["output"]), np.asarray(got["output"])
    diff = float(np.abs(ro.reshape(go.shape) - go).max()) if ro.size == go.size else float("inf")
    return {"spike_agreement": eq / total if total else None, "populations": keys,
            "output_max_abs_diff": diff, "spike_count_ref": int(sum(np.asarray(ref["spikes"][k]).sum() for k in keys))}


def measure(graph: nir.NIRGraph, target: str, x: np.ndarray, name: str = "") -> dict[str, Any]:
    """Rewrite ``graph`` (model ``name``) for ``target``, run it in the target's importer,
    compare with the zoo."""
    try:
        tg = graph_for_target(graph, target)
    except Refused as exc:
        return {"model": name, "target": target, "status": "refused", "reason": str(exc)}
    # the rewritten file is the same model in NIR's own terms: check with our executor too
    res = agreement(reference(graph, x), run_framework(tg, target, x))
    ok = res["spike_agreement"] in (None, 1.0) and res["output_max_abs_diff"] <= 1e-6
    return {"model": name, "target": target, "status": "pass" if ok else "fail", **res}
