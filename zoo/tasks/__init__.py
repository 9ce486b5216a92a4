"""Tasks: deterministic data (generated or bundled), a loss and a metric.

Conventions: datasets are batch-first, ``inputs`` of shape (B, T, ...) and models are
time-first (T, B, ...) as in snnTorch and Norse; ``Task.metric`` takes the model's output
sequence batch-first, (B, T, n_out).

Every task is also a ``torch.utils.data`` data set (:func:`task_dataset`): samples ``(x (T, ...),
y)`` one at a time, batched by :func:`collate`. Small tasks build it over ``Task.load``; tasks on
large data sets on disk (``shd``, ``ssc``, ``nmnist``, ``dvs-gesture``, ``cifar10``) set
``Task.dataset`` to a factory of a streaming Dataset that reads one sample per ``__getitem__``,
and their ``load`` serves only a bounded number of samples as one tensor (:func:`streaming_task`).
A user's tasks are registered by importing their module (:func:`load_task_module`).
"""
from __future__ import annotations

from typing import Any, Callable

import torch

from zoo.registry import ZooError
from zoo.tasks.base import TASKS, Task, rate_cross_entropy, register_task, spike_count_accuracy  # noqa: F401


def get_task(name: str) -> Task:
    from zoo.tasks import digits  # noqa: F401  (tasks register on import)

    _import_optional_tasks()
    if name not in TASKS:
        _import_env_modules()
    return TASKS.get(name)


def _import_optional_tasks() -> None:
    import importlib
    import pkgutil

    import zoo.tasks as pkg

    for info in pkgutil.iter_modules(pkg.__path__):
        importlib.import_module(f"zoo.tasks.{info.name}")


# --- data sets: every task as a torch.utils.data.Dataset --------------------------------------

MAX_DENSE = 2048  # samples: Task.load of a streaming task refuses n=None on a larger split


def task_dataset(task: Task, split: str, **params: Any) -> "torch.utils.data.Dataset":
    """The samples of ``task`` as a map-style ``torch.utils.data.Dataset`` of ``(x (T, ...), y)``:
    the task's own streaming Dataset (one sample read from disk per ``__getitem__``), or, for a
    task held in memory, a ``TensorDataset`` over ``task.load(split, **params)``. Batch it with
    ``DataLoader(ds, batch_size, collate_fn=collate)`` (batch-first, as ``task.load`` returns)."""
    if task.dataset is not None:
        return task.dataset(split, **params)
    x, y = task.load(split, **params)
    return torch.utils.data.TensorDataset(x, y)


def history_split(task: Task, task_params: dict[str, Any]) -> str:
    """The split a training history is measured on: ``"val"`` when the task has a validation
    split (the test split is then read once, after training), else ``"test"``. The history
    chooses nothing (no early stopping, no model selection); it is a learning curve."""
    try:
        if task.dataset is not None:
            task.dataset("val", **task_params)
        else:
            task.load("val", n=1, **task_params)
    except (ValueError, KeyError):  # tasks refuse an unknown split name with ValueError
        return "test"
    return "val"


def collate(samples: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """``DataLoader`` collate: ``[(x (T, ...), y), ...]`` -> inputs (B, T, ...) float32 and
    targets (B, ...) (class indices, or per-step targets)."""
    xs, ys = zip(*samples)
    x = torch.stack([torch.as_tensor(v) for v in xs]).to(torch.float32)
    return x, torch.stack([torch.as_tensor(v) for v in ys])


def _load_signature(dataset: Callable[..., Any]) -> Any:
    import inspect

    params = list(inspect.signature(dataset).parameters.values())
    n = inspect.Parameter("n", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None)
    return inspect.Signature(params[:1] + [n] + params[1:])


def dense_load(name: str, dataset: Callable[..., Any]) -> Callable[..., tuple[torch.Tensor, torch.Tensor]]:
    """``Task.load`` of a streaming task: the first ``n`` samples of ``dataset(split, **params)``
    stacked into (B, T, ...) inputs and (B, ...) targets (for evaluation, calibration, export).
    ``n=None`` on a split of more than :data:`MAX_DENSE` samples raises a :class:`ZooError`:
    stream it instead (:func:`task_dataset`). Its signature is the factory's plus ``n``, so
    recipes' [task] keys are checked against the factory's parameters."""

    def load(split: str = "train", n: int | None = None, **params: Any) -> tuple[torch.Tensor, torch.Tensor]:
        ds = dataset(split, **params)
        total = len(ds)
        if n is None and total > MAX_DENSE:
            raise ZooError(f"task {name!r}: the {split} split has {total} samples; load() stacks at most "
                           f"{MAX_DENSE} into one tensor unless n is given (stream it: "
                           f"zoo.tasks.task_dataset(task, {split!r}) with a DataLoader)")
        count = total if n is None else min(int(n), total)
        if count == 0:
            raise ZooError(f"task {name!r}: the {split} split is empty")
        return collate([ds[i] for i in range(count)])

    load.__signature__ = _load_signature(dataset)  # type: ignore[attr-defined]
    load.__doc__ = f"First n samples of task {name!r} as one batch: {dataset.__doc__ or ''}"
    load.__name__ = f"load_{name.replace('-', '_')}"
    return load


def streaming_task(name: str, dataset: Callable[..., Any], loss: Callable[..., torch.Tensor],
                   metric: Callable[..., float], metric_name: str = "accuracy", higher_is_better: bool = True,
                   description: str = "") -> Task:
    """Register a task served by a Dataset factory ``dataset(split, **params)`` (samples
    ``(x (T, ...), y)``); its ``load`` is :func:`dense_load`. This is how a user adds a data set:
    a Dataset class, this call in a module imported by :func:`load_task_module`, and a recipe."""
    return register_task(Task(name=name, load=dense_load(name, dataset), loss=loss, metric=metric,
                              metric_name=metric_name, higher_is_better=higher_is_better,
                              description=description, dataset=dataset))


_USER_MODULES: dict[str, list[str]] = {}
# user task modules, os.pathsep-separated: set by load_task_module so that child processes (zoo
# train --nproc workers, DataLoader workers) import them too; a user may set it as well
TASK_MODULES_ENV = "ZOO_TASK_MODULES"


def _import_env_modules() -> None:
    import os

    for spec in filter(None, os.environ.get(TASK_MODULES_ENV, "").split(os.pathsep)):
        load_task_module(spec)


def load_task_module(spec: str) -> list[str]:
    """Import a user's module that registers tasks (``register_task`` / :func:`streaming_task`)
    and return the names it registered. ``spec``: a ``.py`` file path, or a dotted module name
    importable from ``sys.path``. A module is imported once (a second call returns the same
    names). It is added to ``$ZOO_TASK_MODULES``, which :func:`get_task` imports in any process
    that misses a task (training workers). Every problem is one :class:`ZooError` line: file not
    found, import error, a module that registers no task, or one that would replace a zoo task."""
    import importlib
    import importlib.util
    import sys
    from pathlib import Path

    _import_optional_tasks()
    from zoo.tasks import digits  # noqa: F401

    is_file = spec.endswith(".py") or "/" in spec or "\\" in spec
    key = str(Path(spec).expanduser().resolve()) if is_file else spec
    if key in _USER_MODULES:
        return list(_USER_MODULES[key])
    before = TASKS.snapshot()
    try:
        if is_file:
            path = Path(key)
            if not path.is_file():
                raise ZooError(f"task module {spec}: file not found")
            import hashlib

            mod_name = f"zoo_user_tasks_{path.stem}_{hashlib.sha256(key.encode()).hexdigest()[:8]}"
            module_spec = importlib.util.spec_from_file_location(mod_name, path)
            if module_spec is None or module_spec.loader is None:
                raise ZooError(f"task module {spec}: not an importable Python file")
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[mod_name] = module
            try:
                module_spec.loader.exec_module(module)
            except BaseException:
                sys.modules.pop(mod_name, None)
                raise
        else:
            try:
                importlib.import_module(spec)
            except ModuleNotFoundError as exc:
                if exc.name and spec.startswith(exc.name):
                    raise ZooError(f"task module {spec}: no module named {exc.name!r} "
                                   "(give a .py file path, or a module importable from the current directory)") from None
                raise
    except ZooError:
        TASKS.restore(before)
        raise
    except Exception as exc:  # the user's code failed: one line naming the module and the error
        TASKS.restore(before)
        raise ZooError(f"task module {spec}: import failed: {type(exc).__name__}: {' '.join(str(exc).split())}") from None
    after = TASKS.snapshot()
    replaced = [n for n in before if after.get(n) is not before[n]]
    if replaced:
        TASKS.restore(before)
        raise ZooError(f"task module {spec}: registers task {replaced[0]!r}, which the zoo already has; "
                       "give the task another name")
    new = sorted(n for n in TASKS if n not in before)
    if not new:
        raise ZooError(f"task module {spec}: registers no task (call zoo.tasks.register_task or "
                       "zoo.tasks.streaming_task at import)")
    _USER_MODULES[key] = new
    import os

    listed = [v for v in os.environ.get(TASK_MODULES_ENV, "").split(os.pathsep) if v]
    if key not in listed:
        os.environ[TASK_MODULES_ENV] = os.pathsep.join(listed + [key])
    return list(new)
