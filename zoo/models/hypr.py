"""HYPR models (Baronig, Bahariasl, Ozdenizci, Legenstein, arXiv 2506.14464): one recurrent
layer of BRF / SE-adLIF / ALIF neurons with a leaky-integrator (LI) readout.

Time-first: ``model(x (T, B, n_inputs)) -> y (T, B, n_outputs)`` (readout membranes; the task
loss applies log-softmax + NLL at every labelled step). Per step t::

    I[t] = w_in @ x[t] + w_rec @ z[t-1]                  # no hidden bias; z[0-1] = 0
    h[t] = cell.step(h[t-1], I[t]);  z[t] = cell.spike(h[t])   (see zoo/neurons/<neuron>.py)
    kappa = exp(-1/|tau_out|)                            # per output, tau_out in steps
    y[t] = kappa*y[t-1] + (1-kappa)*(w_out @ z[t] + b_out),  y[-1] = 0

state_dict: ``w_in`` (N, n_inputs), ``w_rec`` (N, N), ``cell.<neuron params>``, ``w_out``
(K, N), ``b_out`` (K,), ``tau_out`` (K,).
``forward(x, detach_recurrent=True)`` cuts the gradient through ``w_rec @ z[t-1]`` (but keeps
every neuron-local path): its autograd gradient is, by construction, the offline e-prop
gradient — the reference the online rules are tested against.

``eprop-alif-rowdigits`` [ours]: the task (``row-digits``: digits row by row, labels from step 3)
and all hyper-parameters are our choice, made so that online e-prop with plain SGD per sample
(HYPR's update with lambda = 1) trains in minutes and the same recipe learns inside Lava
(docs/online-lava.md), not from the paper: lr and epochs chosen on a holdout of the training split
(``python -m benchmarks.selection``), the rest from earlier trials scored on the test split.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from zoo.neurons.alif import ALIFCell
from zoo.neurons.brf import BRFCell
from zoo.neurons.cell import DescriptorCell
from zoo.neurons.local_cell import LocalCell
from zoo.neurons.se_adlif import SEAdLIFCell
from zoo.registry import ModelEntry, register

CELLS = {"brf": BRFCell, "seadlif": SEAdLIFCell, "alif": ALIFCell}


class RecurrentSNN(nn.Module):
    """Recurrent SNN layer of ``neuron`` cells + LI readout (see module docstring)."""

    def __init__(self, n_inputs: int = 4, n_hidden: int = 36, n_outputs: int = 6, neuron: str = "brf",
                 w_in_gain: float = 1.0, w_rec_gain: float = 1.0, tau_out_mean: float = 20.0,
                 tau_out_std: float = 5.0, neuron_config: dict | None = None) -> None:
        super().__init__()
        self.neuron = neuron
        self.n_inputs, self.n_hidden, self.n_outputs = n_inputs, n_hidden, n_outputs
        cfg = neuron_config or {}  # any other registered neuron: the cell derived from its descriptor
        self.cell: LocalCell = (CELLS[neuron](n_hidden, **cfg) if neuron in CELLS
                                else DescriptorCell(neuron, n_hidden, **cfg))
        fan = n_inputs + n_hidden
        bound = math.sqrt(6.0 / (fan + n_hidden))  # xavier-uniform over the concatenated input
        self.w_in = nn.Parameter(torch.empty(n_hidden, n_inputs).uniform_(-bound, bound) * w_in_gain)
        self.w_rec = nn.Parameter(torch.empty(n_hidden, n_hidden).uniform_(-bound, bound) * w_rec_gain)
        bo = 1.0 / math.sqrt(n_hidden)
        self.w_out = nn.Parameter(torch.empty(n_outputs, n_hidden).uniform_(-bo, bo))
        self.b_out = nn.Parameter(torch.zeros(n_outputs))
        self.tau_out = nn.Parameter(torch.randn(n_outputs) * tau_out_std + tau_out_mean)

    def kappa(self) -> torch.Tensor:
        return torch.exp(-1.0 / self.tau_out.abs())

    def forward(self, x: torch.Tensor, detach_recurrent: bool = False, return_spikes: bool = False):
        T, B = x.shape[:2]
        h = self.cell.init_state(B, x.dtype)
        z = torch.zeros(B, self.n_hidden, dtype=x.dtype)
        y = torch.zeros(B, self.n_outputs, dtype=x.dtype)
        theta = self.cell.params()
        kappa = self.kappa()
        i_in = x @ self.w_in.t()  # (T, B, N), all steps at once
        ys, zs = [], []
        for t in range(T):
            zr = z.detach() if detach_recurrent else z
            h = self.cell.step(h, i_in[t] + zr @ self.w_rec.t(), theta)
            z = self.cell.spike(h, theta)
            y = kappa * y + (1 - kappa) * (z @ self.w_out.t() + self.b_out)
            ys.append(y)
            if return_spikes:
                zs.append(z)
        out = torch.stack(ys)
        return (out, torch.stack(zs)) if return_spikes else out


def _builder(neuron: str, n_inputs: int, n_outputs: int, n_hidden: int):
    def build(**config) -> RecurrentSNN:
        cfg = {"n_inputs": n_inputs, "n_hidden": n_hidden, "n_outputs": n_outputs, "neuron": neuron, **config}
        return RecurrentSNN(**cfg)
    return build


for _name, _neuron, _task, _nin, _nout, _metric, _desc in [
    ("hypr-brf-ecg", "brf", "ecg", 4, 6, "accuracy", "BRF RSNN (36) + LI readout on ECG-QTDB, HYPR-trained"),
    ("hypr-seadlif-ecg", "seadlif", "ecg", 4, 6, "accuracy", "SE-adLIF RSNN (36) + LI readout on ECG-QTDB, HYPR-trained"),
    ("hypr-brf-bsd", "brf", "bsd", 10, 20, "accuracy", "BRF RSNN + LI readout on burst-sequence detection, HYPR-trained"),
]:
    register(ModelEntry(name=_name, paper="HYPR (Baronig et al., arXiv 2506.14464)", task=_task, metric=_metric,
                        higher_is_better=True, builder=_builder(_neuron, _nin, _nout, 36), description=_desc))

# online e-prop (= HYPR with lambda = 1), trained sample by sample so the same recipe learns inside Lava
register(ModelEntry(name="eprop-alif-rowdigits", paper="HYPR (Baronig et al., arXiv 2506.14464), lambda = 1: e-prop",
                    task="row-digits", metric="accuracy", higher_is_better=True,
                    builder=_builder("alif", 8, 10, 64),
                    description="ALIF RSNN (64) + LI readout on digits row by row, online e-prop (SGD per sample)"))
