"""STAR-SNN's truncated BPTT with K = 1 (torch: :class:`zoo.learning.tbptt.TBPTT` with ``K = 1``,
``update_every = 1``, ``optimizer = "sgd"``, batch 1) as plastic layers that run inside Lava: a
:class:`STARHidden` recurrent layer of STAR adaptive LIF neurons and a :class:`STARReadout`
leaky-integrator head, for :class:`zoo.models.star.STARRSNN` with ``readout = "li"``.

Per step t (neuron j; ``(u, a, s)`` of step t-1 and the readout state ``o`` are detached by
TBPTT(1), so at step t they are constants)::

    forward  I = W_in x_t + b_in + W_rec s_{t-1};  alpha = sigmoid(leak_logit)
             th = th0 + max(beta, 0) a_{t-1};  v = alpha u_{t-1} + I;  s_t = [v > th]
             u_t = v - th s_t;  a_t = rho a_{t-1} + (1 - rho) s_t
    readout  o_t = kappa o_{t-1} + W_o s_t + b_o
    error    g = (softmax(o_t) - onehot(target)) / T        (task.loss on a 1-step chunk x 1/T)
    backward dW_o = g s_t^T;  db_o = g;  dL/ds_t = W_o^T g  (sent down)
             delta = dL/ds_t * psi(v - th),  psi(x) = 1 / (slope |x| + 1)^2   (fast sigmoid)
             dW_in = delta x_t^T;  db_in = delta;  dW_rec = delta s_{t-1}^T
             d leak_logit = delta u_{t-1} alpha (1 - alpha);  d beta = -delta a_{t-1} [beta >= 0]
    update   every learning step: p -= lr * dp      (SGD, one step per time step)

This is exactly what autograd gives for one step with a detached state: the loss of step t
depends on step t's parameters only through s_t (the LI readout reads spikes), so u_t and a_t
carry no gradient within the step. SPSG (stopgrad(s) on the reset and adaptation paths) only
changes gradients that flow through u_t, a_t into *later* steps, which K = 1 cuts: the update is
the same with and without SPSG (any variant: star, spsg, adapt, plain; leak_logit learns when
the model's leak does, beta when the cell is adaptive). ``readout = "membrane"`` (loss through
u_t, where SPSG matters) is refused. ``rho``, ``v_threshold`` and ``kappa`` are buffers.

Float64 (``fixed = False``) equals torch TBPTT(K=1, sgd, batch 1) on ``model.double()`` bit for
bit (tests/test_plastic_star.py; the 2-epoch recipe gives the same history). It has to: the
spiking dynamics with an update every step amplify a 1-ulp difference ~10x per 40 samples, so
the float path calls torch for the operations whose rounding numpy does not reproduce — the
model's Linear products (summation order), ``torch.sigmoid``, the cross-entropy backward
(vectorised exp/log) and SGD's ``add_(alpha=-lr)`` (a fused multiply-add); the rest is numpy.

Fixed point (conventions of :mod:`.stop`; a value q with f fractional bits stands for q 2^-f):

* state u, v, th, I, biases b_in, baseline threshold th0, beta, readout o and b_o:
  ``V_FRAC = 12`` fractional bits (threshold 1.0 -> 4096), 24-bit saturating.
* adaptation trace a: ``A_FRAC = 12`` (a in [0, 1]); ``a = decay(a, rho_q) + (4096 - rho_q) s``.
* decays alpha, rho, kappa: 12-bit registers (x 2^-12), truncated toward zero like Lava's LIF.
* leak_logit: 16-bit signed, ``LOGIT_FRAC = 12`` (range +-8); alpha_q = sigmoid table (12-bit
  output) indexed by the logit in steps of 2^-8; alpha' = alpha_q (4096 - alpha_q) >> 12.
* weights W_in, W_rec, W_o: ``weight_bits`` (8) signed mantissas with one exponent per matrix
  fixed at the start (:func:`.sgd.weight_exp`): the largest initial |w| uses 2^-``hidden_headroom``
  (1: half) of the range for W_in, W_rec and 2^-``out_headroom`` (default 3) for W_o (the
  readout grows during training).
* inputs: events/integers with ``input_frac`` fractional bits (0 for gestures).
* surrogate psi: table with ``PHI_FRAC = 8`` fractional bits (1.0 -> 256) over |v - th| in
  steps of 2^-8 up to 4 (slope 10: psi(4) ~ 0.0006 -> 0).
* errors: ``ERR_FRAC = 16`` fractional bits, 24-bit saturating; softmax by the 16-bit exp table
  and one integer division (:class:`.stop.CEReadout`), times round(2^16 / T) >> 16.
* updates: exact int64 products per step (delta x, delta s, delta u alpha', delta a), then
  ``dq = stochastic_shift(-lr_m * acc, shift)`` (8-bit lr mantissa, seeded random bits, so Lava
  and the emulator round identically); parameters saturate at their widths.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from exporters.lava.plastic import fixed as fx
from exporters.lava.plastic.layer import OnlineLayer
from exporters.lava.plastic.sgd import SGD, weight_exp
from exporters.lava.plastic.stop import ERR_FRAC, PHI_FRAC, STATE_BITS, V_FRAC, CEReadout

A_FRAC = 12
LOGIT_FRAC = 12
LOGIT_BITS = 16
SG_STEP = 8           # surrogate table step 2^-8 in |v - th|
SIGMOID_STEP = 8      # sigmoid table step 2^-8 in the logit
SIGMOID_SPAN = 8.0    # table covers logit in [-8, 8]


def fast_sigmoid_lut(slope: float, step_frac: int = SG_STEP, out_frac: int = PHI_FRAC, span: float = 4.0) -> np.ndarray:
    """``round(2**out_frac / (slope * k 2**-step_frac + 1)**2)`` for k = 0 .. span 2**step_frac."""
    k = np.arange(int(span * 2 ** step_frac) + 1, dtype=np.float64) * 2.0 ** -step_frac
    return np.rint(2.0 ** out_frac / (slope * k + 1.0) ** 2).astype(np.int64)


SIGMOID_LUT = np.rint(2.0 ** fx.DECAY_BITS / (1.0 + np.exp(-np.arange(
    -SIGMOID_SPAN, SIGMOID_SPAN + 2.0 ** -SIGMOID_STEP / 2, 2.0 ** -SIGMOID_STEP)))).astype(np.int64)


def sigmoid_q(logit_q: np.ndarray) -> np.ndarray:
    """12-bit alpha of a fixed-point logit (LOGIT_FRAC bits), by table (steps of 2^-8, clamped)."""
    idx = fx.shift_round(logit_q, LOGIT_FRAC - SIGMOID_STEP) + int(SIGMOID_SPAN * 2 ** SIGMOID_STEP)
    return SIGMOID_LUT[np.clip(idx, 0, len(SIGMOID_LUT) - 1)]


def _sgd(p: np.ndarray, acc: np.ndarray, lr: float, n: int) -> None:
    """Float SGD step ``p -= lr * acc / n`` in place, by torch's ``add_(alpha=-lr)`` (what
    ``torch.optim.SGD`` does, a fused multiply-add) so the float path rounds as the torch learner."""
    g = torch.from_numpy(np.asarray(acc, dtype=np.float64) / n)
    torch._foreach_add_([torch.from_numpy(p)], [g], alpha=-lr)


class STARHidden(OnlineLayer, SGD):
    """The recurrent STAR adaptive-LIF layer (``fc_in``, ``rec``, ``cell``), float or fixed point."""

    var_names = ("w_in", "b_in", "w_rec", "leak_logit", "beta")

    def __init__(self, w_in: np.ndarray, b_in: np.ndarray, w_rec: np.ndarray, leak_logit: np.ndarray,
                 v_threshold: np.ndarray, beta: np.ndarray, rho: np.ndarray, slope: float, lr: float,
                 fixed: bool = False, learn_leak: bool = True, learn_beta: bool = True, input_frac: int = 0,
                 weight_bits: int = 8, in_headroom: int = 3, rec_headroom: int = 1, seed: int = 0) -> None:
        self.n_out, self.n_in = w_in.shape
        if w_rec.shape != (self.n_out, self.n_out):
            raise ValueError(f"STAR in Lava: rec.weight is {w_rec.shape}, want {(self.n_out, self.n_out)}")
        self.err_in_shape, self.err_out_shape = (self.n_out,), (self.n_in,)
        self._init_sgd(lr, fixed, weight_bits, seed)
        self.learn = {"w_in": True, "b_in": True, "w_rec": True, "leak_logit": bool(learn_leak),
                      "beta": bool(learn_beta)}
        self.slope, self.input_frac = float(slope), int(input_frac)
        if fixed:
            self.w_in_frac = weight_exp(w_in, weight_bits, in_headroom)
            self.w_rec_frac = weight_exp(w_rec, weight_bits, rec_headroom)
            self.w_in = fx.saturate(fx.to_fixed(w_in, self.w_in_frac), weight_bits)
            self.w_rec = fx.saturate(fx.to_fixed(w_rec, self.w_rec_frac), weight_bits)
            self.b_in = fx.saturate(fx.to_fixed(b_in, V_FRAC), STATE_BITS)
            self.leak_logit = fx.saturate(fx.to_fixed(leak_logit, LOGIT_FRAC), LOGIT_BITS)
            self.beta = fx.saturate(fx.to_fixed(beta, V_FRAC), STATE_BITS)
            self.th0 = fx.saturate(fx.to_fixed(v_threshold, V_FRAC), STATE_BITS)
            self.rho = fx.to_fixed(rho, fx.DECAY_BITS)
            self.phi_lut = fast_sigmoid_lut(self.slope)
        else:
            self.w_in, self.b_in, self.w_rec, self.leak_logit, self.beta, self.th0, self.rho = (
                np.array(p, dtype=np.float64) for p in (w_in, b_in, w_rec, leak_logit, beta, v_threshold, rho))
        dtype = np.int64 if fixed else np.float64
        self.acc = {k: np.zeros_like(getattr(self, k), dtype=dtype) for k in self.var_names}
        self.reset()

    def reset(self) -> None:
        dtype = np.int64 if self.fixed else np.float64
        self.u, self.a, self.s = (np.zeros(self.n_out, dtype) for _ in range(3))
        self.x = np.zeros(self.n_in, dtype)
        self.u_prev, self.a_prev, self.s_prev, self.phi = (np.zeros(self.n_out, dtype) for _ in range(4))

    def _alpha(self) -> np.ndarray:
        if self.fixed:
            return sigmoid_q(self.leak_logit)
        return torch.sigmoid(torch.from_numpy(self.leak_logit)).numpy()

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.u_prev, self.a_prev, self.s_prev = self.u, self.a, self.s
        alpha = self._alpha()
        if self.fixed:
            self.x = np.asarray(x, dtype=np.int64)
            i = (fx.shift_round(self.w_in @ self.x, self.w_in_frac + self.input_frac - V_FRAC) + self.b_in
                 + fx.shift_round(self.w_rec @ self.s_prev, self.w_rec_frac - V_FRAC))
            th = self.th0 + fx.shift_round(np.maximum(self.beta, 0) * self.a_prev, A_FRAC)
            v = fx.saturate(fx.decay(self.u_prev, alpha) + i, STATE_BITS)
            self.s = (v > th).astype(np.int64)
            self.u = fx.saturate(v - th * self.s, STATE_BITS)
            self.a = fx.decay(self.a_prev, self.rho) + ((1 << fx.DECAY_BITS) - self.rho) * self.s
            self.phi = fx.lut(self.phi_lut, np.abs(v - th) >> (V_FRAC - SG_STEP))
        else:
            self.x = np.asarray(x, dtype=np.float64)
            t = torch.from_numpy  # the model's own Linear calls (same summation order as torch)
            i = (F.linear(t(self.x)[None, None], t(self.w_in), t(self.b_in))[0, 0]
                 + F.linear(t(self.s_prev)[None], t(self.w_rec))[0]).numpy()
            th = self.th0 + np.maximum(self.beta, 0.0) * self.a_prev
            v = alpha * self.u_prev + i
            self.s = (v > th).astype(np.float64)
            self.u = v - th * self.s
            self.a = self.rho * self.a_prev + (1.0 - self.rho) * self.s
            self.phi = (self.slope * np.abs(v - th) + 1.0) ** 2  # float: the divisor, as autograd divides
        return self.s.copy()

    def backward(self, g: np.ndarray) -> np.ndarray:
        alpha = self._alpha()
        if self.fixed:
            delta = fx.shift_round(np.asarray(g, dtype=np.int64) * self.phi, PHI_FRAC)
            dalpha = (alpha * ((1 << fx.DECAY_BITS) - alpha)) >> fx.DECAY_BITS
            du = fx.shift_round(delta * self.u_prev, V_FRAC) * dalpha
            zero = np.zeros(self.n_in, np.int64)
        else:
            delta = np.asarray(g, dtype=np.float64) / self.phi
            du = delta * self.u_prev * (1.0 - alpha) * alpha  # autograd's order (sigmoid backward last)
            zero = np.zeros(self.n_in)
        if not delta.any():  # nothing to accumulate (no neuron near threshold, or no error)
            return zero
        self.acc["w_in"] += np.outer(delta, self.x)
        self.acc["b_in"] += delta
        self.acc["w_rec"] += np.outer(delta, self.s_prev)
        self.acc["leak_logit"] += du
        self.acc["beta"] -= delta * self.a_prev * (self.beta >= 0)
        return zero  # the input layer is the first layer: nothing below needs an error

    def apply_update(self, n_samples: int) -> None:
        if self.fixed:
            fr = {"w_in": (ERR_FRAC + self.input_frac, self.w_in_frac), "b_in": (ERR_FRAC, V_FRAC),
                  "w_rec": (ERR_FRAC, self.w_rec_frac), "leak_logit": (ERR_FRAC + fx.DECAY_BITS, LOGIT_FRAC),
                  "beta": (ERR_FRAC + A_FRAC, V_FRAC)}
            bits = {"w_in": self.weight_bits, "w_rec": self.weight_bits, "leak_logit": LOGIT_BITS}
            for k in self.var_names:
                if self.learn[k]:
                    p = getattr(self, k)
                    p[...] = fx.saturate(p + self._step(p, self.acc[k], n_samples, *fr[k]), bits.get(k, STATE_BITS))
        else:
            for k in self.var_names:
                if self.learn[k]:
                    _sgd(getattr(self, k), self.acc[k], self.lr, n_samples)
        for acc in self.acc.values():
            acc[...] = 0

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: getattr(self, k) for k in self.var_names}

    def params(self) -> dict[str, np.ndarray]:
        names = {"w_in": "fc_in.weight", "b_in": "fc_in.bias", "w_rec": "rec.weight", "leak_logit": "cell.leak_logit",
                 "beta": "cell.beta"}
        if not self.fixed:
            out = {names[k]: getattr(self, k).copy() for k in self.var_names}
        else:
            frac = {"w_in": self.w_in_frac, "b_in": V_FRAC, "w_rec": self.w_rec_frac, "leak_logit": LOGIT_FRAC,
                    "beta": V_FRAC}
            out = {names[k]: getattr(self, k) * 2.0 ** -frac[k] for k in self.var_names}
        if not self.learn["beta"]:
            out.pop("cell.beta")  # a buffer (zero) in non-adaptive cells: nothing learned
        return out


class STARReadout(CEReadout):
    """Leaky-integrator readout ``o = kappa o + W_o s + b_o`` of the hidden spikes, trained on the
    per-step cross-entropy / T (o_{t-1} is detached by TBPTT(1): the step's gradient is
    :class:`.stop.CEReadout`'s)."""

    def __init__(self, weight: np.ndarray, bias: np.ndarray, kappa: np.ndarray, steps: int, lr: float,
                 fixed: bool = False, weight_bits: int = 8, headroom: int = 4, seed: int = 0) -> None:
        super().__init__(weight, bias, steps, lr, fixed, weight_bits, seed, headroom=headroom)
        self.kappa = fx.to_fixed(kappa, fx.DECAY_BITS) if fixed else np.array(kappa, dtype=np.float64)
        self.reset()

    def reset(self) -> None:
        super().reset()
        self.o = np.zeros(self.n_out, dtype=np.int64 if self.fixed else np.float64)

    def forward(self, x: np.ndarray) -> np.ndarray:
        if self.fixed:
            self.o = fx.saturate(fx.decay(self.o, self.kappa) + super().forward(x), STATE_BITS)
        else:
            self.x = np.asarray(x, dtype=np.float64)
            t = torch.from_numpy
            self.o = self.kappa * self.o + F.linear(t(self.x)[None], t(self.weight), t(self.bias))[0].numpy()
        return self.o.copy()

    def backward(self, g: np.ndarray) -> np.ndarray:
        if self.fixed:
            return super().backward(g)
        self.acc["weight"] += np.outer(g, self.x)
        self.acc["bias"] += g
        # torch's matrix product (autograd's Linear backward), same summation order as the torch learner
        return (torch.from_numpy(np.asarray(g, dtype=np.float64))[None] @ torch.from_numpy(self.weight))[0].numpy()

    def error(self, y: np.ndarray, target: int) -> np.ndarray:
        if self.fixed:
            return super().error(y, target)
        # float: torch's own cross-entropy backward (its vectorised exp/log), so that float histories
        # equal torch's bit for bit over thousands of updates (the spiking dynamics amplify 1-ulp
        # differences); the value is (softmax(y) - onehot(target)) / T
        yt = torch.tensor(y, dtype=torch.float64, requires_grad=True)
        loss = torch.nn.functional.cross_entropy(yt[None], torch.tensor([target])) * (1.0 / self.steps)
        loss.backward()
        return yt.grad.numpy()

    def apply_update(self, n_samples: int) -> None:
        if self.fixed:
            return super().apply_update(n_samples)
        for k in self.var_names:
            _sgd(getattr(self, k), self.acc[k], self.lr, n_samples)
        for acc in self.acc.values():
            acc[...] = 0


def star_layers(model, steps: int, lr: float, fixed: bool = False, seed: int = 0, K: int = 1,
                update_every: int | None = 1, weight_bits: int = 8, in_headroom: int = 3, rec_headroom: int = 1,
                out_headroom: int = 4,
                input_frac: int = 0) -> list[OnlineLayer]:
    """Plastic layers of a :class:`zoo.models.star.STARRSNN` (its current parameters) for the
    recipe rule ``tbptt`` (signature of :mod:`.rules`); ``update_every`` (1: every step, None:
    per sample/batch) is applied by the schedule (:func:`.rules.update_every_step`)."""
    from zoo.models.star import STARRSNN

    if int(K) != 1:
        raise ValueError(f"tbptt in Lava: K = {K}; only K = 1 runs inside Lava (the state is detached every step, "
                         "so each step's update needs only that step's values)")
    if update_every not in (1, None):
        raise ValueError(f"tbptt in Lava: update_every = {update_every}; use 1 (an update after every time step) "
                         "or leave it out of the recipe")
    if not isinstance(model, STARRSNN):
        raise ValueError(f"tbptt in Lava: the model is {type(model).__name__}; only STARRSNN runs inside Lava")
    if model.readout_mode != "li":
        raise ValueError(f"tbptt in Lava: readout = {model.readout_mode!r}; only the leaky-integrator readout "
                         "(readout = \"li\") runs inside Lava")
    np_ = lambda t: t.detach().double().numpy().copy()  # noqa: E731
    cell = model.cell
    hidden = STARHidden(np_(model.fc_in.weight), np_(model.fc_in.bias), np_(model.rec.weight), np_(cell.leak_logit),
                        np_(cell.v_threshold), np_(cell.beta), np_(cell.rho), cell.slope, lr, fixed,
                        learn_leak=cell.leak_logit.requires_grad,
                        learn_beta=bool(cell.beta.requires_grad),
                        input_frac=input_frac, weight_bits=weight_bits, in_headroom=in_headroom,
                        rec_headroom=rec_headroom, seed=seed + 1)
    head = STARReadout(np_(model.readout.weight), np_(model.readout.bias), np_(model.readout_kappa), steps, lr, fixed,
                       weight_bits, out_headroom, seed=seed)
    return [hidden, head]
