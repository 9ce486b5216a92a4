"""Shared loss/metrics for per-time-step labelled sequence tasks (ECG, BSD, sequential digits).

Targets are (B, T) class indices with ``-1`` = no label at that step. Outputs are (B, T, K)
readout values (logits). The loss is the mean NLL of ``log_softmax`` over labelled steps; its
derivative w.r.t. the output at step t is ``(softmax(y_t) - onehot) / n_labelled`` — used by the
online rules (e-prop, HYPR), which need the per-step learning signal.
"""
from __future__ import annotations

import torch

IGNORE = -1


def masked_nll(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean per-step NLL of log-softmax(outputs) over steps with ``targets >= 0``."""
    return torch.nn.functional.cross_entropy(outputs.reshape(-1, outputs.shape[-1]), targets.reshape(-1),
                                             ignore_index=IGNORE, reduction="mean")


def masked_nll_grad(outputs: torch.Tensor, targets: torch.Tensor, n_labelled: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(dLoss/doutputs, summed NLL) for a chunk of outputs (..., K) / targets (...), with the
    normalisation ``n_labelled`` of the whole batch (so chunks add up to the full gradient)."""
    mask = targets >= 0
    logp = torch.log_softmax(outputs, dim=-1)
    tgt = targets.clamp(min=0)
    onehot = torch.nn.functional.one_hot(tgt, outputs.shape[-1]).to(outputs.dtype)
    grad = (logp.exp() - onehot) * mask[..., None].to(outputs.dtype) / n_labelled
    nll = -(logp.gather(-1, tgt[..., None])[..., 0] * mask).sum()
    return grad, nll


def per_step_accuracy(outputs: torch.Tensor, targets: torch.Tensor) -> float:
    """Fraction of labelled steps whose argmax output equals the label."""
    mask = targets >= 0
    pred = outputs.argmax(-1)
    return float(((pred == targets) & mask).sum() / mask.sum())


def sequence_accuracy(outputs: torch.Tensor, targets: torch.Tensor) -> float:
    """Per-sequence accuracy: argmax of the log-softmax summed over the labelled steps (every
    sequence has one class, repeated on its labelled steps)."""
    mask = (targets >= 0)
    logp = torch.log_softmax(outputs, -1) * mask[..., None]
    pred = logp.sum(1).argmax(-1)
    label = targets.max(1).values
    return float((pred == label).float().mean())
