"""STOP's trace rule (Gao et al., arXiv 2411.11082; torch version :mod:`zoo.learning.stop`) as
plastic layers that run inside Lava: one :class:`STOPHidden` per LIF layer of a dense
:class:`zoo.models.stop.STOPNet` and a :class:`CEReadout` on top.

Per hidden layer and step (float64; ``r = v - theta*s`` of the previous step)::

    I = W x + b;  v = alpha*r + I;  s = v > theta                        forward
    w~ = alpha*w~ + x;  b~ = alpha*b~ + 1;  th~ = alpha*(th~ - s_prev);  al~ = alpha*al~ + r
    delta = g * exp(-|v - theta|);  send W^T delta down                    same-step backward
    dW += delta (x) w~;  db += delta*b~;  dtheta += delta*(th~ - 1);  dalpha += sum(delta*al~)

Readout: ``y = W_o s + b_o``, ``g_y = (softmax(y) - onehot(target)) / T`` (the per-step
cross-entropy ``E[t] = CE(y[t]) / T``), ``dW_o += g_y (x) s``, sends ``W_o^T g_y`` down.
``apply_update(B)``: SGD ``p -= lr * dp / B``, then ``alpha`` clamped to
``[alpha_min, alpha_max]`` and ``theta >= theta_min`` — exactly :class:`zoo.learning.stop.STOP`
with ``optimizer = "sgd"`` and ``batch_size = B`` on the same data order.

Fixed point (Loihi-2-style integers; a value q with f fractional bits stands for q 2^-f):

* state, biases, thresholds, leakage trace, readout: ``V_FRAC = 12`` (theta = 1.0 -> 4096),
  24-bit saturating; leak ``alpha_q`` 12-bit (alpha = alpha_q / 4096), decays truncate toward
  zero like Lava's LIF.
* weights: ``weight_bits``-bit signed mantissas (default 8) with a per-layer exponent fixed at
  the start: the largest initial |W| uses half of the range (headroom for learning).
* inputs: spikes, or graded inputs with ``input_frac`` bits (first layer).
* traces: ``TRACE_FRAC = 8`` fractional bits, saturating at ``trace_bits`` (default 16; w~ and
  b~ unsigned, th~ signed).
* surrogate ``exp(-|v - theta|)``: 8-bit lookup table over |v - theta| in steps of 1/64.
* errors: messages with ``ERR_FRAC = 16`` fractional bits, 24-bit saturating; the readout's
  softmax uses a 16-bit exp table and one integer division.
* updates: per-synapse integer accumulators over the batch, then
  ``dq = stochastic_shift(-lr_m * acc, shift)`` with the learning rate as an 8-bit mantissa and
  a shift (``lr = lr_m 2^-lr_e``) and stochastic rounding (integer random bits from a seeded
  generator, so Lava and the emulator round identically); weights saturate at their width.
"""
from __future__ import annotations

import numpy as np

from exporters.lava.plastic import fixed as fx
from exporters.lava.plastic.layer import OnlineHead, OnlineLayer
from exporters.lava.plastic.sgd import SGD, weight_exp

V_FRAC = 12
TRACE_FRAC = 8
ERR_FRAC = 16
PHI_FRAC = 8
STATE_BITS = 24
PHI_LUT = fx.exp_lut(6, PHI_FRAC)           # |v - theta| in steps of 2^-6
SOFTMAX_LUT = fx.exp_lut(6, 16, span=24.0)  # (y_max - y) in steps of 2^-6


class STOPHidden(OnlineLayer, SGD):
    """One dense STOP LIF layer (``blocks.{index}`` of a STOPNet), float or fixed point."""

    var_names = ("weight", "bias", "v_threshold", "alpha")

    def __init__(self, index: int, weight: np.ndarray, bias: np.ndarray, v_threshold: np.ndarray,
                 alpha: float, lr: float, fixed: bool = False, input_frac: int = 0, weight_bits: int = 8,
                 trace_bits: int = 16, learn_threshold: bool = True, learn_leak: bool = True,
                 alpha_min: float = 0.0, alpha_max: float = 1.0, theta_min: float = 0.05,
                 seed: int = 0) -> None:
        self.index = index
        self.n_out, self.n_in = weight.shape
        self.err_in_shape, self.err_out_shape = (self.n_out,), (self.n_in,)
        self._init_sgd(lr, fixed, weight_bits, seed)
        self.learn_threshold, self.learn_leak = learn_threshold, learn_leak
        self.input_frac, self.trace_bits = int(input_frac), int(trace_bits)
        if fixed:
            if self.input_frac > TRACE_FRAC:
                raise ValueError(f"blocks.{index}: input_frac {input_frac} > trace resolution {TRACE_FRAC} bits")
            self.w_frac = weight_exp(weight, weight_bits)
            self.weight = fx.saturate(fx.to_fixed(weight, self.w_frac), weight_bits)
            self.bias = fx.saturate(fx.to_fixed(bias, V_FRAC), STATE_BITS)
            self.v_threshold = fx.saturate(fx.to_fixed(v_threshold, V_FRAC), STATE_BITS)
            self.alpha = fx.to_fixed(np.reshape(alpha, (1,)), fx.DECAY_BITS)
            self.bounds = (fx.to_fixed(alpha_min, fx.DECAY_BITS), fx.to_fixed(alpha_max, fx.DECAY_BITS),
                           fx.to_fixed(theta_min, V_FRAC))
        else:
            self.weight = np.array(weight, dtype=np.float64)
            self.bias = np.array(bias, dtype=np.float64)
            self.v_threshold = np.array(v_threshold, dtype=np.float64)
            self.alpha = np.array(alpha, dtype=np.float64).reshape(1)
            self.bounds = (alpha_min, alpha_max, theta_min)
        dtype = np.int64 if fixed else np.float64
        self.acc = {k: np.zeros_like(getattr(self, k), dtype=dtype) for k in self.var_names}
        self.reset()

    # -- state
    def reset(self) -> None:
        dtype = np.int64 if self.fixed else np.float64
        z = lambda shape: np.zeros(shape, dtype=dtype)  # noqa: E731
        self.v, self.s, self.th_tr, self.al_tr, self.phi = (z(self.n_out) for _ in range(5))
        self.w_tr, self.b_tr = z(self.n_in), z(())

    def forward(self, x: np.ndarray) -> np.ndarray:
        a, th = self.alpha[0], self.v_threshold
        if self.fixed:
            x = np.asarray(x, dtype=np.int64)
            i = fx.shift_round(self.weight @ x, self.w_frac + self.input_frac - V_FRAC) + self.bias
            r = self.v - th * self.s
            self.th_tr = fx.saturate(fx.decay(self.th_tr - (self.s << TRACE_FRAC), a), self.trace_bits)
            self.al_tr = fx.saturate(fx.decay(self.al_tr, a) + r, STATE_BITS)
            self.v = fx.saturate(fx.decay(r, a) + i, STATE_BITS)
            self.w_tr = fx.saturate(fx.decay(self.w_tr, a) + (x << (TRACE_FRAC - self.input_frac)),
                                    self.trace_bits, signed=False)
            self.b_tr = fx.saturate(fx.decay(self.b_tr, a) + (1 << TRACE_FRAC), self.trace_bits, signed=False)
            self.s = (self.v > th).astype(np.int64)
            self.phi = fx.lut(PHI_LUT, np.abs(self.v - th) >> (V_FRAC - 6))
        else:
            i = self.weight @ x + self.bias
            r = self.v - th * self.s
            self.th_tr = a * (self.th_tr - self.s)
            self.al_tr = a * self.al_tr + r
            self.v = a * r + i
            self.w_tr = a * self.w_tr + x
            self.b_tr = a * self.b_tr + 1.0
            self.s = (self.v > th).astype(np.float64)
            self.phi = np.exp(-np.abs(self.v - th))
        return self.s.copy()

    def backward(self, g: np.ndarray) -> np.ndarray:
        if self.fixed:
            delta = fx.shift_round(np.asarray(g, dtype=np.int64) * self.phi, PHI_FRAC)
            self.acc["weight"] += np.outer(delta, self.w_tr)
            self.acc["bias"] += delta * self.b_tr
            self.acc["v_threshold"] += delta * (self.th_tr - (1 << TRACE_FRAC))
            self.acc["alpha"] += np.sum(delta * self.al_tr)
            return fx.saturate(fx.shift_round(self.weight.T @ delta, self.w_frac), STATE_BITS)
        delta = g * self.phi
        self.acc["weight"] += np.outer(delta, self.w_tr)
        self.acc["bias"] += delta * self.b_tr
        self.acc["v_threshold"] += delta * (self.th_tr - 1.0)
        self.acc["alpha"] += np.sum(delta * self.al_tr)
        return self.weight.T @ delta

    def apply_update(self, n_samples: int) -> None:
        learn = {"weight": True, "bias": True, "v_threshold": self.learn_threshold, "alpha": self.learn_leak}
        a_min, a_max, th_min = self.bounds
        if self.fixed:
            fr = {"weight": (ERR_FRAC + TRACE_FRAC, self.w_frac), "bias": (ERR_FRAC + TRACE_FRAC, V_FRAC),
                  "v_threshold": (ERR_FRAC + TRACE_FRAC, V_FRAC), "alpha": (ERR_FRAC + V_FRAC, fx.DECAY_BITS)}
            for k in self.var_names:
                if learn[k]:
                    getattr(self, k)[...] += self._step(getattr(self, k), self.acc[k], n_samples, *fr[k])
            self.weight[...] = fx.saturate(self.weight, self.weight_bits)
            self.bias[...] = fx.saturate(self.bias, STATE_BITS)
        else:
            for k in self.var_names:
                if learn[k]:
                    getattr(self, k)[...] -= self.lr * self.acc[k] / n_samples
        np.clip(self.alpha, a_min, a_max, out=self.alpha)
        np.maximum(self.v_threshold, th_min, out=self.v_threshold)
        for acc in self.acc.values():
            acc[...] = 0

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: getattr(self, k) for k in self.var_names}

    def params(self) -> dict[str, np.ndarray]:
        p = f"blocks.{self.index}."
        if not self.fixed:
            return {p + "syn.weight": self.weight.copy(), p + "syn.bias": self.bias.copy(),
                    p + "lif.v_threshold": self.v_threshold.copy(), p + "lif.alpha": self.alpha.copy()}
        return {p + "syn.weight": self.weight * 2.0 ** -self.w_frac, p + "syn.bias": self.bias * 2.0 ** -V_FRAC,
                p + "lif.v_threshold": self.v_threshold * 2.0 ** -V_FRAC,
                p + "lif.alpha": self.alpha * 2.0 ** -fx.DECAY_BITS}


class CEReadout(OnlineHead, SGD):
    """Stateless linear readout ``y = W_o s + b_o`` trained on the per-step cross-entropy / T."""

    var_names = ("weight", "bias")
    out_frac = V_FRAC

    def __init__(self, weight: np.ndarray, bias: np.ndarray, steps: int, lr: float, fixed: bool = False,
                 weight_bits: int = 8, seed: int = 0, headroom: int = 1) -> None:
        self.n_out, self.n_in = weight.shape
        self.err_in_shape, self.err_out_shape = (self.n_out,), (self.n_in,)
        self.steps = int(steps)
        self._init_sgd(lr, fixed, weight_bits, seed)
        if fixed:
            self.w_frac = weight_exp(weight, weight_bits, headroom)
            self.weight = fx.saturate(fx.to_fixed(weight, self.w_frac), weight_bits)
            self.bias = fx.saturate(fx.to_fixed(bias, V_FRAC), STATE_BITS)
        else:
            self.weight = np.array(weight, dtype=np.float64)
            self.bias = np.array(bias, dtype=np.float64)
        self.acc = {k: np.zeros_like(getattr(self, k)) for k in self.var_names}
        self.reset()

    def reset(self) -> None:
        self.x = np.zeros(self.n_in, dtype=np.int64 if self.fixed else np.float64)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = np.asarray(x, dtype=np.int64 if self.fixed else np.float64)
        if self.fixed:  # spikes in, state units out
            return fx.shift_round(self.weight @ self.x, self.w_frac - V_FRAC) + self.bias
        return self.weight @ self.x + self.bias

    def error(self, y: np.ndarray, target: int) -> np.ndarray:
        if self.fixed:
            e = fx.lut(SOFTMAX_LUT, (np.max(y) - y) >> (V_FRAC - 6))
            p = (e << ERR_FRAC) // np.sum(e)
            p[target] -= 1 << ERR_FRAC
            return fx.shift_round(p * ((1 << 16) // self.steps), 16)
        e = np.exp(y - np.max(y))
        p = e / e.sum()
        p[target] -= 1.0
        return p / self.steps

    def backward(self, g: np.ndarray) -> np.ndarray:
        self.acc["weight"] += np.outer(g, self.x)
        self.acc["bias"] += g
        if self.fixed:
            return fx.saturate(fx.shift_round(self.weight.T @ g, self.w_frac), STATE_BITS)
        return self.weight.T @ g

    def apply_update(self, n_samples: int) -> None:
        if self.fixed:
            self.weight += self._step(self.weight, self.acc["weight"], n_samples, ERR_FRAC, self.w_frac)
            self.bias += self._step(self.bias, self.acc["bias"], n_samples, ERR_FRAC, V_FRAC)
            self.weight[...] = fx.saturate(self.weight, self.weight_bits)
            self.bias[...] = fx.saturate(self.bias, STATE_BITS)
        else:
            self.weight -= self.lr * self.acc["weight"] / n_samples
            self.bias -= self.lr * self.acc["bias"] / n_samples
        for acc in self.acc.values():
            acc[...] = 0

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: getattr(self, k) for k in self.var_names}

    def params(self) -> dict[str, np.ndarray]:
        if not self.fixed:
            return {"readout.weight": self.weight.copy(), "readout.bias": self.bias.copy()}
        return {"readout.weight": self.weight * 2.0 ** -self.w_frac, "readout.bias": self.bias * 2.0 ** -V_FRAC}


def stop_layers(model, steps: int, lr: float, fixed: bool = False, variant: str = "WTL", input_frac: int = 8,
                weight_bits: int = 8, trace_bits: int = 16, alpha_min: float = 0.0, alpha_max: float = 1.0,
                theta_min: float = 0.05, seed: int = 0) -> list[OnlineLayer]:
    """Plastic layers of a dense :class:`zoo.models.stop.STOPNet` (its current parameters),
    the readout last. ``variant``: W, WT, WL or WTL (what learns besides weights/biases)."""
    from torch import nn

    if variant not in ("W", "WT", "WL", "WTL"):
        raise ValueError(f"STOP in Lava: variant must be W, WT, WL or WTL, got {variant!r}")
    layers: list[OnlineLayer] = []
    for i, blk in enumerate(model.blocks):
        if not (isinstance(blk.syn, nn.Linear) and isinstance(blk.pre, nn.Identity)):
            raise ValueError(f"STOP in Lava: blocks.{i} is {type(blk.syn).__name__} after {type(blk.pre).__name__}; "
                             "only dense STOPNets (Linear synapses, no pooling) train in Lava")
        np_ = lambda t: t.detach().double().numpy()  # noqa: E731
        layers.append(STOPHidden(i, np_(blk.syn.weight), np_(blk.syn.bias), np_(blk.lif.v_threshold),
                                 float(blk.lif.alpha.detach()), lr, fixed, input_frac if i == 0 else 0, weight_bits,
                                 trace_bits, "T" in variant, "L" in variant, alpha_min, alpha_max, theta_min,
                                 seed=seed + 1 + i))
    if not isinstance(model.readout_pre, nn.Identity):
        raise ValueError("STOP in Lava: readout_pre must be Identity (dense STOPNet)")
    ro = model.readout
    layers.append(CEReadout(ro.weight.detach().double().numpy(), ro.bias.detach().double().numpy(), steps, lr,
                            fixed, weight_bits, seed=seed))
    return layers
