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

Import (:func:`_import_hypr`, ``NIR_IMPORTERS``): weights and b_out are copies; every decay comes
from its tau = dt/(1 - decay) exactly (the float of the model's dtype that the exporter's float64
formula maps onto the stored tau); BRF b_offset from damp = p(omega) - b_offset the same way;
a descriptor neuron's values from its subgraph (:meth:`zoo.neurons.cell.DescriptorCell.from_nir`).
The raw parameters are then solved through the model's own forward (``kappa()``,
``cell.effective()``; :func:`zoo.neurons.cell.raw_preimage`): where several raw values give the
stored forward value, the template's own value wins when it is one (so a model's export loaded
into a copy of it, as ``zoo train --backend lava-*`` does, comes back bit for bit), else the one
nearest the closed-form inverse. Into another template, not bit for bit by construction (the
forward parameters are): tau_out (kappa = exp(-1/|tau_out|): sign lost, and several float32
tau_out per kappa), the ALIF / SE-adLIF time constants (exp(-1/tau): up to ~10^2 float32 tau per
decay near tau = 300; a value outside its clamp comes back as the clamp bound), BRF omega and
b_offset and descriptor parameters of a negative raw value (effective = |raw|), SE-adLIF a, b
outside their clamp. The cell's constants (theta0, beta_a, theta, q, BRF dt) are the template's
and must equal the graph's.
"""
from __future__ import annotations

import nir
import numpy as np
from torch import nn

from exporters.nir.io import NIRError
from exporters.nir.graph_exporters import GRAPH_EXPORTERS, NIR_IMPORTERS, decay_of_tau, graph_node, node_field
from exporters.nir.graph_exporters import as_numpy as _a
from zoo.neurons import brf, se_adlif
from zoo.neurons.cell import raw_preimage
from zoo.neurons.descriptor import NeuronError
from zoo.numerics import nearest_preimage


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


def _tau_of_decay(e: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return -1.0 / np.log(e)  # decay = exp(-1/tau)


def _same(e: np.ndarray) -> np.ndarray:
    return e


# hand-written cells: raw state_dict parameter and its closed-form guess from the effective value, in effective() order
RAW = {"alif": (("tau_m", _tau_of_decay), ("tau_adp", _tau_of_decay)),
       "seadlif": (("tau_u", _tau_of_decay), ("tau_w", _tau_of_decay), ("a", _same), ("b", _same)),
       "brf": (("omega", _same), ("b_offset", _same))}
EXTENSION = {"alif": "alif", "seadlif": se_adlif.NAME, "brf": brf.NAME}


def _snap(guess: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Guess inside the clamp [lo, hi], a guess within 1e-6 of a bound on it: the search then finds the
    bound itself when it is a preimage, so a raw value outside the clamp comes back as the bound."""
    g = np.clip(guess, lo, hi)
    for b in (lo, hi):
        g = np.where(np.isclose(g, b, rtol=1e-6, atol=0.0), b, g)
    return g


def _constant(values: np.ndarray, want: float, where: str, what: str) -> None:
    if not np.all(np.asarray(values, np.float64) == want):
        raise NIRError(f"node {where} must be {want} everywhere (the cell's {what}, a constant set by neuron_config); "
                       f"got {np.unique(values)[:4].tolist()}")


def _cell_effective(cell: nn.Module, neuron: str, node: nir.NIRGraph, dt: float, dtype: np.dtype) -> tuple:
    """Effective cell parameters (``cell.effective()`` order) that ``hypr_cell_node`` maps onto ``node``."""
    from exporters.nir.ext_hypr import brf_params, se_adlif_params
    from exporters.nir.extensions import alif_params

    if hasattr(cell, "desc"):
        return cell.from_nir(node, dt, "cell")
    if neuron == "alif":
        p = alif_params(node, "cell")
        _constant(p["v_threshold"], cell.theta0, "cell.lif: v_threshold", "theta0")
        _constant(p["beta"], cell.beta_a, "cell.beta: -scale", "beta_a")
        return decay_of_tau(p["tau"], dt, dtype, "cell.lif"), decay_of_tau(p["tau_adapt"], dt, dtype, "cell.adaptation")
    if neuron == "seadlif":
        p = se_adlif_params(node, "cell")
        _constant(p["theta"], cell.theta, "cell.lif: v_threshold", "theta")
        _constant(p["q"], cell.q, "cell.adaptation: r", "q")
        return (decay_of_tau(p["tau_u"], dt, dtype, "cell.lif"), decay_of_tau(p["tau_w"], dt, dtype, "cell.adaptation"),
                p["a"], p["b"])
    if neuron == "brf":
        p = brf_params(node, "cell")
        if abs(float(cell.dt) - dt) > 1e-12 * dt:
            raise NIRError(f"node cell: the graph's dt = {dt:g}; the BRF cell's Euler step is dt = {cell.dt:g} "
                           "(neuron_config dt)")
        _constant(p["theta"], cell.theta, "cell.spike: threshold", "theta")
        omega, damp = p["omega"], np.asarray(node.nodes["damp_u"].scale, np.float64)
        b_offset, ok = nearest_preimage(lambda b: brf.p_omega(np, omega, dt) - b == damp, p["b_offset"], dtype)
        if not ok.all():
            raise NIRError(f"node cell.damp_u: no {np.dtype(dtype).name} b_offset writes scale exactly for "
                           f"neuron(s) {np.flatnonzero(~ok)[:8].tolist()}")
        return omega, b_offset
    raise NIRError(f"HYPR model: no NIR import for neuron {neuron!r}")


def _import_hypr(model: nn.Module, graph: nir.NIRGraph, dt: float) -> dict[str, np.ndarray]:
    """NIR graph of ``_hypr`` -> RecurrentSNN state_dict values (module docstring)."""
    N, n_in, K = model.n_hidden, model.n_inputs, model.n_outputs
    dtype = model.w_in.detach().cpu().numpy().dtype
    w_out = graph_node(graph, "w_out", (nir.Affine,))
    out = {"w_in": node_field(graph_node(graph, "w_in", (nir.Linear,)).weight, "w_in", "weight", (N, n_in)),
           "w_rec": node_field(graph_node(graph, "rec", (nir.Linear,)).weight, "rec", "weight", (N, N)),
           "w_out": node_field(w_out.weight, "w_out", "weight", (K, N)),
           "b_out": node_field(w_out.bias, "w_out", "bias", (K,))}
    li = graph_node(graph, "li", (nir.LI,))
    kappa = decay_of_tau(node_field(li.tau, "li", "tau", (K,)), dt, dtype, "li")
    cell, node = model.cell, graph_node(graph, "cell", (nir.NIRGraph,))
    ext = cell.desc.name if hasattr(cell, "desc") else EXTENSION.get(model.neuron, model.neuron)
    got = (node.metadata or {}).get("zoo.neuron")
    if (got.decode() if isinstance(got, bytes) else got) != ext:
        raise NIRError(f"node cell: a {got!r} extension; this RecurrentSNN's neuron {model.neuron!r} exports {ext!r}")
    try:
        eff = _cell_effective(cell, model.neuron, node, dt, dtype)
        raw = RAW.get(model.neuron) or tuple((k, _same) for k in cell.PARAMS)
        out["tau_out"] = raw_preimage(model.tau_out, model.kappa, kappa, _tau_of_decay(kappa), "node li: tau_out")
        ranges = getattr(cell, "ranges", {})
        for i, ((k, guess), e) in enumerate(zip(raw, eff)):
            g = _snap(guess(e), *ranges[k]) if k in ranges else guess(e)
            out[f"cell.{k}"] = raw_preimage(getattr(cell, k), lambda i=i: cell.effective()[i], e, g, f"node cell: {k}")
    except NeuronError as exc:
        raise NIRError(str(exc)) from None
    return out


NIR_IMPORTERS.register("RecurrentSNN", _import_hypr)
