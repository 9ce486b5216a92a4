"""The instantaneous linear NIR primitives (Affine, Linear, Scale, Flatten, Conv1d/2d, Sum/AvgPool2d)
applied to a batch, in torch: one definition shared by the torch executor, the graph validation
(which applies them to zeros to learn conv/pool output sizes), the nirtorch node map and the Lava
compiler (which applies them to an identity basis to obtain exact Dense matrices).
"""
from __future__ import annotations

from typing import Any

import nir
import numpy as np
import torch
import torch.nn.functional as F

from exporters.nir.io import NIRError

LINEAR_OPS = (nir.Affine, nir.Linear, nir.Scale, nir.Flatten, nir.Conv1d, nir.Conv2d, nir.SumPool2d, nir.AvgPool2d)


def linear_step(node: nir.NIRNode, inp: torch.Tensor, p: dict[str, torch.Tensor], batch: int) -> torch.Tensor:
    """The instantaneous linear primitives (shared with the Lava compiler, which applies them
    to an identity basis to obtain exact Dense matrices)."""
    if isinstance(node, nir.Affine):
        return inp @ p["weight"].T + p["bias"]
    if isinstance(node, nir.Linear):
        return inp @ p["weight"].T
    if isinstance(node, nir.Scale):
        return inp * p["scale"]
    if isinstance(node, nir.Flatten):
        shape = tuple(int(s) for s in node.input_type["input"])
        return inp.reshape(batch, *shape).flatten(node.start_dim + 1, node.end_dim if node.end_dim < 0 else node.end_dim + 1)
    shape = _in_shape(node)
    if shape is not None and tuple(inp.shape[1:]) != shape:  # e.g. a flat vector into a conv: its declared shape
        inp = inp.reshape(batch, *shape)
    if isinstance(node, nir.Conv2d):
        return F.conv2d(_pad2d(inp, node), p["weight"], p["bias"], stride=tuple(node.stride),
                        dilation=tuple(node.dilation), groups=int(node.groups))
    if isinstance(node, nir.Conv1d):
        return F.conv1d(_pad1d(inp, node), p["weight"], p["bias"], stride=int(np.ravel(node.stride)[0]),
                        dilation=int(np.ravel(node.dilation)[0]), groups=int(node.groups))
    if isinstance(node, (nir.SumPool2d, nir.AvgPool2d)):
        k, s, pad = _pair(node.kernel_size), _pair(node.stride), _pair(node.padding)
        y = F.avg_pool2d(inp, k, s, pad, count_include_pad=True)
        return y * (k[0] * k[1]) if isinstance(node, nir.SumPool2d) else y
    raise NIRError(f"{type(node).__name__} is not a linear primitive")


def _in_shape(node: nir.NIRNode) -> tuple[int, ...] | None:
    types = getattr(node, "input_type", None)
    shape = next(iter(types.values()), None) if types else None
    return None if shape is None else tuple(int(v) for v in np.ravel(shape))


def _pair(v: Any) -> tuple[int, int]:
    """(h, w) from an int or a 1- or 2-element array (snnTorch writes pooling sizes as ints)."""
    return tuple(int(a) for a in np.broadcast_to(np.ravel(v), (2,)))


def _pad2d(x: torch.Tensor, node: nir.Conv2d) -> torch.Tensor:
    pad = node.padding
    if isinstance(pad, str):
        raise NIRError(f"Conv2d string padding {pad!r} is not supported; use explicit integers")
    ph, pw = (int(v) for v in np.ravel(pad))
    return F.pad(x, (pw, pw, ph, ph))


def _pad1d(x: torch.Tensor, node: nir.Conv1d) -> torch.Tensor:
    pad = node.padding
    if isinstance(pad, str):
        raise NIRError(f"Conv1d string padding {pad!r} is not supported; use explicit integers")
    p = int(np.ravel(pad)[0])
    return F.pad(x, (p, p))
