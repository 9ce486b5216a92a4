"""SpikingGamma's online, surrogate-free rule [reconstruction, ours]: exact forward-mode gradients
through the linear gamma buckets, with constant memory in T.

The instantaneous loss is the task's per-step loss, ``L(t) = CE(out[t], y) / (B * W)`` for t in
the readout window (W steps) -- so ``sum_t L(t)`` is exactly ``task.loss`` of
:func:`zoo.tasks.delay.window_cross_entropy`. At every step t, with no stored history:

* readout layer (l = 2, or the only layer): ``dL(t)/dW2[o,j,k] = delta_o[t] * b2_jk[t]`` with
  ``delta = dL(t)/d out[t] = (softmax(out[t]) - onehot(y)) / (B*W)``: local in time given the
  bucket state -- for a single layer this *is* autograd's gradient of L(t) (tested).
* hidden layer (l = 1): ``out[t]`` depends on W1 through the whole history of r (the layer-2
  buckets are linear filters of r). Because the filter is linear and has no parameters, the
  exact derivative is carried forward by eligibility traces that are themselves filtered by the
  layer-2 bucket recursion: ``E[j,i,k,m][t] = Gamma2_m[ relu'(x1_j) * b1_ik ][t]``,
  ``F[j,m][t] = Gamma2_m[ relu'(x1_j) ][t]``; then
  ``dL(t)/dW1[j,i,k] = sum_m g_jm[t] E[j,i,k,m][t]``, ``g = dL(t)/db2 = delta @ W2``.
  The sigma-delta quantiser is the identity for the gradient (straight-through), no spike
  surrogate is used, nothing is backpropagated through time, and the state (b1, b2, r, E, F)
  has a size independent of T. The accumulated online gradient equals the BPTT gradient of
  ``task.loss`` on the same model (tested).

By default the accumulated gradient is applied once per sequence (``update_every=None``);
``update_every=n`` applies it every n readout steps (true online updates; then later traces
mix gradients w.r.t. slightly older weights, as in RTRL).
"""
from __future__ import annotations

from typing import Any

import torch

from zoo.learning.base import make_optimizer
from zoo.neurons.sigma_delta import sigma_delta_step
from zoo.tasks import Task
from zoo.tasks.delay import READOUT_FRACTION, READOUT_FRACTIONS, readout_slice


def gamma_step_matrix(cell, u: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Bucket update of ``cell`` (:class:`zoo.neurons.gamma.GammaCell`) on arbitrary leading dims."""
    return cell.step(u, b)


def online_gradients(model, inputs: torch.Tensor, targets: torch.Tensor, fraction: float = READOUT_FRACTION,
                     on_grad=None) -> dict[str, float]:
    """Run ``model`` (a :class:`zoo.models.gamma.GammaNet`) over ``inputs`` (T, B, N) and
    accumulate the exact online gradient of the window loss into ``.grad`` of its parameters.

    ``on_grad(t)`` (optional) is called after the gradient of step t has been added.
    Returns loss, state size (floats per sample) and spike counts.
    """
    T, B, _ = inputs.shape
    win = readout_slice(T, fraction)
    W = win.stop - win.start
    layers = list(model.layers)
    single = len(layers) == 1
    l1 = layers[0]
    for prm in model.parameters():
        if prm.grad is None:
            prm.grad = torch.zeros_like(prm)
    onehot = torch.nn.functional.one_hot(targets, layers[-1].weight.shape[0]).to(inputs.dtype)
    p = model.sigma_delta_parameters
    n_in, K1 = l1.weight.shape[1], l1.weight.shape[2]
    b1 = inputs.new_zeros(B, n_in, K1)
    loss_sum, n_spk = 0.0, 0.0
    with torch.no_grad():
        if not single:
            l2 = layers[1]
            H, K2 = l2.weight.shape[1], l2.weight.shape[2]
            b2 = inputs.new_zeros(B, H, K2)
            r = inputs.new_zeros(B, H)
            q = inputs.new_zeros(B, H)
            E = inputs.new_zeros(B, H, n_in, K1, K2)
            F = inputs.new_zeros(B, H, K2)
            state_floats = sum(t[0].numel() for t in (b1, b2, r, q, E, F))
        else:
            state_floats = b1[0].numel()
        for t in range(T):
            b1 = gamma_step_matrix(l1.gamma, inputs[t], b1)
            x1 = torch.einsum("bik,oik->bo", b1, l1.weight) + l1.bias
            if single:
                out, last = x1, l1
            else:
                m = (x1 > 0).to(x1.dtype)
                s, r, q = sigma_delta_step(torch.relu(x1), r, p, q)
                n_spk += float((s != 0).sum())
                E = gamma_step_matrix(l2.gamma, m[:, :, None, None] * b1[:, None], E)
                F = gamma_step_matrix(l2.gamma, m, F)
                b2 = gamma_step_matrix(l2.gamma, r, b2)
                out = torch.einsum("bjk,ojk->bo", b2, l2.weight) + l2.bias
                last = l2
            if t < win.start:
                continue
            logp = torch.log_softmax(out, dim=-1)
            loss_sum += float(-(logp * onehot).sum()) / (B * W)
            delta = (logp.exp() - onehot) / (B * W)
            b_last = b1 if single else b2
            last.weight.grad += torch.einsum("bo,bjk->ojk", delta, b_last)
            last.bias.grad += delta.sum(0)
            if not single:
                g = torch.einsum("bo,ojm->bjm", delta, l2.weight)
                l1.weight.grad += torch.einsum("bjm,bjikm->jik", g, E)
                l1.bias.grad += (g * F).sum(dim=(0, 2))
            if on_grad is not None:
                on_grad(t)
    return {"loss": loss_sum, "state_floats_per_sample": float(state_floats),
            "hidden_spikes_per_sample": n_spk / B, "input_spikes_per_sample": float(inputs.sum()) / B}


class GammaOnline:
    """Learner: exact online gradients (constant memory in T), Adam by default."""

    def __init__(self, model: torch.nn.Module, task: Task, optimizer: str = "adam", lr: float = 1e-3,
                 update_every: int | None = None, grad_clip: float | None = None,
                 readout_fraction: float | None = None, **opt_kw: Any) -> None:
        if not hasattr(model, "layers") or len(model.layers) > 2:
            raise ValueError("gamma_online supports GammaNet with 0 or 1 hidden layers")
        self.model, self.task, self.update_every, self.grad_clip = model, task, update_every, grad_clip
        self.fraction = readout_fraction or READOUT_FRACTIONS.get(task.name, READOUT_FRACTION)
        self.optimizer = make_optimizer(model.parameters(), optimizer, lr, **opt_kw)
        self.last: dict[str, float] = {}

    def _apply(self) -> None:
        if self.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=False)

    def step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, float]:
        inputs, targets = batch
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        counter = {"n": 0}

        def on_grad(t: int) -> None:
            counter["n"] += 1
            if self.update_every and counter["n"] % self.update_every == 0:
                self._apply()

        self.last = online_gradients(self.model, inputs.transpose(0, 1), targets, self.fraction, on_grad)
        if not self.update_every or counter["n"] % self.update_every:
            self._apply()
        return {"loss": self.last["loss"]}

    def state_dict(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
