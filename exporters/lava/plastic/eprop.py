"""Online e-prop (Bellec et al. 2020; HYPR with lambda = 1) as plastic layers that run inside Lava:
an :class:`EpropRecurrent` layer of recurrent spiking neurons and an :class:`~.eprop_readout.LIReadout`
head, for :class:`zoo.models.hypr.RecurrentSNN` (torch version and notation:
:class:`zoo.learning.eligibility.EpropGradient`). Design notes, the bit widths and why the float
path mirrors torch's operations: ``docs/online-lava.md``, section "E-prop inside Lava".

Per step t (post-neuron j, presynaptic vector x~_t = [x_t, z_{t-1}], K outputs)::

    hidden   I = w_in x + w_rec z_{t-1};  h_t = cell.step(h_{t-1}, I);  z_t = spike(h_t)
             eps_t = J_t eps_{t-1} + b_t x~_t^T                         (N, I, S)
             F^k_t = kappa_k F^k_{t-1} + (1 - kappa_k) psi_t^T eps_t     (N, I, K)
    readout  y_t = kappa y_{t-1} + (1 - kappa)(w_out z_t + b_out)
             e^o_t = kappa e^o_{t-1} + (1 - kappa) [z_t, 1]              (K, N+1)
    error    g_t = softmax(y_t) - onehot(target_t)      (only on steps with a target)
    backward readout: dW_out += g e^o;  sends L[k, j] = g_k w_out[k, j]  (K, N) down
             hidden:  dW[j, i] += sum_k L[k, j] F^k[j, i]
    update   W -= lr * err_scale * dW / n_samples   (SGD, mean over the batch's samples)

``err_scale = 1 / (labelled steps per sample)`` makes a batch one SGD step on the masked mean NLL
of :mod:`zoo.tasks.seqlabel`. Learns ``w_in``, ``w_rec``, ``w_out``, ``b_out``; with
``learn_cell=True`` (float64 only) also the cell's parameters. Float64: any HYPR cell, equal to
torch bit for bit at batch size 1. Fixed point (ALIF only; time is in steps of the model's dt):
state 24-bit with 14 fractional bits, 12-bit coefficients, 18-bit-fraction traces, 8-bit errors,
stochastically rounded 32-bit update accumulators (:class:`~.eprop_format.FixedFormat`).

The fixed ALIF step (per neuron, x_p = v - TH - shr0(BA A, C) of the previous state; shr0 =
shift truncating toward zero, C = coef_bits)::

    z_p = x_p > 0;  v' = shr0(AL v (1 - z_p) + OMA I, C);  A' = shr0(RHO A, C) + ONE z_p
    J = [[AL (1 - z_p) - avg, shr0(avg BA, C)], [g_p, RHO - shr0(BA g_p, C)]],
    avg = shr0(shr0(v g_p, SF) AL, C) = alpha v g_p,  g_p = table(|x_p|);  b = [OMA, 0]
    psi = [g, -shr0(BA g, C)] at the new state (the float Jacobians of zoo.neurons.alif).
"""
from __future__ import annotations

import copy

import numpy as np
import torch

from exporters.lava.plastic import fixed as fx
from exporters.lava.plastic.eprop_format import (F64, FixedFormat, _n_labelled, _np, _q, _sgd_t,
                                                 surrogate_lut)
from exporters.lava.plastic.eprop_readout import LIReadout
from exporters.lava.plastic.layer import OnlineLayer
from exporters.lava.plastic.sgd import SGD, weight_exp
from zoo.learning.eligibility import hidden_eprop_step
from zoo.numerics import shr0 as _shr0


class EpropRecurrent(OnlineLayer, SGD):
    """The recurrent hidden layer of a RecurrentSNN with e-prop traces (module docstring).
    Input x_t (n_in,), output z_t (N,), error in: L (K, N), error out: zeros (n_in,) (e-prop
    sends nothing further down)."""

    def __init__(self, model, kappa: np.ndarray, w_out: np.ndarray, lr: float, fixed: bool = False,
                 seed: int = 0, err_scale: float = 1.0, learn_cell: bool = False,
                 fmt: FixedFormat | None = None) -> None:
        self.fmt = fmt or FixedFormat()
        # fixed: err_scale in the learning rate; float: in the error (masked_nll_grad / n_lab)
        self._init_sgd(lr * err_scale if fixed else lr, fixed, self.fmt.weight_bits, seed)
        self.n_lab = _n_labelled(err_scale)
        self.neuron = model.neuron
        self.n_in, self.n_out = model.n_inputs, model.n_hidden
        self.K = int(np.size(kappa))
        self.err_in_shape, self.err_out_shape = (self.K, self.n_out), (self.n_in,)
        self.learn_cell = bool(learn_cell)
        self.input_frac = self.fmt.input_frac
        self.cell = copy.deepcopy(model.cell).double()
        self.S = self.cell.state_size
        self.P = len(self.cell.PARAMS)
        self.cell_names = tuple(f"cell.{k}" for k, _ in self.cell.named_parameters())
        w_in, w_rec = _np(model.w_in), _np(model.w_rec)
        if fixed:
            if self.neuron != "alif":
                raise NotImplementedError(f"fixed-point e-prop exists for the ALIF neuron only, not {self.neuron!r}")
            if learn_cell:
                raise NotImplementedError("learn_cell is float64 only")
            f, C = self.fmt, self.fmt.coef_bits
            self.var_names = ("w_in", "w_rec")
            hr = f.hidden_headroom
            self.w_frac = {"w_in": weight_exp(w_in, f.weight_bits, hr), "w_rec": weight_exp(w_rec, f.weight_bits, hr)}
            self.w_in = fx.saturate(_q(w_in, self.w_frac["w_in"]), f.weight_bits)
            self.w_rec = fx.saturate(_q(w_rec, self.w_frac["w_rec"]), f.weight_bits)
            self.msg_frac = f.err_frac + weight_exp(w_out, f.weight_bits, f.out_headroom)  # fractional bits of L
            alpha, rho = (_np(t) for t in self.cell.effective())
            kappa = np.asarray(kappa, dtype=np.float64)
            self.c = {"AL": _q(alpha, C), "OMA": _q(1 - alpha, C), "RHO": _q(rho, C),
                      "BA": int(_q(self.cell.beta_a, C)), "TH": int(_q(self.cell.theta0, f.state_frac)),
                      "ONE": 1 << f.state_frac, "KAP": _q(kappa, C), "OMK": _q(1 - kappa, C)}
            self.lut_g = surrogate_lut(f)
        else:
            self.var_names = ("w_in", "w_rec")
            self.w_in, self.w_rec = w_in, w_rec
            self.kappa = torch.from_numpy(np.array(kappa, dtype=np.float64))
        self._theta()
        if fixed:
            self.acc = np.zeros((self.n_out, self.n_in + self.n_out), dtype=np.int64)
            self.acc_p = np.zeros((self.n_out, self.P))
        else:  # torch's gW, gP (accumulated by hidden_eprop_step)
            self.acc = torch.zeros(self.n_out, self.n_in + self.n_out, dtype=F64)
            self.acc_p = torch.zeros(self.n_out, self.P, dtype=F64)
        self.reset()

    def _theta(self) -> None:
        with torch.no_grad():
            self.theta = self.cell.params(tuple(t.detach() for t in self.cell.effective()))

    # -- state
    def reset(self) -> None:
        N, I, S, K = self.n_out, self.n_in + self.n_out, self.S, self.K
        if self.fixed:
            self.h = np.zeros((N, S), dtype=np.int64)
            self.z = np.zeros(N, dtype=np.int64)
            self.eps = np.zeros((N, I, S), dtype=np.int64)
            self.F = np.zeros((N, I, K), dtype=np.int64)
            return
        # float: torch's state with B = 1 (EpropGradient.__call__)
        self.h = self.cell.init_state(1, F64)
        self.zt = torch.zeros(1, N, dtype=F64)
        self.z = np.zeros(N)
        self.st = [torch.zeros(1, N, I, S, dtype=F64), torch.zeros(1, N, self.P, S, dtype=F64),
                   torch.zeros(1, N, I, K, dtype=F64), torch.zeros(1, N, self.P, K, dtype=F64)]
        self.pending = None  # (J, b, c, psi, x~) of a step whose traces are not yet advanced

    @property
    def traces(self) -> dict[str, np.ndarray]:
        """Float: eps (N, I, S), epsp, F (N, I, K), Fp up to the last advanced step."""
        return {k: t[0].numpy() for k, t in zip(("eps", "epsp", "F", "Fp"), self.st)}

    def forward(self, x: np.ndarray) -> np.ndarray:
        if self.fixed:
            return self._forward_fixed(np.asarray(x, dtype=np.int64))
        self._flush()
        with torch.no_grad():  # EpropGradient._forward for one step (L = 1, B = 1)
            xs = torch.from_numpy(np.array(x, dtype=np.float64).reshape(1, 1, -1))
            w_in, w_rec = torch.from_numpy(self.w_in), torch.from_numpy(self.w_rec)
            i_in = xs @ w_in.t()
            h, z = self.h, self.zt
            i = i_in[0] + z @ w_rec.t()
            hn = self.cell.step(h, i, self.theta)
            zn = self.cell.spike(hn, self.theta)
            Hp, Hn, Is, Zp = torch.stack([h]), torch.stack([hn]), torch.stack([i]), torch.stack([z])
            Xs = torch.cat((xs, Zp), -1)
            J, b, c, psi = self.cell.jacobians(Hp, Is, Hn, self.theta)
        self.pending = (J[0], b[0], c[0], psi[0], Xs[0])
        self.h, self.zt = hn, zn
        self.z = zn[0].numpy().copy()
        return self.z.copy()

    def _advance(self, dF: torch.Tensor) -> None:
        """The pending step's hidden_eprop_step with the readout-filtered error dF (1, N, K)."""
        J, b, c, psi, x = self.pending
        self.pending = None
        with torch.no_grad():
            hidden_eprop_step(J, b, c, psi, x, dF, self.kappa, self.st, self.acc, self.acc_p)

    def _flush(self) -> None:
        if self.pending is not None:  # a step without backward: its error is zero
            self._advance(torch.zeros(1, self.n_out, self.K, dtype=F64))

    def _spike_x(self, v: np.ndarray, A: np.ndarray) -> np.ndarray:
        """v - theta0 - beta_a A at state_frac (the spike argument)."""
        return v - self.c["TH"] - _shr0(self.c["BA"] * A, self.fmt.coef_bits)

    def _forward_fixed(self, x: np.ndarray) -> np.ndarray:
        f, c, C, SF, EF = self.fmt, self.c, self.fmt.coef_bits, self.fmt.state_frac, self.fmt.trace_frac
        v, A = self.h[:, 0], self.h[:, 1]
        i = (fx.shift_round(self.w_in @ x, self.w_frac["w_in"] + f.input_frac - SF)
             + fx.shift_round(self.w_rec @ self.z, self.w_frac["w_rec"] - SF))
        xp = self._spike_x(v, A)
        zp = (xp > 0).astype(np.int64)  # = self.z (spike of the previous step)
        gp = fx.lut(self.lut_g, fx.shift_round(np.abs(xp), SF - f.lut_frac))
        v_new = fx.saturate(_shr0(c["AL"] * v * (1 - zp) + c["OMA"] * i, C), f.state_bits)
        A_new = fx.saturate(_shr0(c["RHO"] * A, C) + c["ONE"] * zp, f.state_bits)
        xn = self._spike_x(v_new, A_new)
        z = (xn > 0).astype(np.int64)
        g = fx.lut(self.lut_g, fx.shift_round(np.abs(xn), SF - f.lut_frac))
        avg = _shr0(_shr0(v * gp, SF) * c["AL"], C)
        J00, J01 = c["AL"] * (1 - zp) - avg, _shr0(avg * c["BA"], C)
        J10, J11 = gp, c["RHO"] - _shr0(c["BA"] * gp, C)
        xt = np.concatenate((fx.shift_round(x, f.input_frac - EF), self.z << EF))  # x~ at trace_frac
        e0, e1 = self.eps[..., 0], self.eps[..., 1]
        n0 = _shr0(J00[:, None] * e0 + J01[:, None] * e1 + c["OMA"][:, None] * xt[None, :], C)
        n1 = _shr0(J10[:, None] * e0 + J11[:, None] * e1, C)
        self.eps = fx.saturate(np.stack((n0, n1), -1), f.trace_bits)
        psi1 = -_shr0(c["BA"] * g, C)
        pe = _shr0(g[:, None] * self.eps[..., 0] + psi1[:, None] * self.eps[..., 1], C)  # psi . eps
        self.F = fx.saturate(_shr0(c["KAP"] * self.F + c["OMK"] * pe[..., None], C), f.trace_bits)
        self.h = np.stack((v_new, A_new), -1)
        self.z = z
        return z.copy()

    def backward(self, g: np.ndarray) -> np.ndarray:
        if not self.fixed:
            return self._backward_float(g)
        if not np.any(g):  # nothing to learn (and no random draws: Lava and emulator stay in step)
            return np.zeros(self.err_out_shape, dtype=np.int64)
        f = self.fmt
        prod = np.einsum("nik,kn->ni", self.F, np.asarray(g, dtype=np.int64))
        d = fx.stochastic_shift(prod, f.trace_frac + self.msg_frac - f.acc_frac, self.rng)
        self.acc = fx.saturate(self.acc + d, f.acc_bits)
        return np.zeros(self.err_out_shape, dtype=np.int64)

    def _backward_float(self, g: np.ndarray) -> np.ndarray:
        """g = L (K, N) = dF^T: dF rebuilt with the strides of torch's ``g[:, :, None, :] * w_out.t()``."""
        if self.pending is None:
            return np.zeros(self.err_out_shape)
        N, K = self.n_out, self.K
        L = torch.from_numpy(np.array(g, dtype=np.float64).reshape(K, N))
        self._advance(L.as_strided((1, N, K), (N * K, 1, N)))
        return np.zeros(self.err_out_shape)

    def grads(self) -> dict[str, np.ndarray]:
        """The accumulated (not yet applied) sums of per-step gradients, real units, by name."""
        if self.fixed:
            a = self.acc.astype(np.float64) * 2.0 ** -self.fmt.acc_frac
        else:
            a = self.acc.numpy() * self.n_lab  # without err_scale, as the fixed path
        out = {"w_in": a[:, :self.n_in], "w_rec": a[:, self.n_in:]}
        if self.learn_cell:
            out.update({k: g.numpy() * self.n_lab for k, g in self._cell_grads(self.acc_p).items()})
        return out

    def _cell_grads(self, gp: torch.Tensor) -> dict[str, torch.Tensor]:
        """Gradients of the raw cell parameters from gP (N, P) on the effective ones (autograd)."""
        raw = [p for _, p in self.cell.named_parameters()]
        eff = self.cell.effective()
        gr = torch.autograd.grad(eff, raw, [gp[:, k] for k in range(self.P)], allow_unused=True)
        return {n: (torch.zeros_like(p) if g is None else g) for n, p, g in zip(self.cell_names, raw, gr)}

    def apply_update(self, n_samples: int) -> None:
        nin = self.n_in
        if self.fixed:
            f = self.fmt
            for k, sl in (("w_in", slice(0, nin)), ("w_rec", slice(nin, None))):
                w = getattr(self, k)
                w += self._step(w, self.acc[:, sl], n_samples, f.acc_frac, self.w_frac[k])
                w[...] = fx.saturate(w, f.weight_bits)
        else:  # torch: p.grad = gW[:, slice].clone(); SGD: p.add_(p.grad, alpha=-lr)
            with torch.no_grad():
                _sgd_t(self.w_in, self.acc[:, :nin].clone(), self.lr, n_samples)
                _sgd_t(self.w_rec, self.acc[:, nin:].clone(), self.lr, n_samples)
            if self.learn_cell:
                grads = self._cell_grads(self.acc_p)
                with torch.no_grad():
                    for (name, p) in self.cell.named_parameters():
                        g = grads[f"cell.{name}"]
                        p.add_(g / n_samples if n_samples > 1 else g, alpha=-self.lr)
                self._theta()
                self.acc_p[...] = 0
        self.acc[...] = 0

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: getattr(self, k) for k in self.var_names}

    def params(self) -> dict[str, np.ndarray]:
        out = {f"cell.{k}": _np(p) for k, p in self.cell.named_parameters()}
        if self.fixed:
            out.update({k: getattr(self, k) * 2.0 ** -self.w_frac[k] for k in self.var_names})
        else:
            out.update({k: getattr(self, k).copy() for k in self.var_names})
        return out


def eprop_layers(model, fixed: bool, lr: float, seed: int = 0, err_scale: float = 1.0, learn_cell: bool = False,
                 **fixed_kw) -> list[OnlineLayer]:
    """[EpropRecurrent, LIReadout] for a :class:`zoo.models.hypr.RecurrentSNN` (its current
    parameters). ``err_scale``: 1 / labelled steps per sample gives the torch masked-NLL
    gradient; ``fixed_kw``: :class:`FixedFormat` fields (e.g. ``weight_bits=16``)."""
    fmt = FixedFormat(**fixed_kw)
    if not fixed:  # float: the derived values (kappa, the cell's effective parameters) in float64, as torch
        model = copy.deepcopy(model).double()  # computes them on model.double() (a float32 model's kappa differs)
    head = LIReadout(model, lr, fixed, seed=seed, err_scale=err_scale, fmt=fmt)
    hidden = EpropRecurrent(model, _np(model.kappa()), _np(model.w_out), lr, fixed, seed=seed + 1,
                            err_scale=err_scale, learn_cell=learn_cell, fmt=fmt)
    return [hidden, head]


def eprop_rule(model, steps: int, lr: float, fixed: bool = False, seed: int = 0, label_steps: int | None = None,
               learn_cell: bool = False, learn: list[str] | None = None, **fixed_kw) -> list[OnlineLayer]:
    """:func:`eprop_layers` with the signature of :mod:`.rules` (``fn(model, steps, lr, fixed,
    seed, **options)``): ``err_scale = 1 / label_steps`` (default ``steps``), the number of
    labelled steps per sample, so a batch is one SGD step on the torch masked mean NLL.
    ``learn`` (the recipe's list of trained parameters, which the torch learner also obeys) must
    name exactly what the layers train: w_in, w_rec, w_out, b_out (+ the cell's with
    ``learn_cell``); tau_out never learns here."""
    trained = {"w_in", "w_rec", "w_out", "b_out"}
    if learn_cell:
        trained |= {n for n, _ in model.named_parameters() if n.startswith("cell.")}
    if learn is None or set(learn) != trained:
        raise ValueError(f"e-prop in Lava trains {sorted(trained)}; set [learning] learn = {sorted(trained)} "
                         f"so that torch trains the same parameters (got learn = {learn})")
    return eprop_layers(model, fixed, lr, seed, err_scale=1.0 / (label_steps or steps), learn_cell=learn_cell,
                        **fixed_kw)
