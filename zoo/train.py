"""``zoo train RECIPE``: train a registered model from a recipe (:mod:`zoo.recipe`) and write
weights + metadata. Output:
``<out>/<name>.safetensors`` and ``<out>/<name>.json`` (a :class:`zoo.registry.Weights` record
with SHA-256, metrics, recipe, seed and commit). ``--out zoo/weights`` ships the model.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from zoo.progress import bar as progress_bar
from zoo.recipe import load_recipe, rejected, validate_recipe  # noqa: F401  (re-exported: zoo.train.load_recipe)
from zoo.registry import ZooError, get_entry
from zoo.tasks import collate, get_task, history_split


class TrainingDiverged(ZooError):
    """Training produced non-finite parameters (NaN or inf): the run failed and wrote nothing.
    The CLI reports it on one line and exits with status 1 (a failed run, not a usage error)."""


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
    outs, tgts = [], []
    model.eval()
    with torch.no_grad():
        dtype = next(model.parameters()).dtype
        for x_b, y_b in eval_batches(task, split, n, batch_size, task_params):
            outs.append(model(x_b.to(dtype).transpose(0, 1)).transpose(0, 1))
            tgts.append(y_b)
    return task.metric(torch.cat(outs), torch.cat(tgts))


def eval_batches(task: Any, split: str, n: int | None, batch_size: int, task_params: dict[str, Any]):
    """(inputs, targets) batches of ``split``: streamed from disk for tasks with a ``dataset``
    (the papers' large sets), else slices of the in-memory tensors of ``task.load``."""
    if task.dataset is not None:
        data = task.dataset(split, **task_params)
        idx = list(range(len(data) if n is None else min(int(n), len(data))))
        yield from torch.utils.data.DataLoader(data, batch_size=batch_size, collate_fn=collate, sampler=idx)
        return
    inputs, targets = task.load(split, n=n, **task_params)
    for i in range(0, len(inputs), batch_size):
        yield inputs[i:i + batch_size], targets[i:i + batch_size]


def recipe_parts(recipe: dict[str, Any]) -> tuple[Any, Any, dict[str, Any], torch.nn.Module, dict[str, Any]]:
    """(model entry, task, task parameters, freshly built model, [learning] table copy) of ``recipe``
    (seed the RNG first for a reproducible initialisation); used by :func:`train` and by the
    benchmarks that train a recipe. A builder refusing ``[model_config]`` raises one
    :class:`ZooError` line naming the recipe and the table."""
    entry = get_entry(recipe["model"])
    task_cfg = dict(recipe["task"])
    task = get_task(task_cfg.pop("name", entry.task))
    with rejected(recipe_source(recipe), "model_config", f"model {entry.name!r}"):
        model = entry.builder(**recipe.get("model_config", {}))
    return entry, task, task_cfg, model, dict(recipe["learning"])


def recipe_source(recipe: dict[str, Any]) -> str:
    """How error messages name ``recipe``: ``recipe <path>`` (or its name when loaded from memory)."""
    return f"recipe {recipe.get('_path', recipe.get('name'))}"


def init_from_nir(model: torch.nn.Module, path: str | Path, recipe: dict[str, Any], source: str) -> dict[str, Any]:
    """Load the parameter values of the zoo NIR file ``path`` into ``model`` (an export of the
    recipe's model with the recipe's dt, seconds; :func:`exporters.nir.model_import.load_from_nir`)
    and return the record of it for the weights metadata (``{"init": {"nir", "sha256"}}``)."""
    from exporters.nir.io import NIRError, read
    from exporters.nir.model_import import graph_dt, load_from_nir
    from zoo.hub import sha256_file

    try:
        graph = read(path)
        dt = graph_dt(graph)
        if recipe.get("dt") and abs(dt - float(recipe["dt"])) > 1e-9 * dt:
            raise NIRError(f"its dt = {dt} s differs from the recipe's dt = {recipe['dt']}")
        load_from_nir(model, graph, "the graph")
    except NIRError as exc:
        raise ZooError(f"{source}: --init {path}: {exc}") from None
    return {"init": {"nir": str(path), "sha256": sha256_file(Path(path))}}


def data_orders(n: int, seed: int, epochs: int) -> list[torch.Tensor]:
    """The training-sample order of every epoch (one seeded generator, one permutation per
    epoch): shared by torch training and training inside Lava, so both see the same order."""
    gen = torch.Generator().manual_seed(seed)
    return [torch.randperm(n, generator=gen) for _ in range(epochs)]


def train(recipe: dict[str, Any], out_dir: str | Path, log: Callable[[str], None] = print,
          progress: bool = True, nproc: int = 1, device: str = "cpu", backend: str = "torch",
          evals_per_epoch: int = 1, test_samples: int | None = None, dtype: torch.dtype = torch.float32,
          init: str | Path | None = None) -> dict[str, Any]:
    """Run ``recipe``; return the weights metadata that was written next to the weights.

    ``nproc > 1``: data-parallel over that many local processes (:mod:`zoo.distributed`; the
    recipe's ``batch_size`` is the global batch). Inside a worker (``RANK``/``WORLD_SIZE`` set,
    e.g. by ``torchrun``) this process is one rank and only rank 0 writes files.
    ``backend``: ``torch``, or ``lava-float`` / ``lava-fixed`` / ``emulator-*`` to run the
    recipe's online rule inside Lava (:mod:`zoo.train_lava`). ``evals_per_epoch`` and
    ``test_samples``: how often and on how many samples the history is measured (torch: on the
    validation split when the task has one, :func:`history_split`; the final test metric is
    measured once after training).
    ``dtype``: torch training precision (float64 for step-for-step comparisons with Lava).
    ``init``: start from the parameters of a zoo NIR file (``zoo export``) of the recipe's model
    instead of its seeded initialisation (:func:`init_from_nir`)."""
    import exporters.lava.readout_states  # noqa: F401  (registers TBPTT readout_states = "lava-fixed")
    from zoo import distributed as zd
    from zoo.learning import make_learner

    check_out_dir(out_dir, recipe.get("name"))
    source = recipe_source(recipe)
    if backend != "torch" and (nproc > 1 or zd.launched()):
        raise ZooError(f"--backend {backend} trains in one Lava runtime; it does not combine with --nproc")
    if nproc > 1 and not zd.launched():
        from zoo.launch import launch_train

        return launch_train(recipe, out_dir, nproc, device, log=log, progress=progress)
    par = zd.init(device) if zd.launched() else zd.Context(device=zd.resolve_device(device))
    progress = progress and par.is_main
    torch.set_num_threads(int(os.environ.get("ZOO_THREADS", "2")))
    seed = int(recipe.get("seed", 0))
    torch.manual_seed(seed)
    _, task, task_cfg, model, learn = recipe_parts(recipe)
    model = model.to(dtype)
    init_info = init_from_nir(model, init, recipe, source) if init is not None else {}
    rule, epochs, batch_size = learn.pop("rule"), int(learn.pop("epochs", 10)), int(learn.pop("batch_size", 64))
    train_samples = learn.pop("train_samples", None)  # optional: first N training samples (smoke runs)
    data = inputs = targets = None  # a streaming Dataset, or in-memory tensors
    with rejected(source, "task", f"task {task.name!r}"):
        if task.dataset is not None:
            data = task.dataset("train", **task_cfg)
            n_train = len(data)
        else:
            inputs, targets = task.load("train", **task_cfg)
            n_train = len(inputs)
    if n_train == 0:
        raise ZooError(f"{source}: task {task.name!r} has no training samples with these [task] parameters")
    if train_samples is not None:
        n_train = min(n_train, int(train_samples))
        if data is None:
            inputs, targets = inputs[:n_train], targets[:n_train]
    first = data[0][0] if data is not None else inputs[0]
    info = {"input_shape": [int(d) for d in first.shape[1:]], **init_info}  # one step, for export without data
    orders = data_orders(n_train, seed, epochs)
    t0 = time.time()
    if backend != "torch" and data is not None:
        raise ZooError(f"{source}: task {task.name!r} streams from disk; --backend {backend} needs an in-memory task")
    if backend != "torch":
        from zoo.train_lava import train_plastic

        history, lava_info, final = train_plastic(recipe, backend, model, task, task_cfg, inputs, targets, orders,
                                           batch_size, learn, seed, evals_per_epoch, test_samples, log, progress)
        check_finite(model, source, "after training")
        return _write(recipe, out_dir, model, task, task_cfg, rule, epochs, batch_size, learn, train_samples, seed,
                      t0, history, par, {**info, "lava": lava_info, "metrics": {f"test_{task.metric_name}": final}})
    with rejected(source, "learning", f"learning rule {rule!r}"):
        learner = make_learner(rule, par.wrap(model, rule), task, **learn)
    par.attach(learner)
    history = []
    split = history_split(task, task_cfg)
    measure = par.evaluate_torch if par.active or par.device.type != "cpu" else evaluate_torch
    n_eval = {"n": test_samples} if test_samples else {}
    eval_points = [int(c) for c in np.linspace(0, n_train, evals_per_epoch + 1)[1:]]
    for epoch, order in enumerate(orders):
        losses, cuts = [], list(eval_points)
        bar = progress_bar(total=len(order), desc=f"epoch {epoch + 1}/{epochs}", unit="sample") if progress else None
        for i in range(0, len(order), batch_size):
            idx = par.shard(order[i:i + batch_size], targets)
            x_b, y_b = (inputs[idx], targets[idx]) if data is None else collate([data[int(j)] for j in idx])
            x_b, y_b = par.to_device((x_b.to(dtype), y_b))
            losses.append(par.weighted(learner.step((x_b, y_b))["loss"]))
            seen = min(i + batch_size, len(order))
            if bar is not None:
                bar.update(len(idx))
                bar.set_postfix(loss=f"{float(losses[-1]):.4f}")
            if not (cuts and seen >= cuts[0]):
                continue
            while cuts and cuts[0] <= seen:
                cuts.pop(0)
            losses = par.sum_across(losses)
            # stop at the first evaluation with NaN/inf parameters (a spiking net's loss can stay finite)
            check_finite(model, source, f"at epoch {epoch + seen / len(order):.2f}", par)
            metric = measure(model, task.name, task_cfg, split=split, **n_eval)
            frac = epoch + seen / len(order)
            history.append({"epoch": round(frac, 4) if evals_per_epoch > 1 else epoch + 1,
                            "samples_seen": epoch * len(order) + seen, "loss": sum(losses) / len(losses),
                            f"{split}_{task.metric_name}": metric})
            losses = []
            if progress:
                log(f"epoch {frac:.2f}/{epochs}  loss {history[-1]['loss']:.4f}  {split} {task.metric_name} "
                    f"{metric:.4f}  ({time.time() - t0:.0f}s)")
        if bar is not None:
            bar.close()
    check_finite(model, source, "after training", par)
    key = f"test_{task.metric_name}"
    final = history[-1][key] if split == "test" else measure(model, task.name, task_cfg, split="test", **n_eval)
    if not par.is_main:
        par.close()
        return {"rank": par.rank, "history": history}
    extra = {**info, "metrics": {key: final}}
    if par.active:
        extra["distributed"] = {"world_size": par.world_size, "device": par.device.type,
                                "backend": "nccl" if par.device.type == "cuda" else "gloo"}
    return _write(recipe, out_dir, model, task, task_cfg, rule, epochs, batch_size, learn, train_samples, seed, t0,
                  history, par, extra)


def _write(recipe: dict[str, Any], out_dir: str | Path, model: torch.nn.Module, task: Any, task_cfg: dict[str, Any],
           rule: str, epochs: int, batch_size: int, learn: dict[str, Any], train_samples: Any, seed: int, t0: float,
           history: list[dict], par: Any, extra: dict[str, Any]) -> dict[str, Any]:
    """Write ``<out>/<name>.safetensors`` and the :class:`Weights` record ``<out>/<name>.json``
    together: both go to temporary files first, then the weights and then the record are renamed
    into place; a failure before or between the renames leaves the previous pair (the previous
    weights are put back). Only a hard crash between the two renames can leave the new weights
    beside the old record, and the record's SHA-256 check then refuses them."""
    from safetensors.torch import save_file

    out_dir = Path(out_dir)
    name = recipe["name"]
    weights_path, json_path = out_dir / f"{name}.safetensors", out_dir / f"{name}.json"
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        tmp_w = _temp_beside(weights_path)
    except OSError as exc:
        raise ZooError(f"--out {out_dir}: cannot write ({exc.strerror or exc})") from None
    tmp_j = backup = None
    try:
        save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(tmp_w))
        sha = _sha256(tmp_w)
        meta = _metadata(recipe, weights_path, sha, task, task_cfg, rule, epochs, batch_size, learn,
                         train_samples, seed, t0, history, extra)
        tmp_j = _temp_beside(json_path)
        tmp_j.write_text(json.dumps(meta, indent=2) + "\n")
        for tmp in (tmp_w, tmp_j):
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
        backup = _hard_link_copy(weights_path)
        os.replace(tmp_w, weights_path)
        try:
            os.replace(tmp_j, json_path)
        except BaseException:  # put the previous weights back: the pair stays the old one
            if backup is not None:
                os.replace(backup, weights_path)
            elif not json_path.exists():
                weights_path.unlink()
            raise
    except OSError as exc:
        raise ZooError(f"--out {out_dir}: cannot write {name} ({exc.strerror or exc}); "
                       "the previous weights, if any, are unchanged") from None
    finally:
        for tmp in (tmp_w, tmp_j, backup):
            if tmp is not None and tmp.exists():
                tmp.unlink()
    if _sha256(weights_path) != sha:  # another writer raced us between the renames
        raise ZooError(f"{weights_path}: changed while being written (sha256 differs from {json_path.name})")
    par.close()
    return meta


def _metadata(recipe: dict[str, Any], weights_path: Path, sha: str, task: Any,
              task_cfg: dict[str, Any], rule: str, epochs: int, batch_size: int, learn: dict[str, Any],
              train_samples: Any, seed: int, t0: float, history: list[dict], extra: dict[str, Any]) -> dict[str, Any]:
    """The :class:`zoo.registry.Weights` record of a finished run."""
    name, key = recipe["name"], f"test_{task.metric_name}"
    meta = {
        "name": name,
        "model": recipe["model"],
        "file": weights_path.name,
        "sha256": sha,
        "url": None,
        "recipe": recipe_label(recipe["_path"]),
        "meta": {
            "config": recipe.get("model_config", {}),
            "task": {"name": task.name, **task_cfg},
            "dt": recipe.get("dt"),
            "input_shape": extra.pop("input_shape", None),
            "contract": recipe.get("contract", {}),
            "learning": {"rule": rule, "epochs": epochs, "batch_size": batch_size, **learn,
                         **({"train_samples": train_samples} if train_samples is not None else {})},
            "seed": seed,
            "commit": git_commit(),
            "train_seconds": round(time.time() - t0, 1),
            "torch": torch.__version__,
            "python": sys.version.split()[0],
            "metrics": extra.pop("metrics", None) or {key: history[-1][key]},
            "history": history,
        },
    }
    meta["meta"].update(extra)
    return meta


def recipe_label(path: str | Path) -> str:
    """How a weights record names its recipe: ``recipes/NAME.toml`` for a shipped recipe (in a
    checkout or the installed wheel), else the path as given."""
    from zoo.resources import bundled_dir

    p = Path(path).resolve()
    shipped = bundled_dir("recipes").resolve()
    return f"recipes/{p.name}" if p.parent == shipped else str(path)


def _temp_beside(path: Path) -> Path:
    """A new empty temporary file next to ``path`` (same file system: the rename is atomic)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    os.chmod(tmp, 0o644)
    return Path(tmp)


def _hard_link_copy(path: Path) -> Path | None:
    """A second name for the file at ``path`` (None if there is none or links are unsupported)."""
    if not path.is_file():
        return None
    link = _temp_beside(path)
    link.unlink()
    try:
        os.link(path, link)
    except OSError:
        return None
    return link


def _sha256(path: Path) -> str:
    from zoo.hub import sha256_file

    return sha256_file(path)


def check_out_dir(path: str | Path, name: str | None = None) -> Path:
    """Fail before training if ``--out`` cannot receive the outputs: ``path`` exists and is not a
    directory, its nearest existing ancestor is not a writable directory, or (given the recipe
    ``name``) ``<name>.safetensors`` / ``<name>.json`` exist there as something else than files."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise ZooError(f"--out {out}: exists and is not a directory")
    base = out
    while not base.exists() and base != base.parent:
        base = base.parent
    if not base.is_dir():
        raise ZooError(f"--out {out}: {base} is not a directory")
    if not os.access(base, os.W_OK | os.X_OK):
        raise ZooError(f"--out {out}: {base} is not writable")
    for suffix in (".safetensors", ".json") if name else ():
        target = out / f"{name}{suffix}"
        if target.exists() and not target.is_file():
            raise ZooError(f"--out {out}: {target} exists and is not a regular file")
    return out


def check_finite(model: torch.nn.Module, source: str, when: str, par: Any = None) -> None:
    """Raise :class:`TrainingDiverged` if a parameter or buffer of ``model`` holds NaN or inf."""
    for key, value in model.state_dict().items():
        if torch.is_tensor(value) and value.is_floating_point() and not bool(torch.isfinite(value).all()):
            if par is not None:
                par.close()
            raise TrainingDiverged(f"{source}: training diverged: {key} has non-finite values {when} "
                                   "(lower [learning] lr?); nothing written")
