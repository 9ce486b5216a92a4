"""Shared runner for the HYPR benchmarks: train one RecurrentSNN with one rule and report."""
from __future__ import annotations

import math
import time
from typing import Any

import torch

from zoo.learning.eligibility import AutogradReference
from zoo.learning.eprop import EProp
from zoo.learning.hypr import HYPR
from zoo.models.hypr import RecurrentSNN
from zoo.tasks import get_task

N_OUT = {"ecg": 6, "bsd": 20, "pixel-digits": 10, "pixel-digits-perm": 10, "fsdd-seq": 10}
DEFAULT_GAIN = {"brf": 80.0, "seadlif": 20.0, "alif": 40.0}


def make_learner(rule: str, model, task, lam: int = 50, **kw: Any):
    if rule == "bptt":
        return AutogradReference(model, task, detach_recurrent=False, **kw)
    if rule == "eprop":
        return EProp(model, task, **kw)
    if rule == "hypr":
        return HYPR(model, task, lam=lam, **kw)
    raise ValueError(rule)


def evaluate(model, task, x, y, batch: int = 256) -> float:
    model.eval()
    outs = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            outs.append(model(x[i:i + batch].transpose(0, 1)).transpose(0, 1))
    return task.metric(torch.cat(outs), y)


def train_epoch(learner, x: torch.Tensor, y: torch.Tensor, batch_size: int, gen: torch.Generator) -> float:
    """One pass over (x, y) in a random order drawn from ``gen``; mean training loss of the batches."""
    order = torch.randperm(len(x), generator=gen)
    losses = [learner.step((x[idx], y[idx]))["loss"] for idx in order.split(batch_size)]
    return sum(losses) / len(losses)


def run(task_name: str, neuron: str, rule: str, seed: int = 0, epochs: int = 2, batch_size: int = 16,
        lr: float = 0.05, lam: int = 50, n_train: int | None = None, n_test: int | None = None,
        n_hidden: int = 36, gain: float | None = None, task_params: dict | None = None,
        lr_final_frac: float = 0.0, grad_clip: float | None = None, log=print,
        time_budget: float | None = None) -> dict[str, Any]:
    torch.manual_seed(seed)
    task = get_task(task_name)
    tp = task_params or {}
    xtr, ytr = task.load("train", n=n_train, **tp)
    xte, yte = task.load("test", n=n_test, **tp)
    g = DEFAULT_GAIN[neuron] if gain is None else gain
    model = RecurrentSNN(xtr.shape[-1], n_hidden, N_OUT[task_name], neuron=neuron,
                         w_in_gain=g, w_rec_gain=g)
    steps = epochs * math.ceil(len(xtr) / batch_size)
    learner = make_learner(rule, model, task, lam=lam, lr=lr, total_steps=steps, lr_final_frac=lr_final_frac,
                           grad_clip=grad_clip)
    gen = torch.Generator().manual_seed(seed)
    hist, t0, train_time = [], time.time(), 0.0
    for ep in range(epochs):
        t1 = time.time()
        loss = train_epoch(learner, xtr, ytr, batch_size, gen)
        train_time += time.time() - t1
        acc = evaluate(model, task, xte, yte)
        hist.append({"epoch": ep + 1, "loss": loss, "test": acc, "time": round(time.time() - t0, 1)})
        log(f"[{task_name} {neuron} {rule} lam={lam} seed={seed}] epoch {ep + 1}/{epochs} loss {hist[-1]['loss']:.4f} "
            f"test {acc:.4f} ({time.time() - t0:.0f}s)")
        if time_budget and time.time() - t0 > time_budget:
            break
    return {"task": task_name, "neuron": neuron, "rule": rule, "lam": lam if rule == "hypr" else None, "seed": seed,
            "epochs_run": len(hist), "test": hist[-1]["test"], "best_test": max(h["test"] for h in hist),
            "train_seconds": round(train_time, 1), "history": hist, "model": model}
