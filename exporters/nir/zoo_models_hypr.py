"""NIR export of the HYPR recurrent models (:class:`zoo.models.hypr.RecurrentSNN`).

Graph: input -> w_in (Linear) -> cell (zoo extension) with a rec (Linear) cycle (previous-step
spikes) -> w_out (Affine, b_out) -> li (LI) -> output. The cell is
  brf      -> ``brf`` v1 (exporters/nir/ext_hypr.py); graph dt must equal the BRF Euler step
  seadlif  -> ``se_adlif`` v1 (exporters/nir/ext_hypr.py)
  alif     -> the existing ``alif`` v1 extension (zoo/neurons/alif.py is exactly it with
              tau = dt/(1-alpha), r = 1, tau_adapt = dt/(1-rho), r_adapt = 1/(1-rho),
              beta = beta_a, v_threshold = theta0, zero reset: the threshold of step t uses
              A[t] = rho*A[t-1] + z[t-1], which is alif's a[t-1])
LI readout y[t] = kappa*y[t-1] + (1-kappa)*(w_out z[t] + b_out) as NIR LI with
tau = dt/(1-kappa), r = 1, v_leak = 0 (Euler: v += dt/tau*(-v + r*I)).
"""
from __future__ import annotations

import nir
import numpy as np
from torch import nn

from exporters.nir.io import NIRError
from exporters.nir.graph_exporters import GRAPH_EXPORTERS
from exporters.nir.graph_exporters import as_numpy as _a


def hypr_cell_node(cell: nn.Module, neuron: str, dt: float) -> nir.NIRGraph:
    """The extension subgraph of a HYPR cell (effective, clamped parameters)."""
    from exporters.nir.ext_hypr import brf_node, se_adlif_node
    from exporters.nir.extensions import alif_node

    if hasattr(cell, "desc"):  # a descriptor neuron's cell (zoo.neurons.cell) writes its own subgraph
        return cell.nir_node(dt)
    eff = [_a(t) for t in cell.effective()]
    if neuron == "brf":
        if abs(float(cell.dt) - dt) > 1e-12 * dt:
            raise NIRError(f"BRF cell: export dt={dt} differs from the cell's Euler step dt={cell.dt}")
        omega, b_offset = eff
        return brf_node(omega, b_offset, dt, cell.theta)
    if neuron == "seadlif":
        alpha, beta, a, b = eff
        return se_adlif_node(alpha, beta, a, b, dt, q=cell.q, theta=cell.theta)
    if neuron == "alif":
        alpha, rho = eff
        if np.any(alpha >= 1) or np.any(rho >= 1):
            raise NIRError("ALIF cell: alpha and rho must be < 1")
        n = alpha.shape
        return alif_node(tau=dt / (1 - alpha), r=np.ones(n), v_threshold=np.full(n, cell.theta0),
                         tau_adapt=dt / (1 - rho), beta=np.full(n, cell.beta_a), reset="zero",
                         r_adapt=1.0 / (1 - rho))
    raise NIRError(f"HYPR model: no NIR export for neuron {neuron!r}")


def _hypr(model: nn.Module, dt: float, input_shape: tuple[int, ...] | None) -> tuple[dict, list]:
    """RecurrentSNN -> nodes, edges (see module docstring)."""
    kappa = _a(model.kappa())
    if np.any(kappa >= 1):
        raise NIRError("HYPR readout: kappa must be < 1")
    tau_o = dt / (1 - kappa)
    nodes = {"input": nir.Input(input_type={"input": np.array([model.n_inputs])}),
             "w_in": nir.Linear(weight=_a(model.w_in)),
             "cell": hypr_cell_node(model.cell, model.neuron, dt),
             "rec": nir.Linear(weight=_a(model.w_rec)),
             "w_out": nir.Affine(weight=_a(model.w_out), bias=_a(model.b_out)),
             "li": nir.LI(tau=tau_o, r=np.ones(model.n_outputs), v_leak=np.zeros(model.n_outputs)),
             "output": nir.Output(output_type={"output": np.array([model.n_outputs])})}
    edges = [("input", "w_in"), ("w_in", "cell"), ("cell", "rec"), ("rec", "cell"), ("cell", "w_out"),
             ("w_out", "li"), ("li", "output")]
    return nodes, edges


GRAPH_EXPORTERS.register("RecurrentSNN", _hypr)
