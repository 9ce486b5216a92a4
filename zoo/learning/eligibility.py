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
"""
from __future__ import annotations

import math
from typing import Any

import torch

from zoo.learning.base import make_optimizer, time_first
from zoo.tasks import Task
from zoo.tasks.seqlabel import masked_nll_grad


# ----------------------------------------------------------------------------- generic systems
def eprop_step(J, bx, x, c, delta, eps, epsp, gW, gP):
    """One online e-prop step for a block-diagonal system. Shapes: J (B,N,S,S), bx (B,N,S),
    x (B,I), c (B,N,S,P), delta (B,N,S), eps (B,N,I,S), epsp (B,N,P,S); gW (N,I), gP (N,P)
    accumulate in place. Returns the new (eps, epsp)."""
    eps = torch.einsum("bnrs,bnis->bnir", J, eps) + bx[:, :, None, :] * x[:, None, :, None]
    epsp = torch.einsum("bnrs,bnps->bnpr", J, epsp) + c.transpose(-1, -2)
    gW += torch.einsum("bnir,bnr->ni", eps, delta)
    gP += torch.einsum("bnpr,bnr->np", epsp, delta)
    return eps, epsp


def hypr_chunk(J, bx, x, c, delta, eps, epsp, gW, gP):
    """HYPR over one chunk (leading dim L = chunk length) of a block-diagonal system; same
    shapes as :func:`eprop_step` with a leading L. Returns the carried (eps, epsp)."""
    L = J.shape[0]
    Jt = J.transpose(-1, -2)
    a = torch.empty_like(delta)
    M = torch.empty_like(J)
    a[L - 1] = delta[L - 1]
    M[L - 1] = torch.eye(J.shape[-1], dtype=J.dtype).expand_as(J[0])
    for t in range(L - 1, 0, -1):  # neuron-local backward scan
        a[t - 1] = delta[t - 1] + (Jt[t] @ a[t][..., None])[..., 0]
        M[t - 1] = M[t] @ J[t]
    a0J = (Jt[0] @ a[0][..., None])[..., 0]  # a_0^T J_0 (B,N,S)
    M0 = M[0] @ J[0]  # transition from the carried state to the chunk end
    gW += torch.einsum("bnr,bnir->ni", a0J, eps)
    gW += torch.einsum("lbn,lbi->ni", (a * bx).sum(-1), x)  # one matmul over (L*B)
    gP += torch.einsum("bnr,bnpr->np", a0J, epsp) + torch.einsum("lbnsp,lbns->np", c, a)
    Mb = (M @ bx[..., None])[..., 0]
    eps = torch.einsum("bnrs,bnis->bnir", M0, eps) + torch.einsum("lbnr,lbi->bnir", Mb, x)
    epsp = torch.einsum("bnrs,bnps->bnpr", M0, epsp) + torch.einsum("lbnrs,lbnsp->bnpr", M, c)
    return eps, epsp


# ----------------------------------------------------------------------------- the RSNN
class EpropGradient:
    """Computes the e-prop gradient of a RecurrentSNN on one batch, either step by step
    (``lam=None``: online e-prop) or chunkwise with sub-sequence length ``lam`` (HYPR), and
    writes it into ``param.grad``. Returns the summed loss."""

    def __init__(self, model, lam: int | None = None) -> None:
        self.model, self.lam = model, lam

    @torch.no_grad()
    def _forward(self, xs, h, z, y, theta, kappa):
        m = self.model
        Hp, Hn, Is, Xs, Zs, Yp, Us, Ys = [], [], [], [], [], [], [], []
        i_in = xs @ m.w_in.t()
        for t in range(xs.shape[0]):
            xt = torch.cat((xs[t], z), -1)
            i = i_in[t] + z @ m.w_rec.t()
            hn = m.cell.step(h, i, theta)
            z = m.cell.spike(hn, theta)
            u = z @ m.w_out.t() + m.b_out
            yn = kappa * y + (1 - kappa) * u
            Hp.append(h); Hn.append(hn); Is.append(i); Xs.append(xt); Zs.append(z); Yp.append(y); Us.append(u)
            Ys.append(yn)
            h, y = hn, yn
        st = torch.stack
        return (st(Hp), st(Is), st(Hn), st(Xs), st(Zs), st(Yp), st(Us), st(Ys)), (h, z, y)

    @torch.no_grad()
    def _systems(self, rec, tgt, n_lab, theta, kappa):
        m = self.model
        Hp, Is, Hn, Xs, Zs, Yp, Us, Ys = rec
        g, nll = masked_nll_grad(Ys, tgt, n_lab)  # (L,B,K)
        jac = m.cell.jacobians(Hp, Is, Hn, theta)
        J, b, c, psi = jac
        L, B, N, S = b.shape
        K = kappa.shape[0]
        om = 1 - kappa
        psiJ = (psi[..., None, :] @ J)[..., 0, :]  # (L,B,N,S)
        Jh = torch.zeros(L, B, N, S + K, S + K, dtype=J.dtype)
        Jh[..., :S, :S] = J
        Jh[..., S:, :S] = om[:, None] * psiJ[..., None, :]
        Jh[..., S:, S:] = torch.diag(kappa)
        bh = torch.cat((b, om * (psi * b).sum(-1, keepdim=True)), -1)
        psic = (psi[..., None, :] @ c)[..., 0, :]  # (L,B,N,P)
        ch = torch.cat((c, om[:, None] * psic[..., None, :]), -2)
        dh = torch.cat((torch.zeros_like(b), g[:, :, None, :] * m.w_out.t()[None, None]), -1)
        hidden = (Jh, bh, Xs, ch, dh)
        ones = torch.ones(L, B, 1, dtype=Zs.dtype)
        readout = (kappa.expand(L, B, K)[..., None, None], om.expand(L, B, K)[..., None], torch.cat((Zs, ones), -1),
                   (Yp - Us)[..., None, None], g[..., None])
        return hidden, readout, float(nll)

    def __call__(self, inputs: torch.Tensor, targets: torch.Tensor) -> float:
        m = self.model
        x, tgt = time_first(inputs).to(m.w_in.dtype), time_first(targets)
        T, B = x.shape[:2]
        N, K, nin = m.n_hidden, m.n_outputs, m.n_inputs
        S, dt = m.cell.state_size, m.w_in.dtype
        theta_g = m.cell.effective()
        kappa_g = m.kappa()
        theta = tuple(t.detach() for t in theta_g)
        kappa = kappa_g.detach()
        P = len(theta)
        n_lab = int((tgt >= 0).sum())
        h, z, y = m.cell.init_state(B, dt), torch.zeros(B, N, dtype=dt), torch.zeros(B, K, dtype=dt)
        eh = torch.zeros(B, N, nin + N, S + K, dtype=dt)
        ehp = torch.zeros(B, N, P, S + K, dtype=dt)
        eo = torch.zeros(B, K, N + 1, 1, dtype=dt)
        eop = torch.zeros(B, K, 1, 1, dtype=dt)
        gW, gP = torch.zeros(N, nin + N, dtype=dt), torch.zeros(N, P, dtype=dt)
        gWo, gPo = torch.zeros(K, N + 1, dtype=dt), torch.zeros(K, 1, dtype=dt)
        loss = 0.0
        lam = self.lam or 1
        with torch.no_grad():
            for s in range(0, T, lam):
                rec, (h, z, y) = self._forward(x[s:s + lam], h, z, y, theta, kappa)
                hidden, readout, nll = self._systems(rec, tgt[s:s + lam], n_lab, theta, kappa)
                loss += nll
                if self.lam is None:
                    eh, ehp = eprop_step(*(v[0] for v in hidden), eh, ehp, gW, gP)
                    eo, eop = eprop_step(*(v[0] for v in readout), eo, eop, gWo, gPo)
                else:
                    eh, ehp = hypr_chunk(*hidden, eh, ehp, gW, gP)
                    eo, eop = hypr_chunk(*readout, eo, eop, gWo, gPo)
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
    ``total_steps`` optimizer steps, gradient clipping; subclasses fill ``param.grad``."""

    def __init__(self, model: torch.nn.Module, task: Task, optimizer: str = "adam", lr: float = 1e-2,
                 total_steps: int | None = None, lr_final_frac: float = 0.0, grad_clip: float | None = None,
                 **opt_kw: Any) -> None:
        self.model, self.task, self.grad_clip = model, task, grad_clip
        self.optimizer = make_optimizer(model.parameters(), optimizer, lr, **opt_kw)
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
