"""Symplectic-Euler adaptive LIF (SE-adLIF; Baronig et al., Nat. Commun. 2025), from the public
code as summarised in docs/papers.md §4 (tag [code]); Norse-style: pure functions +
``SEAdLIFParameters`` + ``SEAdLIFCell``.

Exact discrete update (one step = one time unit, dt = 1; u, w dimensionless, threshold 1).
Per neuron, state (u, w), zero at t = 0::

    alpha = exp(-1/tau_u),  beta = exp(-1/tau_w)     # tau_u in [5, 25], tau_w in [60, 300] steps
    u[t] = alpha*u[t-1] + (1-alpha)*(I[t] - w[t-1])   # I[t] = W x[t] + V z[t-1]
    z[t] = 1 if u[t] - theta > 0 else 0               # strict '>', theta = 1
    u[t] = u[t]*(1 - z[t])                            # reset to zero, same step
    w[t] = beta*w[t-1] + (1-beta)*q*(a*u[t] + b*z[t]) # symplectic: uses the NEW (reset) u[t], z[t]

with a in [0, 1], b in [0, 2], q = 120 (fixed). Surrogate: SLAYER exponential
``0.4 * 5/2 * exp(-5|x|)`` (constants ours). The reset path keeps its surrogate gradient.

State vector used by the learning rules (``SEAdLIFCell.STATE``): h[t] = (v[t], w[t]) with
v[t] the membrane *before* the reset of step t, so that z[t] = H(v[t] - theta) is a function of
the current state only; then u[t] = v[t]*(1 - z[t]) and the next step uses it. A Lava process
can store the post-reset u instead: both give the same spikes.

Trainable per-neuron parameters (state_dict names inside a model): ``<cell>.tau_u``,
``<cell>.tau_w``, ``<cell>.a``, ``<cell>.b`` (clamped to the ranges above in ``effective``).

This module is the whole neuron (docs/architecture.md): the ``se_adlif`` v1 NIR subgraph, the
step every back-end runs (:func:`step`: :func:`membrane`, :func:`adapt`, over numpy or torch and
float or Loihi numerics), its Loihi format (:func:`quantize`: 23-bit coefficients, u at U, w at
U/4) and ``DESCRIPTOR``; the torch cell below calls the same :func:`membrane` / :func:`adapt`.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import nir
import numpy as np
import torch
from torch import nn

from zoo.neurons.descriptor import FixedFormat, NeuronDescriptor, NeuronError, Param
from zoo.neurons.local_cell import LocalCell, LocalJacobians
from zoo.neurons.registry import register
from zoo.neurons.surrogate import heaviside, slayer_grad
from zoo.numerics import COEF_FRAC, FLOAT, shl, shr0

NAME = "se_adlif"
W_SHIFT = 2  # w stored at U/4 state units (4x range; docs/architecture.md "SE-adLIF")


def membrane(num: Any, p: dict, u: Any, w: Any, i: Any) -> Any:
    """u' = alpha u + (1 - alpha)(I - w)   (Loihi: sat(shr0(Ca u + C1a (I - (w << 2)), F)))."""
    if num.fixed:
        return num.sat(shr0(p["Ca"] * u + p["C1a"] * (i - shl(w, W_SHIFT)), COEF_FRAC))
    return p["alpha"] * u + (1.0 - p["alpha"]) * (i - w)


def adapt(num: Any, p: dict, w: Any, u: Any, z: Any) -> Any:
    """w' = beta w + (1 - beta) q (a u + b z) with this step's post-reset u and spike z
    (Loihi: sat(shr0(Cb w + Cw u, F) + JB z))."""
    if num.fixed:
        return num.sat(shr0(p["Cb"] * w + p["Cw"] * u, COEF_FRAC) + p["JB"] * z)
    return p["beta"] * w + (1.0 - p["beta"]) * p["q"] * (p["a"] * u + p["b"] * z)


def step(xp: Any, num: Any, p: dict, state: dict, i: Any) -> Any:
    """One SE-adLIF step (state v = post-reset membrane u, w); returns z (strict u' > theta)."""
    u = membrane(num, p, state["v"], state["w"], i)
    z = num.spike(u - (p["TH"] if num.fixed else p["theta"]))
    u = u * (1 - z)
    state["w"], state["v"] = adapt(num, p, state["w"], u, z), u
    return z


def coefficients(xp: Any, nirp: dict, dt: float) -> dict:
    """alpha = 1 - dt/tau_u, beta = 1 - dt/tau_w, and a, b, q, theta as written."""
    alpha, beta = 1.0 - dt / nirp["tau_u"], 1.0 - dt / nirp["tau_w"]
    if xp is np and (np.any(alpha < 0) or np.any(beta < 0)):
        raise NeuronError("se_adlif: dt/tau > 1 (time constant shorter than the step)")
    return {"alpha": alpha, "beta": beta, "a": nirp["a"], "b": nirp["b"], "q": nirp["q"], "theta": nirp["theta"]}


def quantize(p: dict, U: float, name: str = "") -> tuple[dict, list[str]]:
    """Integer parameters (F-bit coefficients rounded); u at U state units, w at U/4 (``W_SHIFT``)."""
    F = COEF_FRAC
    r = lambda x: np.round(np.asarray(x, float) * 2 ** F).astype(np.int64)  # noqa: E731
    q = {"Ca": r(p["alpha"]), "C1a": r(1.0 - p["alpha"]), "Cb": r(p["beta"]),
         "Cw": r((1.0 - p["beta"]) * p["q"] * p["a"] / 2 ** W_SHIFT),
         "JB": np.round((1.0 - p["beta"]) * p["q"] * p["b"] * U / 2 ** W_SHIFT).astype(np.int64),
         "TH": np.round(p["theta"] * U).astype(np.int64)}
    return q, [f"se_adlif: {F}-bit coefficients (rounded), state units U = {U:.6g} per float unit (u), "
               f"U/{2 ** W_SHIFT} (w)"]


def nir_node(alpha: np.ndarray, beta: np.ndarray, a: np.ndarray, b: np.ndarray, dt: float, q: float = 120.0,
             theta: float | np.ndarray = 1.0) -> nir.NIRGraph:
    """The ``se_adlif`` v1 subgraph (docs/nir-extensions.md) from effective alpha, beta, a, b (n,)."""
    alpha, beta, a, b = (np.asarray(x, np.float64) for x in (alpha, beta, a, b))
    n = alpha.shape
    if np.any(alpha >= 1) or np.any(beta >= 1) or np.any(alpha < 0) or np.any(beta < 0):
        raise NeuronError("se_adlif: alpha and beta must be in [0, 1)")
    zeros = np.zeros(n)
    nodes = {
        "input": nir.Input(input_type={"input": np.array(n)}),
        "lif": nir.LIF(tau=dt / (1 - alpha), r=np.ones(n), v_leak=zeros.copy(),
                       v_threshold=np.broadcast_to(np.asarray(theta, np.float64), n).copy(), v_reset=zeros.copy(),
                       metadata={"zoo.reset": "zero"}),
        "jump_b": nir.Scale(scale=b.copy()), "coupling_a": nir.Scale(scale=a.copy()),
        "adaptation": nir.LI(tau=dt / (1 - beta), r=np.full(n, float(q)), v_leak=zeros.copy()),
        "coupling": nir.Scale(scale=-np.ones(n)),
        "output": nir.Output(output_type={"output": np.array(n)}),
    }
    edges = [("input", "lif"), ("lif", "output"), ("lif", "jump_b"), ("jump_b", "adaptation"),
             ("lif", "coupling_a"), ("coupling_a", "adaptation"), ("adaptation", "coupling"), ("coupling", "lif")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"zoo.neuron": NAME, "zoo.version": 1})


def nir_params(node: nir.NIRGraph, name: str = "") -> dict:
    """tau_u, tau_w, a, b, theta (n,) and q of a ``se_adlif`` subgraph (validated)."""
    try:
        lif, jb, ca, ad = (node.nodes[k] for k in ("lif", "jump_b", "coupling_a", "adaptation"))
    except KeyError as exc:
        raise NeuronError(f"node {name!r}: se_adlif extension lacks sub-node {exc}") from None
    f = lambda x: np.asarray(x, np.float64)  # noqa: E731
    reset = (lif.metadata or {}).get("zoo.reset", "zero")
    reset = reset.decode() if isinstance(reset, bytes) else str(reset)
    if reset != "zero" or np.any(f(lif.v_reset) != 0) or np.any(f(lif.v_leak) != 0) or np.any(f(lif.r) != 1):
        raise NeuronError(f"node {name!r}: se_adlif lif must have zero reset to 0, v_leak = 0, r = 1")
    q = np.unique(f(ad.r))
    if q.size != 1:
        raise NeuronError(f"node {name!r}: se_adlif adaptation r (= q) must be one value")
    shape = f(lif.tau).ravel().shape
    return {"tau_u": f(lif.tau).ravel(), "tau_w": f(ad.tau).ravel(),
            "a": np.broadcast_to(f(ca.scale), shape).copy(), "b": np.broadcast_to(f(jb.scale), shape).copy(),
            "q": float(q[0]), "theta": np.broadcast_to(f(lif.v_threshold), shape).copy()}


DESCRIPTOR = register(NeuronDescriptor(
    NAME, 1, params={"tau_u": Param("s"), "tau_w": Param("s"), "a": Param("1"), "b": Param("1"),
                     "q": Param("1", "scalar"), "theta": Param("1")},
    state=("v", "w"), step=step, coefficients=coefficients, quantize=quantize, nir_node=nir_node,
    nir_params=nir_params, fixed=FixedFormat(coef_bits=COEF_FRAC, state_shift={"w": W_SHIFT}), reset="zero",
    aliases=("seadlif", "SEAdLIF"), doc="symplectic-Euler adaptive LIF (Baronig et al. 2025)"))


class SEAdLIFParameters(NamedTuple):
    """Effective SE-adLIF parameters, each (N,): alpha = exp(-1/tau_u), beta = exp(-1/tau_w), a, b."""

    alpha: torch.Tensor
    beta: torch.Tensor
    a: torch.Tensor
    b: torch.Tensor
    q: float = 120.0
    theta: float = 1.0


def se_adlif_spike(h: torch.Tensor, p: SEAdLIFParameters) -> torch.Tensor:
    """z = H(v - theta) on the stacked state (..., N, 2) = (v, w)."""
    return heaviside(h[..., 0] - p.theta, slayer_grad)


def se_adlif_step(h: torch.Tensor, i: torch.Tensor, p: SEAdLIFParameters) -> torch.Tensor:
    """One symplectic-Euler step on the stacked state (..., N, 2) = (v pre-reset, w)."""
    v, w = h[..., 0], h[..., 1]
    coef = p._asdict()
    v_new = membrane(FLOAT, coef, v * (1.0 - se_adlif_spike(h, p)), w, i)
    z = heaviside(v_new - p.theta, slayer_grad)
    w_new = adapt(FLOAT, coef, w, v_new * (1.0 - z), z)
    return torch.stack((v_new, w_new), dim=-1)


def se_adlif_jacobians(h_prev: torch.Tensor, i: torch.Tensor, h: torch.Tensor, p: SEAdLIFParameters) -> LocalJacobians:
    """Exact neuron-local derivatives of :func:`se_adlif_step` / :func:`se_adlif_spike`."""
    v, w = h_prev[..., 0], h_prev[..., 1]
    vn = h[..., 0]
    al, be, a, b, q = p.alpha, p.beta, p.a, p.b, p.q
    z_prev = (v - p.theta > 0).to(v.dtype)
    g_prev = slayer_grad(v - p.theta)
    z = (vn - p.theta > 0).to(v.dtype)
    g = slayer_grad(vn - p.theta)
    u_prev = v * (1 - z_prev)
    du_dv = 1 - z_prev - v * g_prev               # d u_prev / d v
    dvn_dv, dvn_dw = al * du_dv, -(1 - al) * torch.ones_like(v)
    dw_dvn = (1 - be) * q * (a * (1 - z) - a * vn * g + b * g)  # d w_new / d v_new (through u_new, z)
    J = torch.stack((
        torch.stack((dvn_dv, dvn_dw), -1),
        torch.stack((dw_dvn * dvn_dv, be + dw_dvn * dvn_dw), -1),
    ), dim=-2)
    bvec = torch.stack(((1 - al) * torch.ones_like(v), dw_dvn * (1 - al)), -1)
    dvn_dal = u_prev - (i - w)
    un = vn * (1 - z)
    zero = torch.zeros_like(v)
    c = torch.stack((
        torch.stack((dvn_dal, zero, zero, zero), -1),
        torch.stack((dw_dvn * dvn_dal, w - q * (a * un + b * z), (1 - be) * q * un, (1 - be) * q * z), -1),
    ), dim=-2)
    psi = torch.stack((g, zero), -1)
    return LocalJacobians(J, bvec, c, psi)


class SEAdLIFCell(LocalCell):
    """Population of N SE-adLIF neurons; trainable per-neuron tau_u, tau_w, a, b (clamped)."""

    STATE = ("v", "w")
    PARAMS = ("alpha", "beta", "a", "b")

    def __init__(self, n: int, tau_u: tuple[float, float] = (5.0, 25.0), tau_w: tuple[float, float] = (60.0, 300.0),
                 a: tuple[float, float] = (0.0, 1.0), b: tuple[float, float] = (0.0, 2.0), q: float = 120.0,
                 theta: float = 1.0) -> None:
        super().__init__(n)
        self.ranges = {"tau_u": tau_u, "tau_w": tau_w, "a": a, "b": b}
        self.q, self.theta = float(q), float(theta)
        self.tau_u = nn.Parameter(torch.empty(n).uniform_(*tau_u))
        self.tau_w = nn.Parameter(torch.empty(n).uniform_(*tau_w))
        self.a = nn.Parameter(torch.empty(n).uniform_(*a))
        self.b = nn.Parameter(torch.empty(n).uniform_(*b))

    def effective(self) -> tuple[torch.Tensor, ...]:
        r = self.ranges
        tau_u = self.tau_u.clamp(*r["tau_u"])
        tau_w = self.tau_w.clamp(*r["tau_w"])
        return (torch.exp(-1.0 / tau_u), torch.exp(-1.0 / tau_w), self.a.clamp(*r["a"]), self.b.clamp(*r["b"]))

    Parameters = SEAdLIFParameters
    step_fn, spike_fn, jacobians_fn = (staticmethod(f) for f in (se_adlif_step, se_adlif_spike, se_adlif_jacobians))

    def make_params(self, values: tuple[torch.Tensor, ...]) -> SEAdLIFParameters:
        al, be, a, b = values
        return SEAdLIFParameters(al, be, a, b, self.q, self.theta)
