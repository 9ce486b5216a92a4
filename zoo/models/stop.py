"""STOP networks (Gao et al., arXiv 2411.11082) on scikit-learn digits: ``stop-digits-fc`` and
``stop-digits-conv``.

A :class:`STOPNet` is a stack of :class:`STOPBlock` (``pre`` -> synapse -> :class:`STOPLIFCell`)
followed by a stateless linear readout. Time-first: ``model(x)`` with x of shape (T, B, ...)
returns the readout sequence (T, B, K).

* ``pre``: a fixed, parameter-free spatial operator applied to the previous layer's spikes in
  the same step (identity, ``AvgPool2d(2)`` = sum-pool / 4, flatten).
* synapse: ``nn.Linear`` or ``nn.Conv2d`` (3x3, stride 1, padding 1), with bias.
* neuron: :mod:`zoo.neurons.stop_lif` (soft reset inside the leak, strict ``v > v_threshold``,
  per-neuron / per-channel threshold, one leak per layer).
* readout [ours — the paper's readout for digits is not public]: non-spiking and stateless,
  ``y[t] = W_o pre(s_L[t]) + b_o`` (NIR ``Affine``); prediction ``argmax_k sum_t y[t, k]``.
  Training loss: mean over steps of cross-entropy of ``y[t]`` (per-step loss, as online rules
  need; the STOP learner uses the same loss for its BPTT baseline).

Input encoding: the recipes use ``encoding = "direct"`` (the normalised pixel intensity
repeated at every step; the first layer acts as encoder).

``state_dict`` keys (FC, hidden=(128, 128))::

    blocks.0.syn.weight (128, 64)  blocks.0.syn.bias (128,)
    blocks.0.lif.alpha  (1,)       blocks.0.lif.v_threshold (128,)
    blocks.1.syn.weight (128, 128) ... blocks.1.lif.v_threshold (128,)
    readout.weight (10, 128)       readout.bias (10,)

conv (channels=(8, 16)): ``blocks.0.syn.weight (8, 1, 3, 3)``, ``blocks.0.lif.v_threshold (8,)``
(per channel), ``blocks.1.pre`` = AvgPool2d(2), ``blocks.1.syn.weight (16, 8, 3, 3)``,
``readout_pre`` = AvgPool2d(2) + Flatten, ``readout.weight (10, 64)``.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from zoo.neurons.stop_lif import STOPLIFCell, STOPLIFState
from zoo.registry import ModelEntry, register


class STOPBlock(nn.Module):
    """``pre`` (parameter-free, linear) -> ``syn`` (Linear/Conv2d) -> ``lif`` (STOP LIF)."""

    def __init__(self, pre: nn.Module, syn: nn.Module, lif: STOPLIFCell) -> None:
        super().__init__()
        self.pre, self.syn, self.lif = pre, syn, lif

    def forward(self, x: torch.Tensor, state: STOPLIFState | None = None,
                detach_reset: bool = False) -> tuple[torch.Tensor, STOPLIFState]:
        return self.lif(self.syn(self.pre(x)), state, detach_reset)


class STOPNet(nn.Module):
    """Feedforward STOP network; ``forward(x: (T, B, ...)) -> (T, B, K)`` readout values."""

    def __init__(self, blocks: Sequence[STOPBlock], readout_pre: nn.Module, readout: nn.Linear) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.readout_pre = readout_pre
        self.readout = readout

    def forward(self, x: torch.Tensor, return_spikes: bool = False):
        states: list[STOPLIFState | None] = [None] * len(self.blocks)
        outs, spikes = [], []
        for x_t in x:
            h = x_t
            step_spikes = []
            for i, block in enumerate(self.blocks):
                h, states[i] = block(h, states[i])
                step_spikes.append(h)
            outs.append(self.readout(self.readout_pre(h)))
            spikes.append(step_spikes)
        y = torch.stack(outs)
        if return_spikes:
            return y, [torch.stack([sp[i] for sp in spikes]) for i in range(len(self.blocks))]
        return y


def stop_digits_fc(n_inputs: int = 64, hidden: Sequence[int] = (128, 128), n_outputs: int = 10,
                   alpha: float = 0.5, v_threshold: float = 1.0) -> STOPNet:
    """Dense STOP net: n_inputs -> hidden... (STOP LIF) -> linear readout n_outputs."""
    blocks, n_in = [], n_inputs
    for n in hidden:
        blocks.append(STOPBlock(nn.Identity(), nn.Linear(n_in, n), STOPLIFCell(n, alpha, v_threshold)))
        n_in = n
    return STOPNet(blocks, nn.Identity(), nn.Linear(n_in, n_outputs))


def stop_digits_conv(in_channels: int = 1, channels: Sequence[int] = (8, 16), image_size: int = 8,
                     n_outputs: int = 10, alpha: float = 0.5, v_threshold: float = 1.0) -> STOPNet:
    """Conv STOP net on (1, 8, 8) images: conv3x3(1->8) LIF, avgpool2, conv3x3(8->16) LIF,
    avgpool2, flatten, linear readout (16*2*2 -> 10). Thresholds are per channel."""
    blocks, c_in, size = [], in_channels, image_size
    for i, c in enumerate(channels):
        pre: nn.Module = nn.Identity() if i == 0 else nn.AvgPool2d(2)
        if i > 0:
            size //= 2
        blocks.append(STOPBlock(pre, nn.Conv2d(c_in, c, 3, padding=1), STOPLIFCell(c, alpha, v_threshold)))
        c_in = c
    size //= 2
    return STOPNet(blocks, nn.Sequential(nn.AvgPool2d(2), nn.Flatten()), nn.Linear(c_in * size * size, n_outputs))


FC = register(ModelEntry(
    name="stop-digits-fc",
    paper="STOP (Gao et al., arXiv 2411.11082)",
    task="digits",
    metric="accuracy",
    higher_is_better=True,
    builder=stop_digits_fc,
    description="Dense STOP LIF 64-128-128 + linear readout, learnable thresholds/leaks, digits",
))

CONV = register(ModelEntry(
    name="stop-digits-conv",
    paper="STOP (Gao et al., arXiv 2411.11082)",
    task="digits",
    metric="accuracy",
    higher_is_better=True,
    builder=stop_digits_conv,
    description="Conv STOP LIF 1-8-16 (3x3, avg-pool) + linear readout, digits 8x8 images",
))
