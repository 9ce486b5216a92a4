"""STOP: spatiotemporal orthogonal propagation (Gao et al., arXiv 2411.11082), docs/papers.md §3.

Temporally forward traces, spatially backward *same-step* errors, for a :class:`zoo.models.stop.STOPNet`
(Linear and Conv2d synapses, parameter-free linear ``pre`` operators such as pooling). Per layer,
with ``r[t-1] = v[t-1] - theta*s[t-1]`` (state after reset) and ``phi(x) = exp(-|x|)``::

    w~[t]  = alpha*w~[t-1] + x[t]          weight trace (synapse input after ``pre``)
    b~[t]  = alpha*b~[t-1] + 1             bias trace
    th~[t] = alpha*(th~[t-1] - s[t-1])     threshold trace
    al~[t] = alpha*al~[t-1] + r[t-1]       leakage trace
    delta^L[t] = dE[t]/ds^L[t] * phi(v^L[t] - theta^L)            (same step only)
    delta^l[t] = pre^T W^{l+1,T} delta^{l+1}[t] * phi(v^l[t] - theta^l)
    dW = sum_t delta[t] (x) w~[t]  (conv: the conv weight-gradient of the trace image)
    db = sum_t delta[t] b~[t];  dtheta_j = sum_t delta_j[t] (th~_j[t] - 1)
    dalpha = sum_t sum_j delta_j[t] al~_j[t]          leak_reduction = "sum" (default)
    dalpha = sum_t mean_j delta_j[t] al~_j[t]         leak_reduction = "mean"

(sums also run over the batch and, for conv layers, over height/width: per-channel
threshold; for ``"mean"`` the mean runs over the layer's neurons of one sample, C*H*W for conv
layers, and the result is summed over the batch like every other update.) The per-step loss is
``E[t] = CE(y[t], target) / T`` (batch mean) with the stateless readout ``y[t]``, whose
gradient is exact per step. Only the current step's tensors and the traces are kept, so memory
does not grow with T. [3rd-party equations. The third-party reading of the paper has the
per-neuron mean in dalpha; we could not check the paper's own equation, so the default stays
the sum, which is the exact gradient of the loss (the Lava STOP rule uses the sum too);
``"mean"`` is that gradient divided by the layer's neuron count. Measured effect:
benchmarks/stop/leak_reduction.py.]

These are exactly the gradients of the same network, under autograd, with the temporal
paths STOP ignores cut — reset spikes detached, and spikes of earlier steps detached where
they enter the next layer (:func:`cut_autograd_gradients`, tested to 1e-5 in float64).

Variants: ``W`` (weights and biases), ``WT`` (+ thresholds), ``WL`` (+ leaks), ``WTL`` (all),
and ``BPTT`` (full backpropagation through time of the same network and loss, all parameters).
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from zoo.learning.base import make_optimizer, time_first
from zoo.neurons.stop_lif import STOPLIFState, broadcast_threshold
from zoo.neurons.surrogate import exp_grad
from zoo.tasks import Task

VARIANTS = ("W", "WT", "WL", "WTL", "BPTT")
LEAK_REDUCTIONS = ("sum", "mean")


def per_step_loss(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean over steps of the cross-entropy of the readout at each step; outputs (T, B, K)."""
    T = outputs.shape[0]
    return sum(F.cross_entropy(outputs[t], targets) for t in range(T)) / T


def _syn_nobias(syn: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The synapse without its bias (linear in x)."""
    if isinstance(syn, nn.Linear):
        return F.linear(x, syn.weight)
    if isinstance(syn, nn.Conv2d):
        return F.conv2d(x, syn.weight, None, syn.stride, syn.padding, syn.dilation, syn.groups)
    raise TypeError(f"STOP supports Linear and Conv2d synapses, got {type(syn).__name__}")


def _reduce_to_neuron(t: torch.Tensor) -> torch.Tensor:
    """Sum over batch (and height/width for conv states) -> (n,)."""
    return t.sum(dim=0) if t.ndim == 2 else t.sum(dim=(0, 2, 3))


def check_leak_reduction(leak_reduction: str) -> None:
    if leak_reduction not in LEAK_REDUCTIONS:
        raise ValueError(f"leak_reduction must be one of {LEAK_REDUCTIONS}, got {leak_reduction!r}")


def learned_parameters(model: nn.Module, variant: str) -> list[nn.Parameter]:
    """Parameters a variant trains: weights/biases always, thresholds with T, leaks with L."""
    if variant not in VARIANTS:
        raise ValueError(f"STOP variant must be one of {VARIANTS}, got {variant!r}")
    out = []
    for name, p in model.named_parameters():
        if name.endswith("lif.v_threshold") and variant not in ("WT", "WTL", "BPTT"):
            continue
        if name.endswith("lif.alpha") and variant not in ("WL", "WTL", "BPTT"):
            continue
        out.append(p)
    return out


@torch.no_grad()
def stop_gradients(model: nn.Module, x: torch.Tensor, targets: torch.Tensor,
                   variant: str = "WTL", leak_reduction: str = "sum") -> tuple[dict[str, torch.Tensor], float]:
    """STOP parameter updates (gradient estimates) of ``model`` on one batch.

    x: (T, B, ...) time-first input; targets: (B,). Returns ({param name: grad}, loss), where
    loss is the per-step loss (:func:`per_step_loss`) of the forward pass. Parameters not
    trained by ``variant`` get no entry. ``leak_reduction``: ``"sum"`` or ``"mean"`` over the
    layer's neurons in the leak update (module docstring).
    """
    check_leak_reduction(leak_reduction)
    learn_t = variant in ("WT", "WTL")
    learn_l = variant in ("WL", "WTL")
    blocks = list(model.blocks)
    names = {id(p): n for n, p in model.named_parameters()}
    grads: dict[str, torch.Tensor] = {}

    def acc(p: torch.Tensor, g: torch.Tensor) -> None:
        key = names[id(p)]
        grads[key] = grads[key] + g if key in grads else g.clone()

    T = x.shape[0]
    n_layers = len(blocks)
    v = [None] * n_layers  # v[t-1] (before reset)
    s = [None] * n_layers  # s[t-1]
    wtr = [None] * n_layers
    btr = [0.0] * n_layers
    thtr = [None] * n_layers
    altr = [None] * n_layers
    total_loss = 0.0
    for t in range(T):
        h = x[t]
        leaves, graphs, deltas_phi = [], [], []
        for i, blk in enumerate(blocks):
            alpha = blk.lif.alpha.detach()
            # forward with a one-step graph from the input spikes (leaf) and W to the trace term
            with torch.enable_grad():
                leaf = h.detach().requires_grad_(i > 0)
                xin = blk.pre(leaf)
                w_now = xin if wtr[i] is None else alpha * wtr[i] + xin
                z = _syn_nobias(blk.syn, w_now)  # d z / d W = trace; d z / d leaf = pre^T W^T
            wtr[i] = w_now.detach()
            btr[i] = alpha * btr[i] + 1.0
            current = blk.syn(xin.detach())
            theta = broadcast_threshold(blk.lif.v_threshold.detach(), current.ndim)
            if v[i] is None:
                r = torch.zeros_like(current)
                thtr[i] = torch.zeros_like(current)
                altr[i] = torch.zeros_like(current)
                v_new = current
            else:
                r = v[i] - theta * s[i]
                thtr[i] = alpha * (thtr[i] - s[i])
                altr[i] = alpha * altr[i] + r
                v_new = alpha * r + current
            s_new = (v_new > theta).to(v_new.dtype)
            deltas_phi.append(exp_grad(v_new - theta))
            v[i], s[i] = v_new, s_new
            leaves.append(leaf)
            graphs.append(z)
            h = s_new
        # readout: exact per-step gradient of E[t] = CE(y[t]) / T
        with torch.enable_grad():
            top = h.detach().requires_grad_(True)
            y = model.readout(model.readout_pre(top))
            loss_t = F.cross_entropy(y, targets) / T
            ro = [model.readout.weight, model.readout.bias]
            g_top, gw, gb = torch.autograd.grad(loss_t, [top] + ro)
        total_loss += float(loss_t)
        acc(ro[0], gw)
        acc(ro[1], gb)
        g = g_top  # dE[t]/ds^L[t]
        for i in reversed(range(n_layers)):
            blk = blocks[i]
            delta = g * deltas_phi[i]
            acc(blk.syn.bias, _reduce_to_neuron(delta) * btr[i])
            if learn_t:
                acc(blk.lif.v_threshold, _reduce_to_neuron(delta * (thtr[i] - 1.0)))
            if learn_l:
                dal = (delta * altr[i]).sum().reshape(1)
                acc(blk.lif.alpha, dal / delta[0].numel() if leak_reduction == "mean" else dal)
            with torch.enable_grad():
                if i > 0:
                    gw, g = torch.autograd.grad(graphs[i], [blk.syn.weight, leaves[i]], delta)
                else:
                    (gw,) = torch.autograd.grad(graphs[i], [blk.syn.weight], delta)
            acc(blk.syn.weight, gw)
    return grads, total_loss


def cut_autograd_gradients(model: nn.Module, x: torch.Tensor, targets: torch.Tensor,
                           variant: str = "WTL") -> dict[str, torch.Tensor]:
    """Reference for :func:`stop_gradients` by plain autograd (O(T^2) compute, tests only).

    For every step t, run the network forward over steps 0..t with the temporal paths STOP
    ignores cut — reset spikes always detached, and spikes of steps < t detached where they
    enter the next layer — then backpropagate ``E[t] = CE(y[t]) / T``; sum over t.
    """
    params = dict(model.named_parameters())
    keep = {id(p) for p in learned_parameters(model, variant)}
    total = {n: torch.zeros_like(p) for n, p in params.items() if id(p) in keep}
    T = x.shape[0]
    for t_loss in range(T):
        states: list[STOPLIFState | None] = [None] * len(model.blocks)
        for t in range(t_loss + 1):
            h = x[t]
            for i, blk in enumerate(model.blocks):
                inp = h if (t == t_loss or i == 0) else h.detach()
                h, states[i] = blk(inp, states[i], detach_reset=True)
        y = model.readout(model.readout_pre(h))
        loss = F.cross_entropy(y, targets) / T
        names = list(total)
        gs = torch.autograd.grad(loss, [params[n] for n in names], allow_unused=True)
        for n, g in zip(names, gs):
            if g is not None:
                total[n] += g
    return total


def bptt_gradients(model: nn.Module, x: torch.Tensor, targets: torch.Tensor) -> tuple[dict[str, torch.Tensor], float]:
    """Full BPTT gradients of :func:`per_step_loss` (all paths, surrogate spikes in the reset)."""
    params = dict(model.named_parameters())
    loss = per_step_loss(model(x), targets)
    gs = torch.autograd.grad(loss, list(params.values()), allow_unused=True)
    return {n: (g if g is not None else torch.zeros_like(params[n])) for n, g in zip(params, gs)}, float(loss.detach())


def cosine(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], keys: list[str] | None = None) -> float:
    """Cosine similarity of two gradient dicts flattened over ``keys`` (default: a's keys)."""
    keys = list(a) if keys is None else keys
    va = torch.cat([a[k].flatten() for k in keys])
    vb = torch.cat([b[k].flatten() for k in keys])
    return float(va @ vb / (va.norm() * vb.norm() + 1e-30))


class STOP:
    """STOP learner (Learner interface). ``variant``: W, WT, WL, WTL or BPTT (baseline).

    One optimizer step per mini-batch with the summed-over-time STOP updates. After each step
    the leak is clamped to ``[alpha_min, alpha_max]`` and thresholds to ``>= theta_min``.
    ``leak_reduction``: ``"sum"`` (default, exact gradient) or ``"mean"`` (third-party reading of
    the paper) over the layer's neurons in the leak update; no effect on the BPTT variant.
    """

    def __init__(self, model: nn.Module, task: Task, variant: str = "WTL", optimizer: str = "adam",
                 lr: float = 1e-3, grad_clip: float | None = None, alpha_min: float = 0.0,
                 alpha_max: float = 1.0, theta_min: float = 0.05, lr_schedule: str | None = None,
                 total_steps: int | None = None, leak_reduction: str = "sum", **opt_kw: Any) -> None:
        if variant not in VARIANTS:
            raise ValueError(f"STOP variant must be one of {VARIANTS}, got {variant!r}")
        check_leak_reduction(leak_reduction)
        self.leak_reduction = leak_reduction
        self.model, self.task, self.variant, self.grad_clip = model, task, variant, grad_clip
        self.alpha_min, self.alpha_max, self.theta_min = alpha_min, alpha_max, theta_min
        self.params = learned_parameters(model, variant)
        self.optimizer = make_optimizer(self.params, optimizer, lr, **opt_kw)
        self.scheduler = None
        if lr_schedule == "cosine":
            if not total_steps:
                raise ValueError("lr_schedule='cosine' needs total_steps")
            self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, total_steps)
        elif lr_schedule is not None:
            raise ValueError(f"unknown lr_schedule {lr_schedule!r}")

    def step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, float]:
        inputs, targets = batch
        x = time_first(inputs)
        self.model.train()
        self.optimizer.zero_grad()
        if self.variant == "BPTT":
            loss_t = per_step_loss(self.model(x), targets)
            loss_t.backward()
            loss = float(loss_t.detach())
        else:
            grads, loss = stop_gradients(self.model, x, targets, self.variant, self.leak_reduction)
            for name, p in self.model.named_parameters():
                if name in grads:
                    p.grad = grads[name]
        if self.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.params, self.grad_clip)
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        with torch.no_grad():
            for name, p in self.model.named_parameters():
                if name.endswith("lif.alpha"):
                    p.clamp_(self.alpha_min, self.alpha_max)
                elif name.endswith("lif.v_threshold"):
                    p.clamp_(min=self.theta_min)
        return {"loss": loss}

    def state_dict(self) -> dict[str, Any]:
        state = {"optimizer": self.optimizer.state_dict()}
        if self.scheduler is not None:
            state["scheduler"] = self.scheduler.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and "scheduler" in state:
            self.scheduler.load_state_dict(state["scheduler"])
