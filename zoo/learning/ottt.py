"""OTTT-style online surrogate-gradient rule (Xiao et al., NeurIPS 2022) for ``LIFNet``: a small
baseline for the SpikingGamma benchmarks [ours, simplified].

At every step t, with all neuron state from t-1 detached (no backpropagation through time):

* presynaptic traces ``a_l[t] = lambda_l * a_l[t-1] + s_{l-1}[t]`` with ``lambda_l`` the leak of
  the postsynaptic layer (``beta``, or ``beta_out`` for the leaky readout);
* the instantaneous loss ``L(t)`` (per-step cross-entropy on the readout window, so that
  ``sum_t L(t)`` is the task loss) is backpropagated through the *current* step only (spike
  surrogate: fast sigmoid), and the weight gradient uses the trace instead of the spike:
  ``dL(t)/dW_l ~= g_l[t]^T a_{l-1}[t]`` with ``g_l = dL(t)/dI_l[t]``. Biases get the
  instantaneous gradient. For the leaky readout (linear, no reset) this is exact.

Gradients accumulate over the sequence and are applied once per batch. Memory: traces and
neuron states, constant in T.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from zoo.learning.base import make_optimizer
from zoo.tasks import Task
from zoo.tasks.delay import READOUT_FRACTION, READOUT_FRACTIONS, readout_slice


class OTTT:
    """Online training through time with presynaptic traces (for :class:`zoo.models.gamma.LIFNet`)."""

    def __init__(self, model: torch.nn.Module, task: Task, optimizer: str = "adam", lr: float = 1e-3,
                 grad_clip: float | None = None, readout_fraction: float | None = None, **opt_kw: Any) -> None:
        self.model, self.task, self.grad_clip = model, task, grad_clip
        self.fraction = readout_fraction or READOUT_FRACTIONS.get(task.name, READOUT_FRACTION)
        self.optimizer = make_optimizer(model.parameters(), optimizer, lr, **opt_kw)
        self.last: dict[str, float] = {}

    def step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, float]:
        inputs, targets = batch
        x = inputs.transpose(0, 1)
        T, B = x.shape[:2]
        win = readout_slice(T, self.fraction)
        W = win.stop - win.start
        model = self.model
        model.train()
        self.optimizer.zero_grad()
        lams = [model.beta] * len(model.fcs) + [model.beta_out]
        traces: list[torch.Tensor | None] = [None] * len(lams)

        def lin(i: int, s: torch.Tensor, m: torch.nn.Linear) -> torch.Tensor:
            s_d = s.detach()
            traces[i] = s_d if traces[i] is None else lams[i] * traces[i] + s_d
            tr = traces[i]
            via_trace = F.linear(tr, m.weight)
            return F.linear(s, m.weight.detach(), m.bias) + via_trace - via_trace.detach()

        state = model.init_state(B)
        loss_sum, n_spk = 0.0, 0.0
        for t in range(T):
            state = {k: [v.detach() for v in vs] for k, vs in state.items()}
            o, state = model.step(x[t], state, lin)
            n_spk += float(sum(s.detach().sum() for s in state["s"]))
            if t >= win.start:
                loss_t = F.cross_entropy(o, targets) / W
                loss_t.backward()
                loss_sum += float(loss_t.detach())
        if self.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), self.grad_clip)
        self.optimizer.step()
        state_floats = sum(v[0].numel() for vs in state.values() for v in vs) + sum(tr[0].numel() for tr in traces)
        self.last = {"loss": loss_sum, "hidden_spikes_per_sample": n_spk / B,
                     "state_floats_per_sample": float(state_floats)}
        return {"loss": loss_sum}

    def state_dict(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
