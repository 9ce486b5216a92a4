"""Shared helpers for the NIR/Lava tests: small graph builders, spike inputs and the torch
reference (``exporters.nir.from_nir``). Imported by test_lava.py, test_primitives.py,
benchmarks/tests/test_framework_agreement.py and test_nir_cli.py (pytest puts ``tests/`` on ``sys.path``)."""
from __future__ import annotations

import nir
import numpy as np
import torch

from exporters.nir import from_nir

I = np.array


def spikes_in(batch: int, steps: int, n: int | tuple[int, ...], p: float = 0.3, seed: int = 0) -> np.ndarray:
    """Bernoulli(p) spikes of shape (batch, steps, *n) as float64 0/1."""
    shape = (n,) if isinstance(n, int) else tuple(n)
    return (np.random.default_rng(seed).random((batch, steps, *shape)) < p).astype(np.float64)


def lif(n, tau, thr, reset="zero", r=None, v_leak=0.0, v_reset=0.0, dt=1e-3):
    """A NIR LIF population of n neurons; default r = tau/dt (so that v += dt/tau*(-v) + I)."""
    tau = np.broadcast_to(np.asarray(tau, float), (n,)).copy()
    return nir.LIF(tau=tau, r=tau / dt if r is None else np.broadcast_to(np.asarray(r, float), (n,)).copy(),
                   v_leak=np.broadcast_to(np.asarray(v_leak, float), (n,)).copy(),
                   v_threshold=np.broadcast_to(np.asarray(thr, float), (n,)).copy(),
                   v_reset=np.broadcast_to(np.asarray(v_reset, float), (n,)).copy(),
                   metadata={"zoo.reset": reset})


def chain(n_in, layers, dt=1e-3):
    """layers: list of (weight, bias or None, neuron node)."""
    nodes = {"input": nir.Input(input_type={"input": I([n_in])})}
    edges, prev = [], "input"
    for i, (w, b, neuron) in enumerate(layers):
        nodes[f"fc{i}"] = nir.Affine(weight=w, bias=b) if b is not None else nir.Linear(weight=w)
        nodes[f"n{i}"] = neuron
        edges += [(prev, f"fc{i}"), (f"fc{i}", f"n{i}")]
        prev = f"n{i}"
    nodes["output"] = nir.Output(output_type={"output": I([layers[-1][0].shape[0]])})
    edges.append((prev, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": dt})


def torch_ref(graph, x, dt=None):
    """Run ``graph`` in the torch executor on x (B, T, ...): (output, records per node), batch-first."""
    ex = from_nir(graph, dt=dt)
    with torch.no_grad():
        out = ex(torch.from_numpy(np.asarray(x, np.float64)).transpose(0, 1), record=True)
    return out.transpose(0, 1).numpy(), {k: v.transpose(0, 1).numpy() for k, v in ex.records.items()}
