"""Shared training/evaluation loop of the STAR-SNN benchmarks (1 thread, deterministic seeds)."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo.learning import make_learner
from zoo.models.star import STARRSNN
from zoo.tasks import get_task
from zoo.tasks.forecasting import mse, nrmse

RESULTS = Path(__file__).resolve().parent / "results"


def predict(model: torch.nn.Module, inputs: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    model.eval()
    outs = []
    with torch.no_grad():
        for i in range(0, len(inputs), batch_size):
            outs.append(model(inputs[i:i + batch_size].transpose(0, 1)).transpose(0, 1))
    return torch.cat(outs)


def run(task_name: str, model_kw: dict[str, Any], learn_kw: dict[str, Any], epochs: int, batch_size: int,
        seed: int, task_kw: dict[str, Any] | None = None, log: bool = False) -> dict[str, Any]:
    """Train one model from scratch; return per-epoch train loss / test metric and final test metrics."""
    torch.set_num_threads(1)
    task_kw = dict(task_kw or {})
    task = get_task(task_name)
    torch.manual_seed(seed)
    model = STARRSNN(**model_kw)
    learn_kw = dict(learn_kw)
    learner = make_learner(learn_kw.pop("rule"), model, task, **learn_kw)
    x, y = task.load("train", **task_kw)
    xt, yt = task.load("test", **task_kw)
    gen = torch.Generator().manual_seed(seed)
    hist_loss, hist_metric = [], []
    t0 = time.time()
    for epoch in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        losses = [learner.step((x[order[i:i + batch_size]], y[order[i:i + batch_size]]))["loss"]
                  for i in range(0, len(x), batch_size)]
        hist_loss.append(float(np.mean(losses)))
        out = predict(model, xt)
        hist_metric.append(task.metric(out, yt))
        if log:
            print(f"  epoch {epoch + 1}/{epochs} loss {hist_loss[-1]:.5f} test {task.metric_name} {hist_metric[-1]:.4f}"
                  f" ({time.time() - t0:.0f}s)", flush=True)
    out = predict(model, xt)
    res = {"train_loss": hist_loss, f"test_{task.metric_name}_curve": hist_metric,
           f"test_{task.metric_name}": task.metric(out, yt), "seconds": time.time() - t0}
    if task.metric_name == "nrmse":
        res["test_mse"] = mse(out, yt)
    with torch.no_grad():
        res["spike_rate"] = float(model.spikes(xt[:64].transpose(0, 1)).mean())
    return res


def mean_std(values: list[float]) -> tuple[float, float]:
    a = np.asarray(values, dtype=np.float64)
    return float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else 0.0


def save_json(name: str, data: Any) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps(data, indent=1) + "\n")
    return path


__all__ = ["run", "predict", "mean_std", "save_json", "RESULTS", "mse", "nrmse"]
