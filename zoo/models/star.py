"""STAR-SNN (Choi et al., Neurocomputing 2026): spatio-temporal adaptive recurrent SNN.

Architecture (our reconstruction; the paper's exact network is not public, see
``docs/papers.md`` section 1)::

    I_t = fc_in(x_t) + rec(s_{t-1})            # x_t graded (real-valued forecasting input) or
                                               # 0/1 events (gestures) fed by a Linear layer
    s_t, (u_t, a_t) = STAR adaptive LIF step   # zoo.neurons.star_alif (soft reset, strict v > th)
    y_t = readout(u_t)                         # readout="membrane": linear readout of the
                                               #   post-reset membrane (default), or
    o_t = kappa * o_{t-1} + readout(s_t)       # readout="li": leaky-integrator readout of the
    y_t = o_t                                  #   hidden spikes, kappa = exp(-dt/tau_out)

Training (zoo/learning/tbptt.py): truncated BPTT K = 1 with one step of lookback (the loss of
step t backpropagates through step t and step t-1, so SPSG acts on the reset and adaptation
uses of s_{t-1}); the forecasters' membrane readout is not trained by gradient but set to the
ridge-regression solution on the membrane states of the training split, in the shipped recipes
the states the exported network has in Loihi fixed point (``readout_states = "lava-fixed"``).

Variants (the ablation of the paper): ``adaptive`` = per-neuron learnable leak + adaptive
threshold; ``spsg`` = separated-propagation surrogate gradient. ``plain`` LIF-RSNN has both off
(fixed homogeneous leak, fixed threshold, plain surrogate); STAR has both on.

state_dict: ``fc_in.weight`` (H, n_in), ``fc_in.bias`` (H), ``rec.weight`` (H, H, no bias),
``cell.leak_logit`` (H), ``cell.v_threshold`` (H), ``cell.beta`` (H), ``cell.rho`` (H),
``readout.weight`` (K, H), ``readout.bias`` (K), and with ``readout="li"`` the buffer
``readout_kappa`` (K). dt = 1 step. The model state is ``(STARALIFState, o)`` (o: LI readout
state, zeros for the membrane readout).
"""
from __future__ import annotations

from functools import partial
from typing import Any, Optional

import torch
from torch import nn

from zoo.neurons.star_alif import STARALIFCell, STARALIFState, zero_state
from zoo.registry import ModelEntry, register

VARIANTS = {
    "plain": dict(adaptive=False, spsg=False),
    "adapt": dict(adaptive=True, spsg=False),
    "spsg": dict(adaptive=False, spsg=True),
    "star": dict(adaptive=True, spsg=True),
}


class STARRSNN(nn.Module):
    """One recurrent layer of STAR adaptive LIF neurons with a linear membrane readout.

    Time-first: ``forward(x (T, B, n_in)) -> y (T, B, n_out)``; with ``return_state=True`` also
    returns the final :class:`STARALIFState` and accepts an initial ``state`` (used by TBPTT).
    """

    def __init__(self, n_inputs: int = 1, n_hidden: int = 64, n_outputs: int = 1, variant: str = "star",
                 adaptive: Optional[bool] = None, spsg: Optional[bool] = None,
                 tau_mem: Any = (2.0, 20.0), tau_adapt: Any = (5.0, 50.0), tau_mem_plain: float = 5.0,
                 v_threshold: float = 1.0, beta: float = 0.5, slope: float = 10.0,
                 rec_scale: float = 0.5, input_scale: float = 1.0, readout: str = "membrane",
                 tau_out: float = 5.0) -> None:
        super().__init__()
        flags = dict(VARIANTS[variant])
        if adaptive is not None:
            flags["adaptive"] = adaptive
        if spsg is not None:
            flags["spsg"] = spsg
        self.variant, self.n_hidden = variant, n_hidden
        self.fc_in = nn.Linear(n_inputs, n_hidden)
        self.rec = nn.Linear(n_hidden, n_hidden, bias=False)
        self.cell = STARALIFCell(
            n_hidden, tau_mem=tuple(tau_mem) if flags["adaptive"] else tau_mem_plain,
            tau_adapt=tuple(tau_adapt) if isinstance(tau_adapt, (list, tuple)) else tau_adapt,
            v_threshold=v_threshold, beta=beta, adaptive=flags["adaptive"],
            learn_leak=flags["adaptive"], spsg=flags["spsg"], slope=slope)
        self.readout = nn.Linear(n_hidden, n_outputs)
        if readout not in ("membrane", "li"):
            raise ValueError(f"readout must be 'membrane' or 'li', got {readout!r}")
        self.readout_mode, self.n_outputs = readout, n_outputs
        if readout == "li":
            self.register_buffer("readout_kappa", torch.full((n_outputs,), float(torch.exp(torch.tensor(-1.0 / tau_out)))))
        with torch.no_grad():
            self.fc_in.weight.mul_(input_scale)
            nn.init.normal_(self.rec.weight, 0.0, rec_scale / n_hidden ** 0.5)
            self.rec.weight.fill_diagonal_(0.0)

    def forward(self, x: torch.Tensor, state: Optional[tuple[STARALIFState, torch.Tensor]] = None,
                return_state: bool = False):
        if state is None:
            state = (zero_state(x.shape[1], self.n_hidden, x.dtype, x.device),
                     torch.zeros(x.shape[1], self.n_outputs, dtype=x.dtype, device=x.device))
        nstate, o = state
        drive = self.fc_in(x)  # (T, B, H): input layer applied to all steps at once
        outs = []
        for d_t in drive:
            _, nstate = self.cell(d_t + self.rec(nstate.s), nstate)
            if self.readout_mode == "li":
                o = self.readout_kappa * o + self.readout(nstate.s)
            else:
                o = self.readout(nstate.u)
            outs.append(o)
        y = torch.stack(outs)
        return (y, (nstate, o)) if return_state else y

    @torch.no_grad()
    def spikes(self, x: torch.Tensor) -> torch.Tensor:
        """Hidden spikes (T, B, H) for ``x`` (T, B, n_in) (activity statistics, Lava agreement)."""
        state = zero_state(x.shape[1], self.n_hidden, x.dtype, x.device)
        out = []
        for d_t in self.fc_in(x):
            _, state = self.cell(d_t + self.rec(state.s), state)
            out.append(state.s)
        return torch.stack(out)


def _entry(name: str, task: str, metric: str, higher: bool, desc: str, **defaults: Any) -> ModelEntry:
    return register(ModelEntry(name=name, paper="STAR-SNN (Choi et al., Neurocomputing 2026)", task=task,
                               metric=metric, higher_is_better=higher,
                               builder=partial(STARRSNN, **defaults), description=desc))


_FORECAST = dict(n_hidden=128, input_scale=10.0, rec_scale=0.2, tau_mem=(0.5, 20.0))  # recipes/star-*.toml
MACKEY_GLASS = _entry("star-mackey-glass", "mackey_glass", "nrmse", False,
                      "STAR adaptive recurrent LIF (128), Mackey-Glass tau=17 one-step forecast, TBPTT K=1 with "
                      "one step of lookback + SPSG, ridge membrane readout fitted on the fixed-point states",
                      n_inputs=1, n_outputs=1, **_FORECAST)
LORENZ = _entry("star-lorenz", "lorenz", "nrmse", False,
                "STAR adaptive recurrent LIF (128), Lorenz-63 one-step forecast, TBPTT K=1 with one step of "
                "lookback + SPSG, ridge membrane readout fitted on the fixed-point states",
                n_inputs=3, n_outputs=3, **_FORECAST)
GESTURES = _entry("star-gestures", "gestures", "accuracy", True,
                  "STAR adaptive recurrent LIF (128) + LI readout, generated event-camera gestures (8 classes), "
                  "TBPTT K=1 + SPSG", n_inputs=512, n_outputs=8, n_hidden=128, readout="li", tau_out=10.0)
