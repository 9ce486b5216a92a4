"""Truncated BPTT with truncation length K (K=1: fully online, state detached every step).

The sequence is processed in chunks of K steps. Within a chunk, gradients flow through time
exactly as in BPTT; between chunks the recurrent state is detached (``tensor.detach()``), so
memory holds at most K steps of activations. The loss of a chunk is ``task.loss`` on the
chunk's outputs (and the chunk's targets when targets are per step, (B, T, ...)), weighted by
chunk_length / T; for tasks whose loss is a mean over steps (MSE forecasting, per-step
cross-entropy) the chunk losses sum to the full-sequence loss, and K = T equals full BPTT.
Gradients are accumulated over ``update_every`` chunks, then one optimizer step (``1``:
update after every chunk, i.e. every step for K=1; ``None``: once per sequence).

``lookback = 1`` (our reading of the STAR paper's K = 1 with SPSG, docs/papers.md section 1):
each chunk is computed from the detached state *one step before* the chunk, so the loss of
step t backpropagates through step t **and one step into step t-1** (recomputed with the
current weights from the detached state before t-1; nothing older carries gradient). The
chunk's loss is still only that of its own steps, and the memory is still O(K + 1) steps.
With K = 1 this is TBPTT(k1 = 1 update per step, k2 = 2 steps of backpropagation) in Williams
& Peng's notation. It is what gives SPSG something to act on: in step t the previous spike
s_{t-1} enters the recurrence V s_{t-1} (generation), the soft reset u_{t-1} = v_{t-1} -
th_{t-1} s_{t-1} and the adaptation trace a_{t-1} (suppression); with ``lookback = 0`` (plain
K = 1, the state detached every step) those three uses are constants, so SPSG and the plain
surrogate give identical updates for a spike readout. ``lookback = 0`` is the default.

``readout_ridge = lam > 0`` (forecasting models with a linear readout of the membrane): the
readout ``model.readout`` (an ``nn.Linear`` whose input at each step is the feature vector,
e.g. the post-reset membrane u_t, and whose output is the model's output) is not trained by
gradient; after every batch the model is run once more on that batch (no gradient) and the
readout is set to the ridge-regression solution ``argmin_W sum_t |W [f_t; 1] - y_t|^2 + lam N |W|^2``
over the batch's steps after ``readout_washout`` (N: number of steps fitted; the bias is not
penalised); the readout is also fitted once before the first update, so the hidden weights
never learn against the random initial readout. The hidden weights keep learning by TBPTT
through the current readout. With one
batch per epoch (the forecasting recipes) the final readout is the least-squares readout of
the final network on the whole training split, the classic reservoir-computing readout.
``readout_states = "lava-fixed"`` fits the same ridge readout on the membrane states the model
has in Loihi fixed point (the NIR export of the current weights run through the bit-exact
emulator of :mod:`exporters.lava`, inputs on the fixed-point grid; the membrane readout is
applied on the host in float, so these states are exactly what the deployed readout sees):
a readout calibrated on the training data for the deployment target, as a quantised network's
calibration set would be. The torch model then keeps that readout (its float states differ
slightly, so its torch metric is not the one it was fitted for). Default ``"torch"``. The
readers of states are a registry (:data:`READOUT_STATES`): ``"torch"`` is built in;
``"lava-fixed"`` is registered by :mod:`exporters.lava.readout_states` when ``exporters.lava`` is
imported (the training application does; this core module never imports the exporters).

Model requirement: ``model(x (T, B, ...), state=None, return_state=True) -> (y, state)``
where ``state`` is a tensor or a (named) tuple of tensors (e.g. :class:`zoo.models.star.STARRSNN`).
"""
from __future__ import annotations

from typing import Any, Callable, Optional

import torch

from zoo.learning.base import make_optimizer, time_first
from zoo.registries import Registry
from zoo.tasks import Task

StateReader = Callable[[torch.nn.Module, torch.Tensor], torch.Tensor]
READOUT_STATES: Registry[StateReader] = Registry(
    "TBPTT readout_states", ValueError, see="'lava-fixed' is registered when exporters.lava is imported")


@torch.no_grad()
def torch_states(model: torch.nn.Module, xs: torch.Tensor) -> torch.Tensor:
    """(T, B, H) inputs of ``model.readout`` over ``xs`` (T, B, ...), run in eval mode."""
    feats: list[torch.Tensor] = []
    hook = model.readout.register_forward_pre_hook(lambda _m, args: feats.append(args[0].detach()))
    was = model.training
    try:
        model.eval()
        model(xs)
    finally:
        model.train(was)
        hook.remove()
    return torch.stack(feats)


READOUT_STATES.register("torch", torch_states)


def detach_state(state: Any) -> Any:
    """Detach a tensor or a (named) tuple / list of tensors."""
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return state.detach()
    if isinstance(state, tuple) and hasattr(state, "_fields"):
        return type(state)(*(detach_state(s) for s in state))
    return type(state)(detach_state(s) for s in state)


class TBPTT:
    """Truncated BPTT(K); ``K`` and ``update_every`` are recipe parameters."""

    def __init__(self, model: torch.nn.Module, task: Task, K: int = 1, update_every: Optional[int] = 1,
                 optimizer: str = "adam", lr: float = 1e-3, grad_clip: float | None = None,
                 lr_decay: float = 1.0, lookback: int = 0, readout_ridge: float = 0.0, readout_washout: int = 0,
                 readout_states: str = "torch", **opt_kw: Any) -> None:
        if K < 1:
            raise ValueError(f"TBPTT needs K >= 1, got {K}")
        if lookback not in (0, 1):
            raise ValueError(f"TBPTT lookback must be 0 or 1, got {lookback}")
        self.lookback = int(lookback)
        self.readout_ridge, self.readout_washout = float(readout_ridge), int(readout_washout)
        fixed_readout: set[int] = set()
        self.readout_states = readout_states
        self._read_states = READOUT_STATES.get(readout_states)
        self._readout_fitted = False
        if self.readout_ridge < 0 or self.readout_washout < 0:
            raise ValueError("TBPTT readout_ridge and readout_washout must be >= 0")
        if self.readout_ridge > 0:
            ro = getattr(model, "readout", None)
            if not isinstance(ro, torch.nn.Linear) or getattr(model, "readout_mode", "membrane") != "membrane":
                raise ValueError("TBPTT readout_ridge needs a model whose output is model.readout (nn.Linear) of "
                                 "per-step features (STARRSNN: readout = \"membrane\")")
            fixed_readout = {id(p) for p in ro.parameters()}
        self.model, self.task, self.K, self.update_every, self.grad_clip = model, task, int(K), update_every, grad_clip
        self.optimizer = make_optimizer([p for p in model.parameters() if p.requires_grad and id(p) not in fixed_readout],
                                        optimizer, lr, **opt_kw)
        # lr_decay: multiplicative learning-rate decay per optimizer step (1.0 = constant)
        self.scheduler = torch.optim.lr_scheduler.ExponentialLR(self.optimizer, gamma=lr_decay) if lr_decay != 1.0 else None

    def _apply(self) -> None:
        if self.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad()
        if self.scheduler is not None:
            self.scheduler.step()

    def step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, float]:
        inputs, targets = batch
        self.model.train()
        self.optimizer.zero_grad()
        xs = time_first(inputs)
        T = xs.shape[0]
        per_step_targets = targets.dim() >= 2 and targets.shape[1] == T
        if self.readout_ridge > 0 and not self._readout_fitted:
            self.fit_readout(xs, targets if per_step_targets else None)
        state, total, pending = None, 0.0, 0
        prev = None  # lookback: detached state before step c - 1 (None: the zero initial state)
        for c in range(0, T, self.K):
            k = min(self.K, T - c)
            if self.lookback and c > 0:  # recompute step c-1 (in the graph) from the state before it
                _, state = self.model(xs[c - 1:c], prev, return_state=True)
            if self.lookback and k > 1:  # keep the state before the chunk's last step for the next chunk
                y_a, state_a = self.model(xs[c:c + k - 1], state, return_state=True)
                prev = detach_state(state_a)
                y_b, state = self.model(xs[c + k - 1:c + k], state_a, return_state=True)
                y = torch.cat([y_a, y_b])
            else:
                if self.lookback:
                    prev = detach_state(state)
                y, state = self.model(xs[c:c + k], state, return_state=True)
            tgt = targets[:, c:c + k] if per_step_targets else targets
            loss = self.task.loss(time_first(y), tgt) * (k / T)
            loss.backward()
            total += float(loss.detach())
            state = detach_state(state)
            pending += 1
            if self.update_every is not None and pending >= self.update_every:
                self._apply()
                pending = 0
        if pending:
            self._apply()
        if self.readout_ridge > 0:
            self.fit_readout(xs, targets if per_step_targets else None)
        return {"loss": total}

    @torch.no_grad()
    def fit_readout(self, xs: torch.Tensor, targets: Optional[torch.Tensor]) -> None:
        """Set ``model.readout`` to the ridge solution on the features of ``xs`` (T, B, ...) and
        the per-step ``targets`` (B, T, D) (see the module docstring)."""
        if targets is None:
            raise ValueError("TBPTT readout_ridge needs per-step targets (B, T, D)")
        ro = self.model.readout
        f = self._read_states(self.model, xs)
        w0 = self.readout_washout
        f = f[w0:].reshape(-1, ro.in_features).double()  # (T - w0) * B, H
        y = time_first(targets)[w0:].reshape(-1, ro.out_features).double()
        f = torch.cat([f, torch.ones(len(f), 1, dtype=f.dtype)], 1)
        reg = self.readout_ridge * len(f) * torch.eye(f.shape[1], dtype=f.dtype)
        reg[-1, -1] = 0.0
        w = torch.linalg.solve(f.T @ f + reg, f.T @ y).T  # (D, H + 1)
        ro.weight.copy_(w[:, :-1].to(ro.weight.dtype))
        ro.bias.copy_(w[:, -1].to(ro.bias.dtype))
        self._readout_fitted = True

    def state_dict(self) -> dict[str, Any]:
        out = {"optimizer": self.optimizer.state_dict(), "K": self.K, "update_every": self.update_every,
               "lookback": self.lookback}
        if self.scheduler is not None:
            out["scheduler"] = self.scheduler.state_dict()
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and "scheduler" in state:
            self.scheduler.load_state_dict(state["scheduler"])
