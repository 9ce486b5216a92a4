"""``lif-digits``: feedforward snnTorch ``Leaky`` network on scikit-learn digits.

64 rate-coded inputs -> Linear -> Leaky(128) -> Linear -> Leaky(10); prediction = argmax of
output spike counts. Leaky: mem[t] = beta*mem[t-1] + I[t]; spk = mem > threshold; reset to
zero in the same step (``reset_mechanism="zero"``, ``reset_delay=False``). Per-neuron
parameter tensors (beta, threshold) so the NIR export has explicit shapes.
"""
from __future__ import annotations

import snntorch as snn
import torch
from snntorch import surrogate
from torch import nn

from zoo.registry import ModelEntry, register


class LIFDigits(nn.Module):
    """Two-layer feedforward LIF network, time-first: (T, B, 64) -> output spikes (T, B, 10)."""

    def __init__(self, n_inputs: int = 64, n_hidden: int = 128, n_outputs: int = 10,
                 beta: float = 0.9, threshold: float = 1.0, slope: float = 25.0) -> None:
        super().__init__()
        grad = surrogate.fast_sigmoid(slope=slope)
        self.fc1 = nn.Linear(n_inputs, n_hidden)
        self.lif1 = snn.Leaky(beta=torch.full((n_hidden,), beta), threshold=torch.full((n_hidden,), threshold),
                              spike_grad=grad, reset_mechanism="zero", reset_delay=False)
        self.fc2 = nn.Linear(n_hidden, n_outputs)
        self.lif2 = snn.Leaky(beta=torch.full((n_outputs,), beta), threshold=torch.full((n_outputs,), threshold),
                              spike_grad=grad, reset_mechanism="zero", reset_delay=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mem1 = torch.zeros(x.shape[1], self.fc1.out_features, dtype=x.dtype)
        mem2 = torch.zeros(x.shape[1], self.fc2.out_features, dtype=x.dtype)
        out = []
        for x_t in x:
            spk1, mem1 = self.lif1(self.fc1(x_t), mem1)
            spk2, mem2 = self.lif2(self.fc2(spk1.to(x.dtype)), mem2)
            out.append(spk2.to(x.dtype))
        return torch.stack(out)


ENTRY = register(ModelEntry(
    name="lif-digits",
    paper="baseline (snnTorch Leaky)",
    task="digits",
    metric="accuracy",
    higher_is_better=True,
    builder=LIFDigits,
    description="Feedforward LIF 64-128-10 on scikit-learn digits, rate-coded over 16 steps",
))
