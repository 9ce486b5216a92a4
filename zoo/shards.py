"""Evaluation shards: the same backend calls as ``zoo eval``, on contiguous shards of the
samples in worker processes (:func:`zoo.launch.shard_map`), merged in sample order.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np
import torch

from zoo.launch import shard_map


def torch_shard(name: str, x: torch.Tensor) -> torch.Tensor:
    """Worker: outputs (B, T, K) of registered model ``name`` on shard ``x``."""
    from zoo.pipeline import Pipeline

    return Pipeline(name).torch_outputs(x)


def backend_shard(payload: tuple[str, Any], x: Any):
    """Worker: ``RunResult`` of backend ``payload[0]`` (emulator / lava-*) with plan
    ``payload[1]`` on shard ``x``."""
    backend, plan = payload
    x = x.numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if backend == "emulator":
        from exporters.lava import emulate

        return emulate(plan, x)
    from exporters.lava import run_lava

    return run_lava(plan, x)


def merge_runs(runs: Sequence[Any]):
    """Concatenate per-shard ``RunResult``s along the sample axis, in shard order."""
    first = runs[0]
    cat = lambda arrs: np.concatenate(list(arrs), axis=0)  # noqa: E731
    return dataclasses.replace(
        first,
        output=cat(r.output for r in runs),
        output_raw=cat(r.output_raw for r in runs),
        spikes={k: cat(r.spikes[k] for r in runs) for k in first.spikes},
        voltages={k: cat(r.voltages[k] for r in runs) for k in first.voltages},
        seconds=max(r.seconds for r in runs))


def sharded_outputs(backend: str, name: str, plan: Any, x: torch.Tensor, workers: int):
    """Outputs of ``backend`` on ``x`` computed by ``workers`` processes and merged in order:
    a tensor (B, T, K) for ``torch``, a ``RunResult`` otherwise."""
    if backend == "torch":
        return torch.cat(shard_map("zoo.shards:torch_shard", name, x, workers))
    return merge_runs(shard_map("zoo.shards:backend_shard", (backend, plan), x, workers))
