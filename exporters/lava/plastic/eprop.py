"""Online e-prop (Bellec et al. 2020; HYPR with lambda = 1) as plastic layers that run inside Lava:
an :class:`EpropRecurrent` layer of recurrent spiking neurons and an :class:`LIReadout` head,
for :class:`zoo.models.hypr.RecurrentSNN` (torch version: :class:`zoo.learning.eligibility.
EpropGradient`, notation there).

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

With ``err_scale = 1 / (labelled steps per sample)`` one batch of B samples is one SGD step on
the masked mean NLL of :mod:`zoo.tasks.seqlabel` (the loss of ``EpropGradient``): the
accumulators hold ``n_labelled * grad`` of the torch rule (tested to 1e-9 in float64).

What learns: ``w_in``, ``w_rec``, ``w_out``, ``b_out`` (float and fixed). Float64 only and
opt-in (``learn_cell=True``): the neuron parameters (``cell.*``, through the traces of dh/dtheta
and autograd of the cell's ``effective()``). ``tau_out`` never learns here (the hidden layer's
traces use the readout's kappa; a moving kappa would have to be sent down every step).

Float64 (``fixed=False``): any HYPR cell (alif, brf, seadlif). For batch size 1 it equals torch
:class:`EpropGradient` (``lam=None``) + ``torch.optim.SGD`` on ``model.double()`` bit for bit
(tests/test_plastic_eprop.py; the recipe gives the same history). It has to: per-sample SGD on
this recurrent network amplifies a 1-ulp difference ~10x per 100 samples (numpy einsums in
another order separated the learning curves in epoch 2). So the float path performs torch's own
operations on tensors of the same shapes (L = 1 step, B = 1 sample), in the same order, calling
the torch functions rather than copying them: the input current ``xs @ w_in.t()`` on a
(1, 1, n_in) tensor ``+ z @ w_rec.t()``; the cell's ``step``/``spike``/``jacobians`` on the
stacked shapes; :func:`~zoo.learning.eligibility.hidden_eprop_step` on traces eps, epsp, F, Fp
kept as (1, ...) float64 tensors; the readout ``Us = Zs @ w_out.t() + b_out`` and ``Ys`` (einsum
with ``_decay_matrix(kappa, 1)`` + ``kappa ** arange(1, 2) * y``); the error by
:func:`~zoo.tasks.seqlabel.masked_nll_grad` (which divides by the number of labelled steps
``n_lab = 1 / err_scale``, so in float the error carries err_scale and the learning rate is
``lr``); ``dF = g[:, :, None, :] * w_out.t()`` (sent down as L = dF^T, rebuilt with torch's
strides); the readout's :func:`~zoo.learning.eligibility.eprop_step`; and SGD's
``param.add_(grad, alpha=-lr)`` on ``grad = acc[:, slice].clone()`` (``/ n_samples`` for batches
of several samples: their mean, not bit-identical to torch's batched einsums). A step's trace
update and gradient are one torch call (the trace update of step t runs in ``backward`` with
that step's error, or at the next ``forward`` with a zero error when no backward came).
``grads()`` reports the accumulated sums without err_scale (``n_lab`` x the torch gradient),
like the fixed path.

Fixed point (``fixed=True``, ALIF only — two states, 12-bit decays, one surrogate table; BRF's
near-identity Jacobian with dt = 0.01 would need ~23-bit coefficients in every trace product).
A value q with f fractional bits stands for q 2^-f; ``shr0`` = shift truncating toward zero
(Lava's decays); every product is formed in int64 and truncated once. Defaults of
:class:`FixedFormat`:

* neuron state v, A and readout y: ``state_frac`` = 14 fractional bits, ``state_bits`` = 24
  saturating (range +-512 threshold units; theta0 = 1 -> 16384).
* coefficients alpha, 1-alpha, rho, beta_a, kappa, 1-kappa and every Jacobian entry:
  ``coef_bits`` = 12 fractional bits (Loihi's 12-bit decay registers).
* surrogate g = slayer_grad(x) (ALIF's own function, tabulated): a ``coef_bits`` table over
  |x| in steps of 2^-``lut_frac`` (6); softmax: ``fixed.exp_lut(lut_frac, 16)`` and one rounded
  integer division per output.
* weights: ``weight_bits``-bit signed mantissas (8; 16 for the benchmark) with one exponent per
  matrix fixed at the start: the largest initial |w| uses at most 2^-``hidden_headroom`` (1:
  half, as :mod:`.stop`) of the range for ``w_in``, ``w_rec`` and 2^-``out_headroom`` (4) for
  ``w_out``; ``b_out`` shares ``w_out``'s exponent (a bias column). The readout needs the
  headroom: it starts small (|w_out| <= 1/sqrt(N), b_out = 0) and grows like the logits (row
  digits, float: max |w_out| 0.12 -> 4.4, |b_out| -> 3.5 in 3 epochs, ~0.6 after one sample);
  with half the range b_out saturated after one sample and the fixed updates fell behind float
  (b_out 0.53x, w_in/w_rec 0.75x after 5 samples at 16 bits). The hidden weights grow <= 2.5x.
* inputs: integers with ``input_frac`` fractional bits (0: spike counts).
* eligibility traces eps (N, I, 2), readout-filtered traces F (N, I, K), readout traces e^o:
  ``trace_frac`` = 18 fractional bits, ``trace_bits`` = 24 saturating (+-32; eps_v <= max input,
  |eps_A| and |F| stay O(1) since psi <= 1; measured max 0.5 on the tests' nets; with 14
  fractional bits the small F traces lose the w_rec gradient: correlation to float 0.95
  instead of 0.999).
* errors: g with ``err_bits`` = 8 (7 fractional bits, saturating +-127); the message to the
  hidden layer L = g_q * w_out_q is exact (err_bits + weight_bits - 1 bits, fits int32).
* updates: every labelled step the exact int64 product (F . L, or g e^o) is stochastically
  shifted to ``acc_frac`` = 16 fractional bits (``fixed.stochastic_shift``) and added to a
  per-synapse accumulator saturating at ``acc_bits`` = 32; at the end of a batch
  dq = stochastic_shift(-lr_m * acc // n, lr_e + acc_frac - w_frac) with
  lr * err_scale = lr_m 2^-lr_e (8-bit mantissa, ``fixed.mantissa_shift``); weights saturate
  at ``weight_bits``. Stochastic rounding draws come from a generator seeded per layer, and a
  step whose error is all zero draws nothing, so Lava and the emulator round identically.

The fixed ALIF step (per neuron, x_p = v - TH - shr0(BA A, C) of the previous state)::

    z_p = x_p > 0;  v' = shr0(AL v (1 - z_p) + OMA I, C);  A' = shr0(RHO A, C) + ONE z_p
    J = [[AL (1 - z_p) - avg, shr0(avg BA, C)], [g_p, RHO - shr0(BA g_p, C)]],
    avg = shr0(shr0(v g_p, SF) AL, C) = alpha v g_p,  g_p = table(|x_p|);  b = [OMA, 0]
    psi = [g, -shr0(BA g, C)] at the new state (the float Jacobians of zoo.neurons.alif).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

from exporters.lava.plastic import fixed as fx
from exporters.lava.plastic.layer import OnlineHead, OnlineLayer
from exporters.lava.plastic.sgd import SGD, weight_exp
from zoo.learning.eligibility import _decay_matrix, eprop_step, hidden_eprop_step
from zoo.tasks.seqlabel import masked_nll_grad

F64 = torch.float64


@dataclass(frozen=True)
class FixedFormat:
    """Bit widths of the fixed-point e-prop layers (module docstring)."""

    weight_bits: int = 8
    state_frac: int = 14
    state_bits: int = 24
    coef_bits: int = 12
    lut_frac: int = 6
    trace_frac: int = 18
    trace_bits: int = 24
    err_bits: int = 8
    acc_frac: int = 16
    acc_bits: int = 32
    input_frac: int = 0
    hidden_headroom: int = 1
    out_headroom: int = 4

    @property
    def err_frac(self) -> int:
        return self.err_bits - 1


def _shr0(x: np.ndarray, n: int) -> np.ndarray:
    """x 2^-n truncated toward zero (int64)."""
    x = np.asarray(x, dtype=np.int64)
    return np.sign(x) * np.right_shift(np.abs(x), n)


def _q(x, frac: int) -> np.ndarray:
    return fx.to_fixed(x, frac)


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().to(torch.float64).numpy().copy()


def _n_labelled(err_scale: float) -> int | float:
    """The labelled-step count n with err_scale = 1 / n (an int when it is one, as torch's)."""
    n = round(1.0 / err_scale)
    return n if n >= 1 and abs(n * err_scale - 1.0) < 1e-12 else 1.0 / err_scale


def _sgd_t(p: np.ndarray, grad: torch.Tensor, lr: float, n: int) -> None:
    """``torch.optim.SGD``'s CPU step on the numpy parameter ``p`` in place:
    ``param.add_(grad, alpha=-lr)`` (grad / n for a batch of n samples)."""
    if n > 1:
        grad = grad / n
    torch.from_numpy(p).add_(grad, alpha=-lr)


def surrogate_lut(fmt: FixedFormat) -> np.ndarray:
    """ALIF's surrogate ``slayer_grad`` tabulated: entry k = round(2^coef_bits g(k 2^-lut_frac))
    up to |x| = 4 (g < 2^-28 beyond)."""
    from zoo.neurons.surrogate import slayer_grad

    k = torch.arange(4 * 2 ** fmt.lut_frac + 1, dtype=torch.float64) * 2.0 ** -fmt.lut_frac
    return fx.to_fixed(slayer_grad(k).numpy(), fmt.coef_bits)


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
