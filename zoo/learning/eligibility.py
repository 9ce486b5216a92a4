"""Shared mechanics of online e-prop and HYPR for :class:`zoo.models.hypr.RecurrentSNN`.

Notation (per sample b, post-neuron j; S state variables per neuron, K outputs): the cell gives
per-step neuron-local Jacobians J_t = dh_t/dh_{t-1} (S x S), b_t = dh_t/dI_t, c_t = dh_t/dtheta
and psi_t = dz_t/dh_t (:mod:`zoo.neurons.local_cell`). The presynaptic vector of the hidden
layer is x~_t = [x_t, z_{t-1}] (I = n_in + N entries). e-prop keeps eligibilities

    eps_t = J_t eps_{t-1} + b_t x~_t^T         (S x I per post-neuron)
    F_t^k = kappa_k F_{t-1}^k + (1-kappa_k) psi_t^T eps_t     (readout-filtered, per output k)

and the gradient sum_t sum_k g_t^k w_out[k, j] F_t^k with g_t = dLoss/dy_t, the instantaneous
output error — everything is causal, so it runs online. We stack (eps, F) into one augmented
neuron-local linear system of size S^ = S + K:

    e^_t = J^_t e^_{t-1} + b^_t x~_t^T,   grad = sum_t delta^_t . e^_t,
    J^ = [[J, 0], [(1-kappa) psi^T J, diag(kappa)]],  b^ = [b; (1-kappa) psi.b],
    delta^ = [0; g^k w_out[k, j]]

(parameters theta use the same system with c^ in place of b^ x~^T). The LI readout itself is
the same kind of system with S = 1 (J = kappa, b = 1-kappa, input [z_t, 1], c = y_{t-1} - u_t);
its gradient is exact. The cut is the e-prop one: no gradient through w_rec @ z_{t-1}; the
result equals autograd on ``model(x, detach_recurrent=True)`` (offline e-prop).

* ``eprop_step``: online e-prop, one update of e^ per time step (cost B N I S^ per step).
* ``hypr_chunk``: HYPR over a sub-sequence of length lambda: forward over the chunk, then a
  backward neuron-local scan (adjoints a_t = delta^_t + J^_{t+1}^T a_{t+1} and transition
  products M_t = J^_L ... J^_{t+1}; cost B N S^2 per step) and one matmul over the chunk
  for the gradient (sum_t (a_t . b^_t) x~_t^T) and for the carried eligibility
  (e^_L = M_0 J^_0 e^_0 + sum_t (M_t b^_t) x~_t^T). Exactly equal to e-prop for any lambda.

The backward recursions are linear with per-neuron S x S matrices, V_t = src_t + A_t V_{t+1}
(A_t = J_{t+1}^T), i.e. the composition of affine maps (A_t, src_t). :func:`suffix_scan` evaluates
them as an associative, work-efficient parallel-prefix scan: 2 ceil(log2 L) rounds, each one
batched matmul over (part of) the chunk (work O(L), about twice the loop's arithmetic; depth
O(log L) instead of O(L)). ``backward="loop"`` keeps the sequential recursion as the reference; both give the same
numbers up to float rounding (tests/test_hypr_scan.py).
"""
from __future__ import annotations

import math
from typing import Any

import torch

from zoo.learning.base import make_optimizer, time_first
from zoo.tasks import Task
from zoo.tasks.seqlabel import masked_nll_grad


# ----------------------------------------------------------------------------- generic systems
BACKWARDS = ("scan", "loop")


def _suffix_affine(A: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """V[n-1] = s[n-1], V[t] = s[t] + A[t] @ V[t+1], by a work-efficient associative scan over
    the affine maps (A[t], s[t]) (composition (A, s) o (A', s') = (A A', s + A s')): neighbours
    (2i, 2i+1) are combined in one batched matmul, the half-length problem is solved
    recursively (it gives V at the even steps), and the odd steps are filled in with one more
    batched matmul. Depth 2 ceil(log2 n) rounds, O(n) work (Blelloch / Ladner-Fischer).
    A: (n-1, ..., S, S), s: (n, ..., S, C)."""
    n = s.shape[0]
    if n == 1:
        return s
    m, k = n // 2, (n - 1) // 2  # pairs; odd steps that are not the last step
    sr = s[0::2].clone()  # ceil(n/2) reduced steps: pair (2i, 2i+1) -> s[2i] + A[2i] s[2i+1]
    sr[:m] += A[0:2 * m:2] @ s[1:2 * m:2]
    Ar = A[0:2 * k:2] @ A[1:2 * k:2]  # (ceil(n/2) - 1) reduced transitions A[2i] A[2i+1]
    V = torch.empty_like(s)
    V[0::2] = Vr = _suffix_affine(Ar, sr)
    V[1:2 * k:2] = s[1:2 * k:2] + A[1:2 * k:2] @ Vr[1:k + 1]
    if n % 2 == 0:
        V[n - 1] = s[n - 1]
    return V


def suffix_scan(A: torch.Tensor, src: torch.Tensor, backward: str = "scan") -> torch.Tensor:
    """Solve the backward linear recurrence V[L-1] = src[L-1], V[t] = src[t] + A[t] @ V[t+1].

    A: (L-1, ..., S, S) (A[t] maps V[t+1] to step t), src: (L, ..., S, C); returns V like src.
    ``backward="scan"``: associative parallel-prefix scan (:func:`_suffix_affine`),
    2 ceil(log2 L) rounds of one batched matmul each, about twice the loop's arithmetic.
    ``"loop"``: the sequential recursion (L - 1 small matmuls)."""
    if backward not in BACKWARDS:
        raise ValueError(f"backward must be one of {BACKWARDS}, got {backward!r}")
    if backward == "scan":
        return _suffix_affine(A, src)
    L = src.shape[0]
    V = torch.empty_like(src)
    V[L - 1] = src[L - 1]
    for t in range(L - 2, -1, -1):
        V[t] = src[t] + A[t] @ V[t + 1]
    return V


def eprop_step(J, bx, x, c, delta, eps, epsp, gW, gP):
    """One online e-prop step for a block-diagonal system. Shapes: J (B,N,S,S), bx (B,N,S),
    x (B,I), c (B,N,S,P), delta (B,N,S), eps (B,N,I,S), epsp (B,N,P,S); gW (N,I), gP (N,P)
    accumulate in place. Returns the new (eps, epsp)."""
    eps = torch.einsum("bnrs,bnis->bnir", J, eps) + bx[:, :, None, :] * x[:, None, :, None]
    epsp = torch.einsum("bnrs,bnps->bnpr", J, epsp) + c.transpose(-1, -2)
    gW += torch.einsum("bnir,bnr->ni", eps, delta)
    gP += torch.einsum("bnpr,bnr->np", epsp, delta)
    return eps, epsp


def hypr_chunk(J, bx, x, c, delta, eps, epsp, gW, gP, backward: str = "scan"):
    """HYPR over one chunk (leading dim L = chunk length) of a block-diagonal system; same
    shapes as :func:`eprop_step` with a leading L. Returns the carried (eps, epsp).
    ``backward``: ``"scan"`` (parallel prefix, :func:`suffix_scan`) or ``"loop"``."""
    L, S = J.shape[0], J.shape[-1]
    Jt = J.transpose(-1, -2)
    # neuron-local backward scan of [a | M^T]: a_t = delta_t + J_{t+1}^T a_{t+1}, M_t^T = J_{t+1}^T M_{t+1}^T
    src = torch.zeros(delta.shape + (1 + S,), dtype=J.dtype)
    src[..., 0] = delta
    src[L - 1, ..., 1:] = torch.eye(S, dtype=J.dtype)
    V = suffix_scan(Jt[1:], src, backward)
    a, M = V[..., 0], V[..., 1:].transpose(-1, -2)
    a0J = (Jt[0] @ a[0][..., None])[..., 0]  # a_0^T J_0 (B,N,S)
    M0 = M[0] @ J[0]  # transition from the carried state to the chunk end
    gW += torch.einsum("bnr,bnir->ni", a0J, eps)
    gW += torch.einsum("lbn,lbi->ni", (a * bx).sum(-1), x)  # one matmul over (L*B)
    gP += torch.einsum("bnr,bnpr->np", a0J, epsp) + torch.einsum("lbnsp,lbns->np", c, a)
    Mb = (M @ bx[..., None])[..., 0]
    eps = torch.einsum("bnrs,bnis->bnir", M0, eps) + torch.einsum("lbnr,lbi->bnir", Mb, x)
    epsp = torch.einsum("bnrs,bnps->bnpr", M0, epsp) + torch.einsum("lbnrs,lbnsp->bnpr", M, c)
    return eps, epsp


# ----------------------------------------------------------------------------- hidden layer + LI readout
def _decay_matrix(kappa: torch.Tensor, L: int) -> torch.Tensor:
    """P[k, t, u] = kappa_k^(u - t) for u >= t else 0  (K, L, L)."""
    d = torch.arange(L, dtype=kappa.dtype)
    diff = d[None, :] - d[:, None]
    return torch.where(diff >= 0, kappa[:, None, None] ** diff.clamp(min=0), torch.zeros((), dtype=kappa.dtype))


def hidden_eprop_step(J, b, c, psi, x, dF, kappa, st, gW, gP):
    """Online e-prop step of the hidden layer with the readout-filtered traces kept separately:
    eps = J eps + b x^T; F^k = kappa_k F^k + (1-kappa_k) psi^T eps; grad += sum_k dF^k F^k.
    st = [eps (B,N,I,S), epsp (B,N,P,S), F (B,N,I,K), Fp (B,N,P,K)] (updated in place)."""
    eps, epsp, F, Fp = st
    om = 1 - kappa
    eps = torch.einsum("bnrs,bnis->bnir", J, eps) + b[:, :, None, :] * x[:, None, :, None]
    epsp = torch.einsum("bnrs,bnps->bnpr", J, epsp) + c.transpose(-1, -2)
    F = kappa * F + om * torch.einsum("bnis,bns->bni", eps, psi)[..., None]
    Fp = kappa * Fp + om * torch.einsum("bnps,bns->bnp", epsp, psi)[..., None]
    gW += torch.einsum("bnik,bnk->ni", F, dF)
    gP += torch.einsum("bnpk,bnk->np", Fp, dF)
    st[:] = [eps, epsp, F, Fp]


def hidden_hypr_chunk(J, b, c, psi, x, dF, kappa, st, gW, gP, backward: str = "scan"):
    """HYPR over one chunk (leading dim L) of the hidden layer; exactly the sum of L
    :func:`hidden_eprop_step` calls. One backward neuron-local scan of
    V_t = Src_t + J_{t+1}^T V_{t+1} on V = [a | R | M^T] (S x (1+K+S) per neuron):
    a = adjoint of the loss, R^k = adjoint of the carried readout trace F^k, M^T = transition
    to the chunk end (:func:`suffix_scan`, ``backward="scan"`` or ``"loop"``); then one matmul
    over (L*B) for the gradient and the carried traces."""
    eps, epsp, F, Fp = st
    L, B, N, S = b.shape
    K = kappa.shape[0]
    om = 1 - kappa
    Pm = _decay_matrix(kappa, L)  # (K,L,L)
    aF = torch.einsum("ktu,ubnk->tbnk", Pm, dF)  # adjoint of F inside the chunk
    ell = (aF * om).sum(-1)  # (L,B,N)
    C = 1 + K + S
    src = torch.zeros(L, B, N, S, C, dtype=J.dtype)
    src[..., 0] = psi * ell[..., None]
    powk = kappa[None, :] ** torch.arange(L - 1, -1, -1, dtype=J.dtype)[:, None]  # (L,K) kappa^(L-1-t)
    src[..., 1:1 + K] = psi[..., None] * (powk * om)[:, None, None, None, :]
    src[L - 1, ..., 1 + K:] = torch.eye(S, dtype=J.dtype)
    Jt = J.transpose(-1, -2)
    V = suffix_scan(Jt[1:], src, backward)
    V0 = Jt[0] @ V[0]  # sensitivity of everything to the carried state eps_{-1}
    Q = (V * b[..., None]).sum(-2)  # (L,B,N,C) = V_t^T b_t
    big = torch.einsum("lbnc,lbi->bnic", Q, x)  # one matmul over the chunk
    Qc = torch.einsum("lbnsp,lbnsc->bnpc", c, V)
    carried = torch.einsum("bnis,bnsc->bnic", eps, V0)
    carried_p = torch.einsum("bnps,bnsc->bnpc", epsp, V0)
    kaF0 = kappa * aF[0]  # (B,N,K)
    gW += big[..., 0].sum(0) + carried[..., 0].sum(0) + torch.einsum("bnik,bnk->ni", F, kaF0)
    gP += Qc[..., 0].sum(0) + carried_p[..., 0].sum(0) + torch.einsum("bnpk,bnk->np", Fp, kaF0)
    kL = kappa ** L
    F_new = kL * F + big[..., 1:1 + K] + carried[..., 1:1 + K]
    Fp_new = kL * Fp + Qc[..., 1:1 + K] + carried_p[..., 1:1 + K]
    eps_new = big[..., 1 + K:] + carried[..., 1 + K:]
    epsp_new = Qc[..., 1 + K:] + carried_p[..., 1 + K:]
    st[:] = [eps_new, epsp_new, F_new, Fp_new]


class EpropGradient:
    """Computes the e-prop gradient of a RecurrentSNN on one batch, either step by step
    (``lam=None``: online e-prop) or chunkwise with sub-sequence length ``lam`` (HYPR), and
    writes it into ``param.grad``. Returns the mean loss. ``backward`` (HYPR only): the chunk's
    backward recursions as a parallel-prefix scan (``"scan"``, default) or the sequential
    reference loop (``"loop"``); :func:`suffix_scan`."""

    def __init__(self, model, lam: int | None = None, backward: str = "scan") -> None:
        if backward not in BACKWARDS:
            raise ValueError(f"backward must be one of {BACKWARDS}, got {backward!r}")
        self.model, self.lam, self.backward = model, lam, backward

    @torch.no_grad()
    def _forward(self, xs, h, z, y, theta, kappa):
        m = self.model
        Hp, Hn, Is, Zp = [], [], [], []
        i_in = xs @ m.w_in.t()
        for t in range(xs.shape[0]):
            i = i_in[t] + z @ m.w_rec.t()
            hn = m.cell.step(h, i, theta)
            Hp.append(h); Hn.append(hn); Is.append(i); Zp.append(z)
            z = m.cell.spike(hn, theta)
            h = hn
        st = torch.stack
        Hp, Hn, Is, Zp = st(Hp), st(Hn), st(Is), st(Zp)
        Zs = torch.cat((Zp[1:], z[None]), 0)
        Xs = torch.cat((xs, Zp), -1)
        Us = Zs @ m.w_out.t() + m.b_out
        L = xs.shape[0]
        om = 1 - kappa
        Pm = _decay_matrix(kappa, L)  # y_u = kappa^(u+1) y_-1 + sum_t<=u kappa^(u-t) (1-kappa) U_t
        Ys = torch.einsum("ktu,tbk->ubk", Pm, Us * om) + kappa ** torch.arange(1, L + 1, dtype=kappa.dtype)[:, None, None] * y
        Yp = torch.cat((y[None], Ys[:-1]), 0)
        return (Hp, Is, Hn, Xs, Zs, Yp, Us, Ys), (h, z, Ys[-1])

    def __call__(self, inputs: torch.Tensor, targets: torch.Tensor) -> float:
        m = self.model
        x, tgt = time_first(inputs).to(m.w_in.dtype), time_first(targets)
        T, B = x.shape[:2]
        N, K, nin = m.n_hidden, m.n_outputs, m.n_inputs
        S, dt = m.cell.state_size, m.w_in.dtype
        theta_g = m.cell.effective()
        kappa_g = m.kappa()
        theta = m.cell.params(tuple(t.detach() for t in theta_g))
        kappa = kappa_g.detach()
        P = len(theta_g)
        I = nin + N
        n_lab = int((tgt >= 0).sum())
        h, z, y = m.cell.init_state(B, dt), torch.zeros(B, N, dtype=dt), torch.zeros(B, K, dtype=dt)
        st = [torch.zeros(B, N, I, S, dtype=dt), torch.zeros(B, N, P, S, dtype=dt),
              torch.zeros(B, N, I, K, dtype=dt), torch.zeros(B, N, P, K, dtype=dt)]
        eo = torch.zeros(B, K, N + 1, 1, dtype=dt)
        eop = torch.zeros(B, K, 1, 1, dtype=dt)
        gW, gP = torch.zeros(N, I, dtype=dt), torch.zeros(N, P, dtype=dt)
        gWo, gPo = torch.zeros(K, N + 1, dtype=dt), torch.zeros(K, 1, dtype=dt)
        loss = 0.0
        lam = self.lam or 1
        wout_t = m.w_out.detach().t()
        with torch.no_grad():
            for s in range(0, T, lam):
                (Hp, Is, Hn, Xs, Zs, Yp, Us, Ys), (h, z, y) = self._forward(x[s:s + lam], h, z, y, theta, kappa)
                g, nll = masked_nll_grad(Ys, tgt[s:s + lam], n_lab)  # (L,B,K)
                loss += float(nll)
                J, b, c, psi = m.cell.jacobians(Hp, Is, Hn, theta)
                dF = g[:, :, None, :] * wout_t  # (L,B,N,K) = g^k w_out[k, n]
                L = Zs.shape[0]
                ro = (kappa.expand(L, B, K)[..., None, None], (1 - kappa).expand(L, B, K)[..., None],
                      torch.cat((Zs, torch.ones(L, B, 1, dtype=dt)), -1), (Yp - Us)[..., None, None], g[..., None])
                if self.lam is None:
                    hidden_eprop_step(J[0], b[0], c[0], psi[0], Xs[0], dF[0], kappa, st, gW, gP)
                    eo, eop = eprop_step(*(v[0] for v in ro), eo, eop, gWo, gPo)
                else:
                    hidden_hypr_chunk(J, b, c, psi, Xs, dF, kappa, st, gW, gP, self.backward)
                    eo, eop = hypr_chunk(*ro, eo, eop, gWo, gPo, self.backward)
        _accumulate(m.w_in, gW[:, :nin])
        _accumulate(m.w_rec, gW[:, nin:])
        _accumulate(m.w_out, gWo[:, :N])
        _accumulate(m.b_out, gWo[:, N])
        torch.autograd.backward(list(theta_g) + [kappa_g], [gP[:, p] for p in range(P)] + [gPo[:, 0]])
        return loss / n_lab


def _accumulate(p: torch.nn.Parameter, g: torch.Tensor) -> None:
    p.grad = g.clone() if p.grad is None else p.grad + g


# ----------------------------------------------------------------------------- learners
class GradientLearner:
    """Optimizer, optional linear learning-rate decay to ``lr_final_frac*lr`` over
    ``total_steps`` optimizer steps, gradient clipping; subclasses fill ``param.grad``.
    ``learn``: names of the parameters to train (default: all), e.g. the synaptic weights only,
    as the rules do inside Lava."""

    def __init__(self, model: torch.nn.Module, task: Task, optimizer: str = "adam", lr: float = 1e-2,
                 total_steps: int | None = None, lr_final_frac: float = 0.0, grad_clip: float | None = None,
                 learn: list[str] | None = None, **opt_kw: Any) -> None:
        self.model, self.task, self.grad_clip = model, task, grad_clip
        named = dict(model.named_parameters())
        unknown = sorted(set(learn or ()) - set(named))
        if unknown:
            raise ValueError(f"learn: {unknown} are not parameters of the model (it has {sorted(named)})")
        params = [named[n] for n in learn] if learn is not None else list(named.values())
        self.optimizer = make_optimizer(params, optimizer, lr, **opt_kw)
        self.scheduler = None
        if total_steps:
            f = float(lr_final_frac)
            self.scheduler = torch.optim.lr_scheduler.LambdaLR(
                self.optimizer, lambda k: max(f, 1.0 - (1.0 - f) * k / total_steps))

    def compute_grads(self, inputs: torch.Tensor, targets: torch.Tensor) -> float:
        raise NotImplementedError

    def step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, float]:
        inputs, targets = batch
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.compute_grads(inputs, targets)
        if self.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        return {"loss": float(loss)}

    def state_dict(self) -> dict[str, Any]:
        out = {"optimizer": self.optimizer.state_dict()}
        if self.scheduler is not None:
            out["scheduler"] = self.scheduler.state_dict()
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and "scheduler" in state:
            self.scheduler.load_state_dict(state["scheduler"])


class AutogradReference(GradientLearner):
    """BPTT (``detach_recurrent=False``) or offline e-prop (``True``) by autograd, with the same
    optimizer/schedule as the online rules (for tests and benchmarks)."""

    def __init__(self, model, task, detach_recurrent: bool = False, **kw: Any) -> None:
        super().__init__(model, task, **kw)
        self.detach_recurrent = detach_recurrent

    def compute_grads(self, inputs, targets):
        out = time_first(self.model(time_first(inputs).to(self.model.w_in.dtype),
                                    detach_recurrent=self.detach_recurrent))
        loss = self.task.loss(out, targets)
        loss.backward()
        return float(loss.detach())
