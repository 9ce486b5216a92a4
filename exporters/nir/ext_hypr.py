"""Zoo NIR extensions of the HYPR neurons: ``brf`` v1 and ``se_adlif`` v1 (docs/nir-extensions.md).

Both are ``NIRGraph`` subgraphs made only of NIR primitives, tagged ``metadata = {"zoo.neuron":
NAME, "zoo.version": 1}``. Tools that ignore the tag simulate the documented approximation;
the zoo's torch executor and Lava compiler read the parameters from the sub-nodes and run the
exact discrete update below (the same as ``zoo/neurons/brf.py`` / ``zoo/neurons/se_adlif.py``).
``dt`` is the graph's step. The extension output is the spike train z; ``state["v"]`` (the
membrane a ``v_tap`` reads) is the BRF real part u, resp. the SE-adLIF post-reset membrane u.

``brf`` v1 — balanced resonate-and-fire (Higuchi et al. 2024; zoo/neurons/brf.py), Euler step dt:
  nodes: input (Input) -> u (I, r = 1) ; u -> spike (Threshold, theta) -> output (Output)
         u -> rot_vu (Scale, +omega) -> v (I, r = 1) ; v -> rot_uv (Scale, -omega) -> u
         u -> damp_u (Scale, p(omega) - b_offset) -> u ; v -> damp_v (Scale, same) -> v
         spike -> refractory (LI, tau = dt/(1 - 0.9), r = 1/(1 - 0.9), v_leak = 0)
         refractory -> q_inhib (Scale, -1) -> u
  exact semantics (per neuron, state u, v, q zero at t = 0; q = refractory value):
    p      = (-1 + sqrt(1 - (dt*omega)^2)) / dt
    b      = p - b_offset - q[t-1]
    u[t]   = u[t-1] + dt*(b*u[t-1] - omega*v[t-1] + I[t])
    v[t]   = v[t-1] + dt*(omega*u[t-1] + b*v[t-1])
    z[t]   = (u[t] - theta) - q[t-1] > 0          (strict)
    q[t]   = 0.9*q[t-1] + z[t]
  Tools that ignore the tag see a damped linear oscillator (two integrators, rotation and
  damping loops with a one-step delay on the cycle edges), a Threshold without the
  refractory-driven threshold raise/damping, and the refractory trace as an inhibitory current
  -q on u (an approximation, not the BRF dynamics). b_offset is stored through the damping
  Scale: b_offset = p(omega) - damp_u.scale (float64 round-off, ~1e-16).

``se_adlif`` v1 — symplectic-Euler adaptive LIF (Baronig et al. 2025; zoo/neurons/se_adlif.py):
  nodes: input (Input) -> lif (LIF: tau = dt/(1-alpha), r = 1, v_threshold = theta, v_reset = 0,
         zoo.reset = zero) -> output (Output);
         lif -> jump_b (Scale, b) -> adaptation (LI: tau = dt/(1-beta), r = q, v_leak = 0)
         lif -> coupling_a (Scale, a) -> adaptation ; adaptation -> coupling (Scale, -1) -> lif
  exact semantics (per neuron, state u (post-reset), w, zero at t = 0):
    u'   = alpha*u[t-1] + (1-alpha)*(I[t] - w[t-1])
    z[t] = u' - theta > 0                          (strict)
    u[t] = u' * (1 - z[t])                         (zero reset, same step)
    w[t] = beta*w[t-1] + (1-beta)*q*(a*u[t] + b*z[t])   (symplectic: the NEW u[t], z[t])
  alpha = 1 - dt/tau_lif, beta = 1 - dt/tau_adaptation. Tools that ignore the tag see the
  a-coupling acting on spikes (a*z instead of a*u[t]) and the adaptation one step late.
"""
from __future__ import annotations

from typing import Any

import nir
import numpy as np
import torch

from exporters.nir.extensions import Extension, register_extension
from exporters.nir.io import NIRError

BRF = "brf"
SE_ADLIF = "se_adlif"
BRF_Q_DECAY = 0.9  # refractory decay of BRF v1 (zoo.neurons.brf.REFRACTORY_DECAY)


def _f(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def brf_p_omega(omega: np.ndarray, dt: float) -> np.ndarray:
    """Divergence boundary p(omega) = (-1 + sqrt(1 - (dt*omega)^2)) / dt (float64)."""
    return (-1.0 + np.sqrt(1.0 - (dt * _f(omega)) ** 2)) / dt


def brf_node(omega: np.ndarray, b_offset: np.ndarray, dt: float, theta: float | np.ndarray = 1.0) -> nir.NIRGraph:
    """The ``brf`` v1 subgraph for effective (non-negative) ``omega``, ``b_offset`` of shape (n,)."""
    omega, b_offset = _f(omega), _f(b_offset)
    n = omega.shape
    if np.any(dt * omega >= 1):
        raise NIRError(f"brf: dt*omega must be < 1 (got max {float(np.max(dt * omega)):.4g})")
    damp = brf_p_omega(omega, dt) - b_offset
    ones = np.ones(n)
    nodes = {
        "input": nir.Input(input_type={"input": np.array(n)}),
        "u": nir.I(r=ones.copy()),
        "v": nir.I(r=ones.copy()),
        "rot_vu": nir.Scale(scale=omega.copy()),
        "rot_uv": nir.Scale(scale=-omega),
        "damp_u": nir.Scale(scale=damp.copy()),
        "damp_v": nir.Scale(scale=damp.copy()),
        "spike": nir.Threshold(threshold=np.broadcast_to(_f(theta), n).copy()),
        "refractory": nir.LI(tau=np.full(n, dt / (1 - BRF_Q_DECAY)), r=np.full(n, 1 / (1 - BRF_Q_DECAY)),
                             v_leak=np.zeros(n)),
        "q_inhib": nir.Scale(scale=-ones),
        "output": nir.Output(output_type={"output": np.array(n)}),
    }
    edges = [("input", "u"), ("u", "spike"), ("spike", "output"), ("u", "rot_vu"), ("rot_vu", "v"),
             ("v", "rot_uv"), ("rot_uv", "u"), ("u", "damp_u"), ("damp_u", "u"), ("v", "damp_v"),
             ("damp_v", "v"), ("spike", "refractory"), ("refractory", "q_inhib"), ("q_inhib", "u")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"zoo.neuron": BRF, "zoo.version": 1})


def _sub(node: nir.NIRGraph, name: str, ext: str, keys: tuple[str, ...]) -> list[nir.NIRNode]:
    try:
        return [node.nodes[k] for k in keys]
    except KeyError as exc:
        raise NIRError(f"node {name!r}: {ext} extension lacks sub-node {exc}") from None


def brf_params(node: nir.NIRGraph, name: str = "", dt: float | None = None) -> dict[str, Any]:
    """Parameters of a ``brf`` subgraph: omega, b_offset, theta (arrays (n,)) and the dt the
    subgraph was written with (from the refractory LI: dt = tau*(1 - 0.9))."""
    rot, damp, spike, refr = _sub(node, name, BRF, ("rot_vu", "damp_u", "spike", "refractory"))
    omega = _f(rot.scale).ravel()
    tau_q = _f(refr.tau).ravel()
    dt_node = float(tau_q[0] * (1 - BRF_Q_DECAY))
    if not np.allclose(tau_q * (1 - BRF_Q_DECAY), dt_node, rtol=1e-9) or \
            not np.allclose(_f(refr.r).ravel() * (1 - BRF_Q_DECAY), 1.0, rtol=1e-9):
        raise NIRError(f"node {name!r}: brf refractory LI must encode q = 0.9 q + z")
    if dt is not None and not np.isclose(dt, dt_node, rtol=1e-9):
        raise NIRError(f"node {name!r}: brf subgraph written for dt={dt_node:.6g}, graph dt={dt:.6g}")
    b_offset = brf_p_omega(omega, dt_node) - np.broadcast_to(_f(damp.scale), omega.shape)
    theta = np.broadcast_to(_f(spike.threshold), omega.shape).copy()
    return {"omega": omega, "b_offset": b_offset, "theta": theta, "dt": dt_node}


def brf_step(p: dict, st: dict, inp: torch.Tensor, dt: float) -> torch.Tensor:
    """One exact ``brf`` step (see module docstring); ``st`` holds v (= u, real part), im, q."""
    if not st:
        if abs(float(p["dt"]) - dt) > 1e-9 * dt:
            raise NIRError(f"brf subgraph written for dt={float(p['dt']):.6g}, run with dt={dt:.6g}")
        st.update(v=torch.zeros_like(inp), im=torch.zeros_like(inp), q=torch.zeros_like(inp))
    om = p["omega"]
    pw = (-1.0 + torch.sqrt(1.0 - (dt * om) ** 2)) / dt
    u, v, q = st["v"], st["im"], st["q"]
    b = pw - p["b_offset"] - q
    u_new = u + dt * (b * u - om * v + inp)
    v_new = v + dt * (om * u + b * v)
    z = (u_new - p["theta"] - q > 0).to(inp.dtype)
    st.update(v=u_new, im=v_new, q=BRF_Q_DECAY * q + z)
    return z


def se_adlif_node(alpha: np.ndarray, beta: np.ndarray, a: np.ndarray, b: np.ndarray, dt: float, q: float = 120.0,
                  theta: float | np.ndarray = 1.0) -> nir.NIRGraph:
    """The ``se_adlif`` v1 subgraph from effective alpha, beta, a, b (shape (n,))."""
    alpha, beta, a, b = _f(alpha), _f(beta), _f(a), _f(b)
    n = alpha.shape
    if np.any(alpha >= 1) or np.any(beta >= 1) or np.any(alpha < 0) or np.any(beta < 0):
        raise NIRError("se_adlif: alpha and beta must be in [0, 1)")
    zeros = np.zeros(n)
    nodes = {
        "input": nir.Input(input_type={"input": np.array(n)}),
        "lif": nir.LIF(tau=dt / (1 - alpha), r=np.ones(n), v_leak=zeros.copy(),
                       v_threshold=np.broadcast_to(_f(theta), n).copy(), v_reset=zeros.copy(),
                       metadata={"zoo.reset": "zero"}),
        "jump_b": nir.Scale(scale=b.copy()),
        "coupling_a": nir.Scale(scale=a.copy()),
        "adaptation": nir.LI(tau=dt / (1 - beta), r=np.full(n, float(q)), v_leak=zeros.copy()),
        "coupling": nir.Scale(scale=-np.ones(n)),
        "output": nir.Output(output_type={"output": np.array(n)}),
    }
    edges = [("input", "lif"), ("lif", "output"), ("lif", "jump_b"), ("jump_b", "adaptation"),
             ("lif", "coupling_a"), ("coupling_a", "adaptation"), ("adaptation", "coupling"), ("coupling", "lif")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"zoo.neuron": SE_ADLIF, "zoo.version": 1})


def se_adlif_params(node: nir.NIRGraph, name: str = "", dt: float | None = None) -> dict[str, Any]:
    """Parameters of a ``se_adlif`` subgraph. ``dt_over_tau`` are kept as written (1 - alpha,
    1 - beta); alpha, beta are recomputed from the graph dt at run time."""
    lif, jb, ca, ad = _sub(node, name, SE_ADLIF, ("lif", "jump_b", "coupling_a", "adaptation"))
    reset = (lif.metadata or {}).get("zoo.reset", "zero")
    reset = reset.decode() if isinstance(reset, bytes) else str(reset)
    if reset != "zero" or np.any(_f(lif.v_reset) != 0) or np.any(_f(lif.v_leak) != 0) or np.any(_f(lif.r) != 1):
        raise NIRError(f"node {name!r}: se_adlif lif must have zero reset to 0, v_leak = 0, r = 1")
    q = np.unique(_f(ad.r))
    if q.size != 1:
        raise NIRError(f"node {name!r}: se_adlif adaptation r (= q) must be one value")
    shape = _f(lif.tau).ravel().shape
    return {"tau_u": _f(lif.tau).ravel(), "tau_w": _f(ad.tau).ravel(),
            "a": np.broadcast_to(_f(ca.scale), shape).copy(), "b": np.broadcast_to(_f(jb.scale), shape).copy(),
            "q": float(q[0]), "theta": np.broadcast_to(_f(lif.v_threshold), shape).copy()}


def se_adlif_coeffs(p: dict, dt: float) -> tuple[Any, Any]:
    """(alpha, beta) = (1 - dt/tau_u, 1 - dt/tau_w)."""
    return 1.0 - dt / p["tau_u"], 1.0 - dt / p["tau_w"]


def se_adlif_step(p: dict, st: dict, inp: torch.Tensor, dt: float) -> torch.Tensor:
    """One exact ``se_adlif`` step (see module docstring); ``st`` holds v (= post-reset u), w."""
    if not st:
        st.update(v=torch.zeros_like(inp), w=torch.zeros_like(inp))
    alpha, beta = se_adlif_coeffs(p, dt)
    u = alpha * st["v"] + (1.0 - alpha) * (inp - st["w"])
    z = (u - p["theta"] > 0).to(inp.dtype)
    u = u * (1.0 - z)
    st["w"] = beta * st["w"] + (1.0 - beta) * p["q"] * (p["a"] * u + p["b"] * z)
    st["v"] = u
    return z


register_extension(Extension(BRF, 1, True, brf_params, brf_step))
register_extension(Extension(SE_ADLIF, 1, True, se_adlif_params, se_adlif_step))
