"""``zoo train RECIPE --backend lava-float|lava-fixed|emulator-fixed``: the recipe's online rule
learns inside Lava (or in its bit-exact emulator) instead of torch.

The network starts from the same initial parameters as the torch run (same seed, same
builder), sees the training samples in the same order (:func:`zoo.train.data_orders`), and
updates with plain SGD after every ``batch_size`` samples — what ``zoo train`` does in torch
with ``optimizer = "sgd"`` (or after every time step for ``tbptt`` with ``update_every = 1``,
which needs ``batch_size = 1``). The test split is evaluated ``evals_per_epoch`` times per epoch
*in the same backend*, by samples that run through the same processes with learning off, so the
learning curve is measured where the learning happens. The plastic layers are
:mod:`exporters.lava.plastic` (rule registry: :mod:`exporters.lava.plastic.rules`).
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from zoo.registry import ZooError
from zoo.tasks import history_split

BACKENDS = {  # name -> (runner, fixed point)
    "lava-float": ("run_lava", False),
    "lava-fixed": ("run_lava", True),
    "emulator-float": ("emulate", False),
    "emulator-fixed": ("emulate", True),
}


def step_targets(task_name: str, targets: torch.Tensor, steps: int) -> np.ndarray:
    """Per-step targets (N, T), negative = no loss at that step: (N, T) labels pass through;
    (N,) class labels label every step, or only the readout window of window-loss tasks
    (:data:`zoo.tasks.delay.READOUT_FRACTIONS`)."""
    from zoo.tasks.delay import READOUT_FRACTIONS, readout_slice

    t = targets.numpy().astype(np.int64)
    if t.ndim == 2:
        return t
    out = np.repeat(t[:, None], steps, axis=1)
    if task_name in READOUT_FRACTIONS:
        win = readout_slice(steps, READOUT_FRACTIONS[task_name])
        out[:, :win.start] = -1
    return out


def with_label_steps(rule: str, learn: dict[str, Any], targets: np.ndarray, source: str) -> dict[str, Any]:
    """``learn`` plus ``label_steps`` (labelled steps per sample, from per-step ``targets``) for
    rules that normalise each step's error by it — the torch loss is a mean over labelled steps."""
    from exporters.lava.plastic.rules import RULE_OPTIONS

    if "label_steps" not in RULE_OPTIONS.get(rule, ()) or "label_steps" in learn:
        return learn
    counts = np.unique((targets >= 0).sum(axis=1))
    if len(counts) != 1:
        raise ZooError(f"{source}: training samples have {counts.tolist()} labelled steps; {rule} in Lava "
                       "normalises each step's error by one constant count (set [learning] label_steps)")
    return {**learn, "label_steps": int(counts[0])}


def per_step_ce(outputs: np.ndarray, targets: np.ndarray) -> float:
    """Mean cross-entropy of ``outputs`` (N, T, K) over the steps with a target >= 0."""
    mask = targets >= 0
    if not mask.any():
        return float("nan")
    y = outputs[mask]
    logz = np.log(np.sum(np.exp(y - y.max(axis=1, keepdims=True)), axis=1)) + y.max(axis=1)
    return float(np.mean(logz - y[np.arange(len(y)), targets[mask]]))


def network_graph(recipe: dict[str, Any], model: torch.nn.Module, inputs: torch.Tensor, source: str) -> Any:
    """The NIR graph of ``model`` as ``zoo export`` writes it (dt from the recipe, seconds)."""
    from exporters.nir.export import to_nir
    from exporters.nir.io import NIRError

    if not recipe.get("dt"):
        raise ZooError(f"{source}: training inside Lava goes through NIR and needs the recipe's dt (seconds)")
    try:
        return to_nir(model, float(recipe["dt"]), input_shape=tuple(int(d) for d in inputs.shape[2:]))
    except NIRError as exc:
        raise ZooError(f"{source}: {exc}") from None


def learned_graph(recipe: dict[str, Any], model: torch.nn.Module, inputs: torch.Tensor, source: str) -> Any:
    """The NIR graph of the trained ``model``, checked to load back into a copy of it exactly
    (:func:`exporters.nir.model_import.load_from_nir`): the learned parameters round-trip."""
    import copy

    from exporters.nir.io import NIRError
    from exporters.nir.model_import import load_from_nir

    graph = network_graph(recipe, model, inputs, source)
    try:
        load_from_nir(copy.deepcopy(model), graph, f"{source}: learned network")
    except NIRError as exc:
        raise ZooError(str(exc)) from None
    return graph


def train_plastic(recipe: dict[str, Any], backend: str, model: torch.nn.Module, task: Any, task_cfg: dict[str, Any],
                  inputs: torch.Tensor, targets: torch.Tensor, orders: list[torch.Tensor], batch_size: int,
                  learn: dict[str, Any], seed: int, evals_per_epoch: int = 1, test_samples: int | None = None,
                  log: Callable[[str], None] = print, progress: bool = True
                  ) -> tuple[list[dict], dict[str, Any], float]:
    """Train ``model`` in ``backend`` (see module docstring); loads the final parameters into
    ``model`` and returns (history, run info, final test metric). The history is measured on the
    validation split when the task has one (:func:`zoo.tasks.history_split`), the final test
    metric once after training, both inside the backend. ``learn``: the [learning] table without
    rule, epochs, batch_size and train_samples."""
    from exporters.lava.plastic import run as plastic_run
    from exporters.lava.plastic.rules import plastic_pass, update_every_step

    if backend not in BACKENDS:
        raise ZooError(f"unknown training backend {backend!r}; choose torch or one of {', '.join(BACKENDS)}")
    runner, fixed = BACKENDS[backend]
    rule = recipe["learning"]["rule"]
    steps = int(inputs.shape[1])
    source = f"recipe {recipe.get('_path', recipe['name'])}"
    split = history_split(task, task_cfg)
    x_eval, y_eval = task.load(split, n=test_samples, **task_cfg)
    x_test, y_test = (x_eval, y_eval) if split == "test" else task.load("test", n=test_samples, **task_cfg)
    tr_targets, ev_targets = step_targets(task.name, targets, steps), step_targets(task.name, y_eval, steps)
    learn = with_label_steps(rule, learn, tr_targets, source)
    graph = network_graph(recipe, model, inputs, source)
    try:  # the plastic layers come from the NIR graph `zoo export` writes (the plastic pass)
        layers = plastic_pass(graph, rule, model, steps, learn, fixed, seed, recipe.get("lava_fixed"), source)
    except ValueError as exc:
        raise ZooError(str(exc)) from None
    per_step = update_every_step(rule, learn)
    if per_step and batch_size != 1:
        raise ZooError(f"{source}: {rule} with update_every = 1 updates after every time step; inside Lava the samples "
                       f"run one after another, so set [learning] batch_size = 1 (got {batch_size})")
    xs, ts, ls, segments = [], [], [], []  # segments: (kind, start sample, count, epoch)
    pos, n = 0, len(inputs)
    for e, order in enumerate(orders):
        cuts = np.linspace(0, n, evals_per_epoch + 1).astype(int)
        for a, b in zip(cuts, cuts[1:]):
            idx = order[a:b].numpy()
            xs.append(inputs[idx].numpy()); ts.append(tr_targets[idx]); ls.append(np.ones(b - a, bool))
            segments.append(("train", pos, b - a, e + b / n)); pos += b - a
            xs.append(x_eval.numpy()); ts.append(ev_targets); ls.append(np.zeros(len(x_eval), bool))
            segments.append((split, pos, len(x_eval), e + b / n)); pos += len(x_eval)
    if split != "test":  # the final test metric, once, after the last update
        xs.append(x_test.numpy()); ts.append(step_targets(task.name, y_test, steps)); ls.append(np.zeros(len(x_test), bool))
        segments.append(("test", pos, len(x_test), float(len(orders)))); pos += len(x_test)
    schedule = plastic_run.Schedule(np.concatenate(xs), np.concatenate(ts), np.concatenate(ls), batch_size,
                                    update_every_step=per_step)
    if progress:
        log(f"training {rule} in {backend}: {pos} samples x {steps} steps ({int(schedule.learn.sum())} learning)")
    try:
        res = getattr(plastic_run, runner)(layers, schedule)
    except ValueError as exc:
        raise ZooError(f"{source}: {exc}") from None
    history, seen = [], 0
    for (kind, start, count, epoch), nxt in zip(segments, segments[1:] + [None]):
        if kind != "train":
            continue
        seen += count
        loss = per_step_ce(res.outputs[start:start + count], schedule.targets[start:start + count])
        _, ts_start, ts_count, _ = nxt
        metric = task.metric(torch.from_numpy(res.outputs[ts_start:ts_start + ts_count]), y_eval)
        history.append({"epoch": round(float(epoch), 4), "samples_seen": int(seen), "loss": loss,
                        f"{split}_{task.metric_name}": float(metric)})
        if progress:
            log(f"epoch {epoch:.2f}  loss {loss:.4f}  {split} {task.metric_name} {metric:.4f}  ({res.seconds:.0f}s total)")
    _, start, count, _ = segments[-1]  # the test segment (the last evaluation when split is test)
    final = float(task.metric(torch.from_numpy(res.outputs[start:start + count]), y_test))
    state = model.state_dict()
    unknown = sorted(set(res.params) - set(state))
    if unknown:
        raise ZooError(f"{rule} in {backend}: parameters {unknown} are not in the model's state_dict")
    model.load_state_dict({k: torch.as_tensor(np.asarray(v), dtype=state[k].dtype).reshape(state[k].shape)
                           for k, v in res.params.items()}, strict=False)
    learned_graph(recipe, model, inputs, source)  # the learned network exports to NIR and reads back exactly
    info = {"backend": backend, "seconds": round(res.seconds, 1), "steps": res.steps,
            "seconds_per_step": res.seconds / max(res.steps, 1), "test_samples": len(x_test),
            "fixed": recipe.get("lava_fixed", {}) if fixed else None}
    return history, info, final
