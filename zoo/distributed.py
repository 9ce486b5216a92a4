"""Data-parallel training and sharded evaluation on ``torch.distributed``.

This module is one rank's side: the process group, the batch shard and weight of each rank,
and the weighted gradient all-reduce. Workers are started by :mod:`zoo.launch` (``zoo train
--nproc N``) or by ``torchrun ... -m zoo.cli train RECIPE`` (the workers only read torchrun's
environment variables ``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``; see
``docs/distributed.md``). Backend: gloo on CPU, NCCL on CUDA.

Global batch and exactness
--------------------------
The recipe's ``batch_size`` is the *global* batch. Every rank draws the same permutation
(same seed) and takes its contiguous slice ``torch.tensor_split(idx, WORLD_SIZE)[RANK]`` of
each global batch. Task losses are batch means, so the update of the global batch is the
*weighted* sum of the per-rank gradients, weight ``w_r = n_r / n`` (``n_r`` samples on rank
r of a global batch of n). This is exact also for the ragged last batch; a rank whose slice
is empty runs one sample with weight 0 so that every rank joins every collective. Result:
same global batch and seed => same weights as one process, up to float summation order.

How a learning rule is synchronised (one mechanism)
---------------------------------------------------
All gradient sums go through :func:`allreduce_` (weighted SUM all-reduce with ``w_r``):

* ``bptt`` (rules in :data:`DDP_RULES`): the model handed to the learner is wrapped in
  ``DistributedDataParallel`` with a comm hook doing the weighted all-reduce, so gradient
  communication overlaps the backward pass.
* every other rule: :meth:`Context.attach` registers an ``optimizer.register_step_pre_hook``
  on each ``torch.optim.Optimizer`` attribute of the learner (``self.optimizer``...) which
  calls :func:`allreduce_grads` on that optimizer's parameters just before ``step()``. Online
  rules that write their accumulated updates into ``param.grad`` (STOP, TBPTT-K1,
  e-prop/HYPR, SpikingGamma, OTTT) are therefore synchronised without any change, including
  rules that step the optimizer several times per batch (every rank steps equally often).
* a rule that applies its updates without a torch optimizer adds one line before applying
  them: ``zoo.distributed.allreduce_grads(self.model)`` (or ``allreduce_(list_of_updates)``
  for update tensors that are not ``.grad``). Outside a distributed run both are no-ops.

Failure handling
----------------
Every collective has a timeout (``ZOO_DIST_TIMEOUT`` seconds, default 60, passed to
``init_process_group``); the launcher (:func:`zoo.launch.launch`) stops every worker as soon as
one fails. ``ZOO_DIST_FAULT="RANK:STEP:MODE"`` (MODE ``raise``, ``exit`` or ``hang``) injects a
fault at training step STEP on rank RANK for tests.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Iterable, Sequence

import torch
import torch.distributed as dist

from zoo.registry import ZooError

DDP_RULES = frozenset({"bptt"})  # one forward + one backward per step: DistributedDataParallel
ENV_KEYS = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


class DistributedError(ZooError):
    """A worker failed or a collective timed out (one line, for the CLI)."""


def launched() -> bool:
    """True inside a worker started by ``torchrun`` or :func:`launch` (RANK and WORLD_SIZE set)."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def default_timeout() -> float:
    return float(os.environ.get("ZOO_DIST_TIMEOUT", "60"))


@dataclass
class Context:
    """This process's place in the run; the single-process default makes every method a no-op."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    weight: float = 1.0  # n_r / n of the current global batch
    step: int = 0  # global batches seen (for fault injection)
    initialized: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.initialized and self.world_size > 1

    # -- model / learner ----------------------------------------------------------------
    def wrap(self, model: torch.nn.Module, rule: str) -> torch.nn.Module:
        """The module to hand to the learner: DDP for :data:`DDP_RULES`, else ``model`` itself."""
        model.to(self.device)
        if not self.active or rule not in DDP_RULES:
            return model
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [self.device.index] if self.device.type == "cuda" else None
        ddp = DDP(model, device_ids=ids)
        ddp.register_comm_hook(self, _weighted_allreduce_hook)
        ddp._zoo_synced = True  # type: ignore[attr-defined]
        return ddp

    def attach(self, learner: Any) -> None:
        """Register the weighted gradient all-reduce before every ``step()`` of each optimizer
        of ``learner`` (unless its model is a DDP module, which reduces during backward)."""
        if not self.active or getattr(getattr(learner, "model", None), "_zoo_synced", False):
            return
        optims = [v for v in vars(learner).values() if isinstance(v, torch.optim.Optimizer)]
        for opt in optims:
            opt.register_step_pre_hook(lambda o, args, kwargs: allreduce_grads(
                [p for g in o.param_groups for p in g["params"]]))

    # -- data ---------------------------------------------------------------------------
    def shard(self, idx: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
        """This rank's slice of global batch ``idx``; sets :attr:`weight` (and injects faults).

        The weight is this rank's share of the loss terms of the global batch: its share of
        the samples, or — for integer per-step targets (B, T, ...) — of the labelled entries
        (``targets >= 0``; the zoo's ignore label is -1, ``zoo.tasks.seqlabel.IGNORE``), since
        those losses are means over labelled steps."""
        self.step += 1
        _maybe_fault(self.rank, self.step)
        if not self.active:
            self.weight = 1.0
            return idx
        local = torch.tensor_split(idx, self.world_size)[self.rank]
        self.weight = len(local) / len(idx)
        if targets is not None and targets.dim() >= 2 and not targets.is_floating_point():
            total = int((targets[idx] >= 0).sum())
            if total > 0:
                self.weight = int((targets[local] >= 0).sum()) / total
        return local if len(local) else idx[:1]  # weight 0: joins the collectives, adds nothing

    def to_device(self, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        if self.device.type == "cpu":
            return batch
        return tuple(t.to(self.device) for t in batch)  # type: ignore[return-value]

    def weighted(self, value: float) -> float:
        """``weight * value`` (sum it over ranks with :meth:`sum_across`)."""
        return self.weight * float(value) if self.active else float(value)

    def sum_across(self, values: Sequence[float]) -> list[float]:
        """Element-wise sum over ranks of a list of floats (identity in one process)."""
        if not self.active:
            return list(values)
        t = torch.tensor(list(values), dtype=torch.float64, device=self._comm_device())
        dist.all_reduce(t)
        return t.cpu().tolist()

    def evaluate_torch(self, model: torch.nn.Module, task_name: str, task_params: dict[str, Any],
                       split: str = "test", n: int | None = None, batch_size: int = 256) -> float:
        """Task metric with samples sharded over the ranks and outputs gathered in sample order."""
        from zoo.tasks import get_task

        from zoo.tasks import collate

        task = get_task(task_name)
        if task.dataset is not None:  # stream from disk: each rank reads only its samples
            data = task.dataset(split, **task_params)
            total = len(data) if n is None else min(int(n), len(data))
        else:
            inputs, targets = task.load(split, n=n, **task_params)
            total = len(inputs)
        mine = torch.tensor_split(torch.arange(total), self.world_size)[self.rank] if self.active \
            else torch.arange(total)
        batches = (torch.utils.data.DataLoader(data, batch_size=batch_size, collate_fn=collate,
                                               sampler=mine.tolist()) if task.dataset is not None else
                   ((inputs[mine[i:i + batch_size]], targets[mine[i:i + batch_size]])
                    for i in range(0, len(mine), batch_size)))
        model.eval()
        outs, tgts = [], []
        with torch.no_grad():
            for xb, yb in batches:
                outs.append(model(xb.to(self.device).transpose(0, 1)).transpose(0, 1).cpu())
                tgts.append(yb)
        local = (torch.cat(outs), torch.cat(tgts)) if outs else (torch.empty(0), torch.empty(0))
        if self.active:
            parts: list[Any] = [None] * self.world_size
            dist.all_gather_object(parts, local)
            local = (torch.cat([p[0] for p in parts if p[0].numel()]), torch.cat([p[1] for p in parts if p[1].numel()]))
        return task.metric(*local)

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def close(self) -> None:
        global _CTX
        if self.initialized and dist.is_initialized():
            dist.destroy_process_group()
        self.initialized = False
        _CTX = Context()

    def _comm_device(self) -> torch.device:
        return self.device if self.device.type == "cuda" else torch.device("cpu")


_CTX = Context()


def context() -> Context:
    """The current process's :class:`Context` (single-process default until :func:`init`)."""
    return _CTX


def resolve_device(device: str) -> torch.device:
    if device not in ("cpu", "cuda"):
        raise ZooError(f"--device must be 'cpu' or 'cuda', got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ZooError("--device cuda: CUDA is not available on this machine (use --device cpu)")
    return torch.device(device)


def init(device: str = "cpu", timeout: float | None = None) -> Context:
    """Join the process group described by the torchrun environment variables (gloo on CPU,
    NCCL on CUDA) and make it the current :class:`Context`."""
    global _CTX
    missing = [k for k in ENV_KEYS if k not in os.environ]
    if missing:
        raise DistributedError(f"distributed worker needs environment variables {', '.join(missing)}")
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    dev = resolve_device(device)
    if dev.type == "cuda":
        dev = torch.device("cuda", local_rank % torch.cuda.device_count())
        torch.cuda.set_device(dev)
    timeout = default_timeout() if timeout is None else timeout
    if not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo", init_method="env://", rank=rank,
                                world_size=world, timeout=timedelta(seconds=timeout))
    _CTX = Context(rank=rank, world_size=world, local_rank=local_rank, device=dev, initialized=True)
    return _CTX


# ----------------------------------------------------------------------------- collectives
def allreduce_(tensors: Iterable[torch.Tensor], weight: float | None = None) -> None:
    """In place: ``t <- sum over ranks of weight_r * t_r`` for every tensor (one flat
    all-reduce). ``weight`` defaults to the current batch weight ``n_r / n``. No-op outside a
    distributed run."""
    ctx = _CTX
    tensors = list(tensors)
    if not ctx.active or not tensors:
        return
    w = ctx.weight if weight is None else float(weight)
    flat = torch.cat([t.detach().reshape(-1).to(torch.float64) for t in tensors]) * w
    flat = flat.to(ctx._comm_device())
    dist.all_reduce(flat)
    flat = flat.cpu() if tensors[0].device.type == "cpu" else flat
    offset = 0
    for t in tensors:
        n = t.numel()
        t.detach().copy_(flat[offset:offset + n].view_as(t).to(t.dtype))
        offset += n


def allreduce_grads(params: torch.nn.Module | Iterable[torch.Tensor], weight: float | None = None) -> None:
    """Weighted SUM all-reduce of ``.grad`` of ``params`` (a module or an iterable of
    parameters). A parameter whose grad is ``None`` on every rank stays ``None`` (the
    optimizer skips it, as in one process); if only some ranks have it, the others count
    zeros. No-op outside a distributed run. Call it before applying the updates."""
    if not _CTX.active:
        return
    ps = list(params.parameters()) if isinstance(params, torch.nn.Module) else list(params)
    ps = [p for p in ps if p.requires_grad]
    if not ps:
        return
    has = torch.tensor([float(p.grad is not None) for p in ps], dtype=torch.float64,
                       device=_CTX._comm_device())
    dist.all_reduce(has)
    live = []
    for p, h in zip(ps, has.tolist()):
        if h > 0:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            live.append(p.grad)
    allreduce_(live, weight)


def _weighted_allreduce_hook(ctx, bucket):  # no annotations: DDP checks them literally
    """DDP comm hook: ``bucket <- sum over ranks of ctx.weight * bucket`` (see :func:`allreduce_`)."""
    buf = bucket.buffer()
    buf.mul_(ctx.weight)
    fut = dist.all_reduce(buf, async_op=True).get_future()
    return fut.then(lambda f: f.value()[0])


def _maybe_fault(rank: int, step: int) -> None:
    """Test hook: ``ZOO_DIST_FAULT="RANK:STEP:MODE"`` (MODE raise | exit | hang)."""
    spec = os.environ.get("ZOO_DIST_FAULT")
    if not spec:
        return
    r, s, mode = (spec.split(":") + ["raise"])[:3]
    if int(r) != rank or int(s) != step:
        return
    if mode == "exit":
        os._exit(3)
    if mode == "hang":
        time.sleep(10 ** 6)
    raise RuntimeError(f"injected fault on rank {rank} at step {step} (ZOO_DIST_FAULT)")
