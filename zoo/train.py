"""``zoo train RECIPE``: train a registered model from a TOML recipe and write weights + metadata.

A recipe names the model, its config, the task (and its data parameters), the learning rule
and its hyper-parameters, the seed, and the numerical contract (dt, reset, encoding). Output:
``<out>/<name>.safetensors`` and ``<out>/<name>.json`` (a :class:`zoo.registry.Weights` record
with SHA-256, metrics, recipe, seed and commit). ``--out zoo/weights`` ships the model.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from zoo.registry import ZooError, get_entry
from zoo.tasks import get_task

try:
    import tomllib  # type: ignore[import-not-found]
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


def load_recipe(path: str | Path) -> dict[str, Any]:
    """Parse and validate a recipe file."""
    path = Path(path)
    if not path.exists():
        raise ZooError(f"recipe {path} not found")
    try:
        recipe = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ZooError(f"recipe {path}: invalid TOML ({exc})") from None
    for key in ("name", "model", "task", "learning"):
        if key not in recipe:
            raise ZooError(f"recipe {path}: missing required key {key!r}")
    recipe["_path"] = str(path)
    return recipe


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parent, timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def evaluate_torch(model: torch.nn.Module, task_name: str, task_params: dict[str, Any], split: str = "test",
                   n: int | None = None, batch_size: int = 256) -> float:
    """Task metric of ``model`` on ``split`` (torch, float32, eval mode)."""
    task = get_task(task_name)
    inputs, targets = task.load(split, n=n, **task_params)
    outs = []
    model.eval()
    with torch.no_grad():
        dtype = next(model.parameters()).dtype
        for i in range(0, len(inputs), batch_size):
            outs.append(model(inputs[i:i + batch_size].to(dtype).transpose(0, 1)).transpose(0, 1))
    return task.metric(torch.cat(outs), targets)


def data_orders(n: int, seed: int, epochs: int) -> list[torch.Tensor]:
    """The training-sample order of every epoch (one seeded generator, one permutation per
    epoch): shared by torch training and training inside Lava, so both see the same order."""
    gen = torch.Generator().manual_seed(seed)
    return [torch.randperm(n, generator=gen) for _ in range(epochs)]


def train(recipe: dict[str, Any], out_dir: str | Path, log: Callable[[str], None] = print,
          progress: bool = True, nproc: int = 1, device: str = "cpu", backend: str = "torch",
          evals_per_epoch: int = 1, test_samples: int | None = None, dtype: torch.dtype = torch.float32
          ) -> dict[str, Any]:
    """Run ``recipe``; return the weights metadata that was written next to the weights.

    ``nproc > 1``: data-parallel over that many local processes (:mod:`zoo.distributed`; the
    recipe's ``batch_size`` is the global batch). Inside a worker (``RANK``/``WORLD_SIZE`` set,
    e.g. by ``torchrun``) this process is one rank and only rank 0 writes files.
    ``backend``: ``torch``, or ``lava-float`` / ``lava-fixed`` / ``emulator-*`` to run the
    recipe's online rule inside Lava (:mod:`zoo.train_lava`). ``evals_per_epoch`` and
    ``test_samples``: how often and on how many test samples the history is measured.
    ``dtype``: torch training precision (float64 for step-for-step comparisons with Lava)."""
    from zoo import distributed as zd
    from zoo.learning import make_learner

    if backend != "torch" and (nproc > 1 or zd.launched()):
        raise ZooError(f"--backend {backend} trains in one Lava runtime; it does not combine with --nproc")
    if nproc > 1 and not zd.launched():
        return zd.launch_train(recipe, out_dir, nproc, device, log=log, progress=progress)
    par = zd.init(device) if zd.launched() else zd.Context(device=zd.resolve_device(device))
    progress = progress and par.is_main
    torch.set_num_threads(int(os.environ.get("ZOO_THREADS", "2")))
    seed = int(recipe.get("seed", 0))
    torch.manual_seed(seed)
    entry = get_entry(recipe["model"])
    task_cfg = dict(recipe["task"])
    task = get_task(task_cfg.pop("name", entry.task))
    model = entry.builder(**recipe.get("model_config", {})).to(dtype)
    learn = dict(recipe["learning"])
    rule, epochs, batch_size = learn.pop("rule"), int(learn.pop("epochs", 10)), int(learn.pop("batch_size", 64))
    train_samples = learn.pop("train_samples", None)  # optional: first N training samples (smoke runs)
    inputs, targets = task.load("train", **task_cfg)
    if train_samples is not None:
        inputs, targets = inputs[:int(train_samples)], targets[:int(train_samples)]
    orders = data_orders(len(inputs), seed, epochs)
    t0 = time.time()
    if backend != "torch":
        from zoo.train_lava import train_plastic

        history, lava_info = train_plastic(recipe, backend, model, task, task_cfg, inputs, targets, orders,
                                           batch_size, learn, seed, evals_per_epoch, test_samples, log, progress)
        return _write(recipe, out_dir, model, task, task_cfg, rule, epochs, batch_size, learn, train_samples, seed,
                      t0, history, par, {"lava": lava_info})
    learner = make_learner(rule, par.wrap(model, rule), task, **learn)
    par.attach(learner)
    history = []
    eval_points = [int(c) for c in np.linspace(0, len(inputs), evals_per_epoch + 1)[1:]]
    for epoch, order in enumerate(orders):
        losses, cuts = [], list(eval_points)
        for i in range(0, len(order), batch_size):
            idx = par.shard(order[i:i + batch_size], targets)
            x_b, y_b = par.to_device((inputs[idx].to(dtype), targets[idx]))
            losses.append(par.weighted(learner.step((x_b, y_b))["loss"]))
            seen = min(i + batch_size, len(order))
            if not (cuts and seen >= cuts[0]):
                continue
            while cuts and cuts[0] <= seen:
                cuts.pop(0)
            losses = par.sum_across(losses)
            metric = (par.evaluate_torch if par.active or par.device.type != "cpu" else evaluate_torch)(
                model, task.name, task_cfg, **({"n": test_samples} if test_samples else {}))
            frac = epoch + seen / len(order)
            history.append({"epoch": round(frac, 4) if evals_per_epoch > 1 else epoch + 1,
                            "samples_seen": epoch * len(order) + seen, "loss": sum(losses) / len(losses),
                            f"test_{task.metric_name}": metric})
            losses = []
            if progress:
                log(f"epoch {frac:.2f}/{epochs}  loss {history[-1]['loss']:.4f}  test {task.metric_name} "
                    f"{metric:.4f}  ({time.time() - t0:.0f}s)")
    if not par.is_main:
        par.close()
        return {"rank": par.rank, "history": history}
    extra = {}
    if par.active:
        extra["distributed"] = {"world_size": par.world_size, "device": par.device.type,
                                "backend": "nccl" if par.device.type == "cuda" else "gloo"}
    return _write(recipe, out_dir, model, task, task_cfg, rule, epochs, batch_size, learn, train_samples, seed, t0,
                  history, par, extra)


def _write(recipe: dict[str, Any], out_dir: str | Path, model: torch.nn.Module, task: Any, task_cfg: dict[str, Any],
           rule: str, epochs: int, batch_size: int, learn: dict[str, Any], train_samples: Any, seed: int, t0: float,
           history: list[dict], par: Any, extra: dict[str, Any]) -> dict[str, Any]:
    """Write ``<out>/<name>.safetensors`` (atomically) and the :class:`Weights` record."""
    from safetensors.torch import save_file

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    name = recipe["name"]
    weights_path = out_dir / f"{name}.safetensors"
    tmp = weights_path.with_suffix(".tmp")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp))
    os.replace(tmp, weights_path)
    sha = hashlib.sha256(weights_path.read_bytes()).hexdigest()
    meta = {
        "name": name,
        "file": weights_path.name,
        "sha256": sha,
        "url": None,
        "recipe": os.path.relpath(recipe["_path"], Path(__file__).resolve().parent.parent),
        "meta": {
            "config": recipe.get("model_config", {}),
            "task": {"name": task.name, **task_cfg},
            "dt": recipe.get("dt"),
            "contract": recipe.get("contract", {}),
            "learning": {"rule": rule, "epochs": epochs, "batch_size": batch_size, **learn,
                         **({"train_samples": train_samples} if train_samples is not None else {})},
            "seed": seed,
            "commit": git_commit(),
            "train_seconds": round(time.time() - t0, 1),
            "torch": torch.__version__,
            "python": sys.version.split()[0],
            "metrics": {f"test_{task.metric_name}": history[-1][f"test_{task.metric_name}"]},
            "history": history,
        },
    }
    meta["meta"].update(extra)
    (out_dir / f"{name}.json").write_text(json.dumps(meta, indent=2) + "\n")
    par.close()
    return meta
