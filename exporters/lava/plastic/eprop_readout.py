"""The leaky-integrator readout head of online e-prop inside Lava (:class:`LIReadout`):
y_t = kappa y_{t-1} + (1 - kappa)(w_out z_t + b_out), its exact eligibility
e^o_t = kappa e^o_{t-1} + (1 - kappa)[z_t, 1], the error g_t = softmax(y_t) - onehot(target_t) on
labelled steps, and the message L[k, j] = g_k w_out[k, j] sent to the hidden layer
(:mod:`.eprop`). Float64 and fixed point (:class:`~.eprop_format.FixedFormat`).
"""
from __future__ import annotations

import numpy as np
import torch

from exporters.lava.plastic import fixed as fx
from exporters.lava.plastic.eprop_format import F64, FixedFormat, _n_labelled, _np, _q, _sgd_t
from exporters.lava.plastic.layer import OnlineHead
from exporters.lava.plastic.sgd import SGD, weight_exp
from zoo.learning.eligibility import _decay_matrix, eprop_step
from zoo.numerics import shr0 as _shr0
from zoo.tasks.seqlabel import masked_nll_grad


class LIReadout(OnlineHead, SGD):
    """Leaky-integrator readout y = kappa y + (1-kappa)(w_out z + b_out) with its exact
    eligibility e^o; error = softmax(y) - onehot; sends L = g_k w_out[k, j] (K, N) down."""

    def __init__(self, model, lr: float, fixed: bool = False, seed: int = 0, err_scale: float = 1.0,
                 fmt: FixedFormat | None = None) -> None:
        self.fmt = fmt or FixedFormat()
        self._init_sgd(lr * err_scale if fixed else lr, fixed, self.fmt.weight_bits, seed)
        self.n_lab = _n_labelled(err_scale)
        self.n_in, self.n_out = model.n_hidden, model.n_outputs
        self.err_in_shape, self.err_out_shape = (self.n_out,), (self.n_out, self.n_in)
        self.var_names = ("w_out", "b_out")
        self.tau_out = _np(model.tau_out)
        kappa = _np(model.kappa())
        w, b = _np(model.w_out), _np(model.b_out)
        if fixed:
            f, C = self.fmt, self.fmt.coef_bits
            self.w_frac = weight_exp(w, f.weight_bits, f.out_headroom)
            self.out_frac = f.state_frac
            self.w_out = fx.saturate(_q(w, self.w_frac), f.weight_bits)
            self.b_out = fx.saturate(_q(b, self.w_frac), f.weight_bits)
            self.KAP, self.OMK = _q(kappa, C), _q(1 - kappa, C)
            self.lut_exp = fx.exp_lut(f.lut_frac, 16, span=24.0)
            self.acc = np.zeros((self.n_out, self.n_in + 1), dtype=np.int64)
        else:
            self.out_frac = 0
            self.w_out, self.b_out = w, b
            self.kappa = torch.from_numpy(kappa)  # EpropGradient's kappa, Pm and kappa^(1..L) for L = 1
            self.Pm = _decay_matrix(self.kappa, 1)
            self.kpow = self.kappa ** torch.arange(1, 2, dtype=F64)[:, None, None]
            self.acc = torch.zeros(self.n_out, self.n_in + 1, dtype=F64)  # torch's gWo, gPo
            self.acc_p = torch.zeros(self.n_out, 1, dtype=F64)
        self.reset()

    def reset(self) -> None:
        if self.fixed:
            self.y = np.zeros(self.n_out, dtype=np.int64)
            self.eo = np.zeros((self.n_out, self.n_in + 1), dtype=np.int64)
            return
        K = self.n_out
        self.y = np.zeros(K)
        self.yt = torch.zeros(1, K, dtype=F64)
        self.eo = torch.zeros(1, K, self.n_in + 1, 1, dtype=F64)
        self.eop = torch.zeros(1, K, 1, 1, dtype=F64)
        self.pending = None  # eprop_step's (J, bx, x, c) of a step whose trace is not yet advanced

    def forward(self, x: np.ndarray) -> np.ndarray:
        if self.fixed:
            f, C = self.fmt, self.fmt.coef_bits
            z1 = np.append(np.asarray(x, dtype=np.int64), 1)
            u = fx.shift_round(self.w_out @ z1[:-1] + self.b_out, self.w_frac - f.state_frac)
            self.y = fx.saturate(_shr0(self.KAP * self.y + self.OMK * u, C), f.state_bits)
            self.eo = fx.saturate(_shr0(self.KAP[:, None] * self.eo + self.OMK[:, None] * (z1 << f.trace_frac)[None],
                                        C), f.trace_bits)
            return self.y.copy()
        self._flush()
        K, kappa = self.n_out, self.kappa
        with torch.no_grad():  # EpropGradient._forward's readout and __call__'s ro for one step
            Zs = torch.from_numpy(np.array(x, dtype=np.float64).reshape(1, 1, -1))
            y = self.yt
            Us = Zs @ torch.from_numpy(self.w_out).t() + torch.from_numpy(self.b_out)
            om = 1 - kappa
            Ys = torch.einsum("ktu,tbk->ubk", self.Pm, Us * om) + self.kpow * y
            Yp = y[None]
            ro = (kappa.expand(1, 1, K)[..., None, None], (1 - kappa).expand(1, 1, K)[..., None],
                  torch.cat((Zs, torch.ones(1, 1, 1, dtype=F64)), -1), (Yp - Us)[..., None, None])
        self.pending = tuple(v[0] for v in ro)
        self.yt = Ys[-1]
        self.y = self.yt[0].numpy().copy()
        return self.y.copy()

    def _advance(self, g: torch.Tensor) -> None:
        """The pending step's eprop_step with the error g (1, 1, K)."""
        J, bx, x, c = self.pending
        self.pending = None
        with torch.no_grad():
            self.eo, self.eop = eprop_step(J, bx, x, c, g[..., None][0], self.eo, self.eop, self.acc, self.acc_p)

    def _flush(self) -> None:
        if self.pending is not None:
            self._advance(torch.zeros(1, 1, self.n_out, dtype=F64))

    def error(self, y: np.ndarray, target: int) -> np.ndarray:
        if self.fixed:
            f = self.fmt
            y = np.asarray(y, dtype=np.int64)
            e = fx.lut(self.lut_exp, fx.shift_round(np.max(y) - y, f.state_frac - f.lut_frac))
            tot = np.sum(e)
            p = ((e << f.err_frac) + tot // 2) // tot  # rounded to nearest
            p[target] -= 1 << f.err_frac
            return fx.saturate(p, f.err_bits)
        # torch's masked_nll_grad on Ys (L = 1, B = 1, K): (softmax - onehot) / n_lab
        ys = torch.from_numpy(np.array(y, dtype=np.float64).reshape(1, 1, -1))
        g, _ = masked_nll_grad(ys, torch.tensor([[int(target)]]), self.n_lab)
        return g[0, 0].numpy().copy()

    def backward(self, g: np.ndarray) -> np.ndarray:
        if not self.fixed:
            return self._backward_float(g)
        if not np.any(g):
            return np.zeros(self.err_out_shape, dtype=np.int64)
        f = self.fmt
        g = np.asarray(g, dtype=np.int64)
        d = fx.stochastic_shift(g[:, None] * self.eo, f.err_frac + f.trace_frac - f.acc_frac, self.rng)
        self.acc = fx.saturate(self.acc + d, f.acc_bits)
        return g[:, None] * self.w_out

    def _backward_float(self, g: np.ndarray) -> np.ndarray:
        gt = torch.from_numpy(np.array(g, dtype=np.float64).reshape(1, 1, -1))
        if self.pending is not None:
            self._advance(gt)
        with torch.no_grad():
            dF = gt[:, :, None, :] * torch.from_numpy(self.w_out).t()  # (1, 1, N, K) = g^k w_out[k, n]
        return dF[0, 0].t().numpy().copy()  # L (K, N)

    def grads(self) -> dict[str, np.ndarray]:
        if self.fixed:
            a = self.acc.astype(np.float64) * 2.0 ** -self.fmt.acc_frac
        else:
            a = self.acc.numpy() * self.n_lab  # without err_scale, as the fixed path
        return {"w_out": a[:, :-1], "b_out": a[:, -1]}

    def apply_update(self, n_samples: int) -> None:
        if self.fixed:
            f = self.fmt
            self.w_out += self._step(self.w_out, self.acc[:, :-1], n_samples, f.acc_frac, self.w_frac)
            self.b_out += self._step(self.b_out, self.acc[:, -1], n_samples, f.acc_frac, self.w_frac)
            self.w_out[...] = fx.saturate(self.w_out, f.weight_bits)
            self.b_out[...] = fx.saturate(self.b_out, f.weight_bits)
        else:  # torch: p.grad = gWo[:, :N].clone() / gWo[:, N].clone(); SGD: p.add_(p.grad, alpha=-lr)
            N = self.n_in
            with torch.no_grad():
                _sgd_t(self.w_out, self.acc[:, :N].clone(), self.lr, n_samples)
                _sgd_t(self.b_out, self.acc[:, N].clone(), self.lr, n_samples)
            self.acc_p[...] = 0
        self.acc[...] = 0

    def arrays(self) -> dict[str, np.ndarray]:
        return {"w_out": self.w_out, "b_out": self.b_out}

    def params(self) -> dict[str, np.ndarray]:
        s = 2.0 ** -self.w_frac if self.fixed else 1.0
        return {"w_out": self.w_out * s, "b_out": self.b_out * s, "tau_out": self.tau_out.copy()}
