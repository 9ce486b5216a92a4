"""SpikingGamma (Koopman, Otte, Bohte 2026, arXiv 2602.01978) [reconstruction: the paper's exact equations are not
public; gamma memory of de Vries & Principe 1992 with exact discretisation, sigma-delta ReLU units].

Discretisation and messages [ours]: the buckets advance by the exact step ``Phi = expm(A dt)``
(events as impulses, values held over the step), so the same weights run at any dt without
retraining; a hidden unit sends at most one graded message per ``t_ref_ms`` (1 ms in the
recipes), which keeps the message count roughly constant in dt (``benchmarks/gamma/transfer.py``).

``GammaNet``: feedforward, time-first (T, B, n_inputs) -> logits (T, B, n_outputs).

Layer 1 (input spikes, ``input_mode="event"``), per input i, buckets k = 1..K1 (see
:mod:`zoo.neurons.gamma` for the exact bucket recursion)::

    b1[t]   = gamma_step(u[t], b1[t-1])                       (B, n_in, K1)
    x1_j[t] = sum_i sum_k W1[j, i, k] * b1_ik[t] + bias1_j    per-synapse trainable bucket weights
    r_j[t], s_j[t] = sigma-delta ReLU of x1_j[t]              (:mod:`zoo.neurons.sigma_delta`,
                                                              at most one message per t_ref_ms)

Layer 2 (readout, ``input_mode="value"``: its buckets filter the receiver-side sigma
reconstruction r of the graded hidden spikes s, i.e. r[t] = sum_{t'<=t} s[t'])::

    b2[t]   = gamma_step(r[t], b2[t-1])                       (B, H, K2)
    out_o[t] = sum_j sum_k W2[o, j, k] * b2_jk[t] + bias2_o   logits, no spikes (linear readout)

``n_hidden=0`` gives a single gamma layer (input buckets -> logits). There is no recurrence:
the only memory is the linear bucket state, so exact online gradients need only traces of
constant size (:mod:`zoo.learning.gamma_online`).

state_dict: ``layers.<l>.weight`` (n_out, n_in, K), ``layers.<l>.bias`` (n_out,),
``layers.<l>.gamma.tau`` (K,) ms. Derived, dt-dependent buffers (``Phi``, ``h``: the exact step
of :func:`zoo.neurons.gamma.gamma_matrices`) are not persistent, so the same weights run at any
``dt`` (the builder's ``dt`` argument, ms).

Also here: ``LIFNet``, the LIF baseline of the benchmarks (BPTT and OTTT), not a zoo entry.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from zoo.neurons.gamma import GammaCell
from zoo.neurons.sigma_delta import SigmaDeltaParameters, refractory_steps, sigma_delta_relu
from zoo.neurons.surrogate import fast_sigmoid_heaviside
from zoo.registry import ModelEntry, register


class GammaLayer(nn.Module):
    """Gamma-bucket synapses + per-bucket weights: ``x = einsum(b, W) + bias``."""

    def __init__(self, n_in: int, n_out: int, n_buckets: int, tau: float | Sequence[float], dt: float,
                 input_mode: str, init_gain: float = 1.0) -> None:
        super().__init__()
        self.gamma = GammaCell(n_buckets, tau, dt, input_mode)
        # the dt-dependent matrices are recomputed from tau; only tau is saved
        for name in ("Phi", "h"):
            buf = getattr(self.gamma, name)
            delattr(self.gamma, name)
            self.gamma.register_buffer(name, buf, persistent=False)
        bound = init_gain / math.sqrt(n_in * n_buckets)
        self.weight = nn.Parameter(torch.empty(n_out, n_in, n_buckets).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.zeros(n_out))

    def forward(self, u: torch.Tensor, b: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        b = self.gamma(u, b)
        return torch.einsum("bik,oik->bo", b, self.weight) + self.bias, b


class GammaNet(nn.Module):
    """SpikingGamma network: input spikes -> [gamma layer -> sigma-delta ReLU] -> gamma readout."""

    def __init__(self, n_inputs: int = 2, n_hidden: int = 32, n_outputs: int = 7, n_buckets: int = 8,
                 tau_ms: float | Sequence[float] = 2.0, n_buckets_out: int | None = None,
                 tau_out_ms: float | Sequence[float] | None = None, dt: float = 1.0, theta: float = 0.05,
                 input_gain: float = 1.0, t_ref_ms: float = 0.0) -> None:
        super().__init__()
        self.dt, self.theta, self.n_hidden = float(dt), float(theta), int(n_hidden)
        self.t_ref_ms = float(t_ref_ms)  # minimum interval between two messages of a hidden unit (ms)
        k_out = n_buckets if n_buckets_out is None else n_buckets_out
        tau_out = tau_ms if tau_out_ms is None else tau_out_ms
        if self.n_hidden > 0:
            self.layers = nn.ModuleList([
                GammaLayer(n_inputs, n_hidden, n_buckets, tau_ms, dt, "event", init_gain=input_gain),
                GammaLayer(n_hidden, n_outputs, k_out, tau_out, dt, "value"),
            ])
        else:
            self.layers = nn.ModuleList([GammaLayer(n_inputs, n_outputs, n_buckets, tau_ms, dt, "event",
                                                    init_gain=input_gain)])
        self.last_stats: dict[str, float] = {}

    @property
    def sigma_delta_parameters(self) -> SigmaDeltaParameters:
        """Threshold and minimum message interval in steps (``t_ref_ms`` at this model's dt)."""
        return SigmaDeltaParameters(self.theta, refractory_steps(self.t_ref_ms, self.dt))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (T, B, n_inputs) spike counts -> logits (T, B, n_outputs)."""
        p = self.sigma_delta_parameters
        b1 = b2 = r = q = None
        out = []
        n_spk = x.new_zeros(())
        for u in x:
            x1, b1 = self.layers[0](u, b1)
            if self.n_hidden == 0:
                out.append(x1)
                continue
            if r is None:
                r = torch.zeros_like(x1)
            r, s, _, q = sigma_delta_relu(x1, r, p, q)
            n_spk = n_spk + (s != 0).sum()
            x2, b2 = self.layers[1](r, b2)
            out.append(x2)
        B = x.shape[1]
        self.last_stats = {"input_spikes_per_sample": float(x.sum()) / B,
                           "hidden_spikes_per_sample": float(n_spk) / B}
        return torch.stack(out)


class LIFNet(nn.Module):
    """LIF baseline (not a zoo entry): n_in -> LIF(H) -> LIF(H) -> leaky integrator readout.

    Per layer, with ``beta = exp(-dt/tau_mem)`` (tau in ms, so the leak is dt-independent)::

        v[t] = beta * v[t-1] * (1 - s[t-1]) + W s_in[t] + (1 - beta) * bias
        s[t] = [v[t] > 1]                            (strict, fast-sigmoid surrogate)
        o[t] = beta_out * o[t-1] + W_out s_H[t] + (1 - beta_out) * bias_out     (logits)

    (reset to zero: the spike of step t zeroes v before the decay of step t+1.) Input spikes add
    W per spike and the bias is a constant current with steady state ``bias``, so the response
    to an event and the bias are dt-independent.
    """

    def __init__(self, n_inputs: int = 2, n_hidden: int = 64, n_outputs: int = 7, n_layers: int = 2,
                 tau_mem_ms: float = 5.0, tau_out_ms: float = 10.0, dt: float = 1.0, slope: float = 10.0,
                 input_gain: float = 1.0) -> None:
        super().__init__()
        sizes = [n_inputs] + [n_hidden] * n_layers
        self.fcs = nn.ModuleList([nn.Linear(a, b, bias=False) for a, b in zip(sizes[:-1], sizes[1:])])
        self.biases = nn.ParameterList([nn.Parameter(torch.zeros(b)) for b in sizes[1:]])
        with torch.no_grad():
            self.fcs[0].weight.mul_(input_gain)
        self.out = nn.Linear(n_hidden, n_outputs, bias=False)
        self.out_bias = nn.Parameter(torch.zeros(n_outputs))
        self.dt, self.slope = float(dt), float(slope)
        self.beta = math.exp(-dt / tau_mem_ms)
        self.beta_out = math.exp(-dt / tau_out_ms)
        self.last_stats: dict[str, float] = {}

    def init_state(self, batch: int) -> dict[str, list[torch.Tensor]]:
        z = [torch.zeros(batch, fc.out_features) for fc in self.fcs]
        return {"v": z, "s": [t.clone() for t in z], "o": [torch.zeros(batch, self.out.out_features)]}

    def step(self, u: torch.Tensor, state: dict[str, list[torch.Tensor]], linear=None
             ) -> tuple[torch.Tensor, dict[str, list[torch.Tensor]]]:
        """One step; ``linear(layer_index, input, module)`` overrides the synapse (OTTT hook)."""
        lin = linear or (lambda i, x, m: m(x))
        v_new, s_new = [], []
        inp = u
        for i, fc in enumerate(self.fcs):
            v = (self.beta * state["v"][i] * (1 - state["s"][i]) + lin(i, inp, fc)
                 + (1 - self.beta) * self.biases[i])
            s = fast_sigmoid_heaviside(v - 1.0, self.slope)
            v_new.append(v)
            s_new.append(s)
            inp = s
        o = self.beta_out * state["o"][0] + lin(len(self.fcs), inp, self.out) + (1 - self.beta_out) * self.out_bias
        return o, {"v": v_new, "s": s_new, "o": [o]}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        state = self.init_state(x.shape[1])
        out, n_spk = [], 0.0
        for u in x:
            o, state = self.step(u, state)
            n_spk += float(sum(s.detach().sum() for s in state["s"]))
            out.append(o)
        self.last_stats = {"input_spikes_per_sample": float(x.sum()) / x.shape[1],
                           "hidden_spikes_per_sample": n_spk / x.shape[1]}
        return torch.stack(out)


def gamma_delay(**config) -> GammaNet:
    """Delay task defaults: 2 inputs, 32 hidden, 7 classes, K = 8 buckets of tau = 2 ms, t_ref = 1 ms."""
    return GammaNet(**{"n_inputs": 2, "n_hidden": 32, "n_outputs": 7, "n_buckets": 8, "tau_ms": 2.0,
                       "t_ref_ms": 1.0, **config})


def gamma_seqdigits(**config) -> GammaNet:
    """Sequential-digits defaults: 8 inputs (one per column), 64 hidden, 10 classes, t_ref = 1 ms."""
    return GammaNet(**{"n_inputs": 8, "n_hidden": 64, "n_outputs": 10, "n_buckets": 6, "tau_ms": 4.0,
                       "t_ref_ms": 1.0, **config})


register(ModelEntry(
    name="gamma-delay", paper="SpikingGamma (Koopman, Otte, Bohte 2026) [reconstruction]", task="delay",
    metric="accuracy", higher_is_better=True, builder=gamma_delay,
    description="Gamma-bucket synapses + sigma-delta ReLU, online-trained, ITD-like delay task (7 classes)",
))
register(ModelEntry(
    name="gamma-seqdigits", paper="SpikingGamma (Koopman, Otte, Bohte 2026) [reconstruction]",
    task="digit-events", metric="accuracy", higher_is_better=True, builder=gamma_seqdigits,
    description="Gamma-bucket synapses + sigma-delta ReLU, online-trained, row-sequential event digits",
))
