"""``zoo train RECIPE``: train a registered model from a TOML recipe and write weights + metadata.

A recipe names the model, its config, the task (and its data parameters), the learning rule
and its hyper-parameters, the seed, and the numerical contract (dt, reset, encoding). Output:
``<out>/<name>.safetensors`` and ``<out>/<name>.json`` (a :class:`zoo.registry.Weights` record
with SHA-256, metrics, recipe, seed and commit). ``--out zoo/weights`` ships the model.
"""
from __future__ import annotations

import contextlib
import datetime
import difflib
import importlib
import inspect
import json
import math
import os
import re
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch

from zoo.registry import ZooError, get_entry
from zoo.tasks import get_task

try:
    import tomllib  # type: ignore[import-not-found]
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


class TrainingDiverged(ZooError):
    """Training produced non-finite parameters (NaN or inf): the run failed and wrote nothing.
    The CLI reports it on one line and exits with status 1 (a failed run, not a usage error)."""


MAX_RECIPE_BYTES = 1 << 20
MAX_EPOCHS = 10_000  # every epoch's sample order is drawn before training (data_orders)
# recipe name -> output file names: a plain name, never a path (no separators, no leading dot)
_NAME_RE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}")
_TOP_KEYS = ("name", "model", "seed", "dt", "contract", "model_config", "task", "learning", "lava_fixed")
_REQUIRED = ("name", "model", "task", "learning")
_TABLES = ("contract", "model_config", "task", "learning", "lava_fixed")
# optimizer names of zoo.learning.base.make_optimizer -> torch.optim class (its keyword arguments
# are valid [learning] keys: every learner forwards its extra keywords to the optimizer)
_OPTIMIZERS = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD"}
# torch implementation switches, not hyper-parameters (capturable/differentiable/fused break CPU training)
_OPTIMIZER_SWITCHES = ("foreach", "fused", "capturable", "differentiable")
_TRAIN_KEYS = ("rule", "epochs", "batch_size", "train_samples")  # [learning] keys zoo train itself reads
# [learning] ranges: key -> (kind, low, high, low inclusive); kinds: int, num, bool, str, list
_LEARNING_SPECS: dict[str, tuple[str, float | None, float | None, bool]] = {
    "epochs": ("int", 1, MAX_EPOCHS, True), "batch_size": ("int", 1, None, True),
    "train_samples": ("int", 1, None, True), "lr": ("num", 0, None, False), "optimizer": ("str", None, None, True),
    "rule": ("str", None, None, True), "K": ("int", 1, None, True), "update_every": ("int", 1, None, True),
    "lam": ("int", 1, None, True), "total_steps": ("int", 1, None, True), "lr_final_frac": ("num", 0, 1, True),
    "lr_decay": ("num", 0, 1, False), "grad_clip": ("num", 0, None, False), "readout_fraction": ("num", 0, 1, False),
    "alpha_min": ("num", 0, 1, True), "alpha_max": ("num", 0, 1, True), "theta_min": ("num", 0, None, True),
    "label_steps": ("int", 1, None, True), "learn": ("list", None, None, True), "momentum": ("num", 0, None, True),
    "dampening": ("num", 0, None, True), "weight_decay": ("num", 0, None, True), "eps": ("num", 0, None, False),
}


def _fail(source: str, key: str, problem: str) -> ZooError:
    return ZooError(f"recipe {source}: {key}: {problem}")


def _join(section: str, key: str) -> str:
    """``section.key`` for messages; a quoted TOML key (any text: empty, newlines) is shown as repr."""
    shown = key if re.fullmatch(r"[\w-]+", key) else repr(key)
    return f"{section}.{shown}" if section else shown


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _closest(key: str, known: Any) -> str:
    close = difflib.get_close_matches(key, sorted(known), n=1)
    return f"; did you mean {close[0]!r}?" if close else f" (known: {', '.join(sorted(known))})"


def _check_keys(source: str, section: str, table: dict[str, Any], known: Any) -> None:
    for key in table:
        if key not in known:
            raise _fail(source, _join(section, key), f"unknown key{_closest(key, known)}")


def _check_value(source: str, key: str, value: Any, kind: str, low: float | None = None,
                 high: float | None = None, low_inclusive: bool = True) -> None:
    """``value`` is of ``kind`` (int, num, bool, str, list, table) and, for numbers, in range."""
    is_num = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = {"int": isinstance(value, int) and not isinstance(value, bool), "num": is_num,
          "bool": isinstance(value, bool), "str": isinstance(value, str), "list": isinstance(value, list),
          "table": isinstance(value, dict)}[kind]
    if not ok:
        what = {"int": "an integer", "num": "a number", "bool": "true or false", "str": "a string",
                "list": "an array", "table": "a table"}[kind]
        raise _fail(source, key, f"{_show(value)} must be {what}")
    if not is_num:
        return
    if low is not None and (value < low or (value == low and not low_inclusive)):
        bound = f">= {low}" if low_inclusive else f"> {low}"
        raise _fail(source, key, f"{_show(value)} must be {bound}" + (f" and <= {high}" if high is not None else ""))
    if high is not None and value > high:
        raise _fail(source, key, f"{_show(value)} must be <= {high}")


def _check_leaves(source: str, key: str, value: Any) -> None:
    """Every number is finite and no value is a TOML date/time (a recipe is JSON data)."""
    if isinstance(value, dict):
        for k, v in value.items():
            _check_leaves(source, _join(key, k), v)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_leaves(source, f"{key}[{i}]", v)
    elif isinstance(value, float) and not math.isfinite(value):
        raise _fail(source, key, f"{value} is not a finite number")
    elif isinstance(value, (datetime.date, datetime.time)):
        raise _fail(source, key, f"{_show(value)}: dates and times are not recipe values")


def _params(fn: Callable[..., Any], skip: tuple[str, ...] = ()) -> tuple[dict[str, Any], bool]:
    """Keyword parameters of ``fn`` (name -> default) and whether it also takes ``**kwargs``."""
    params, var_kw = {}, False
    for p in inspect.signature(fn).parameters.values():
        if p.kind is p.VAR_KEYWORD:
            var_kw = True
        elif p.kind not in (p.VAR_POSITIONAL, p.POSITIONAL_ONLY) and p.name not in skip:
            params[p.name] = p.default
    return params, var_kw


def _check_by_default(source: str, key: str, value: Any, default: Any, non_negative: bool = False,
                      counts: bool = False) -> None:
    """Type of ``value`` from the parameter's default (no check when the default says nothing).
    ``non_negative``: a number whose default is >= 0 must be >= 0; ``counts``: an integer (or
    integers in an array) whose default is >= 1 must be >= 1 (sizes: n_hidden, channels)."""
    if isinstance(default, bool):
        _check_value(source, key, value, "bool")
    elif isinstance(default, int):
        low = 1 if counts and default >= 1 else 0 if non_negative and default >= 0 else None
        _check_value(source, key, value, "int", low)
    elif isinstance(default, float):
        _check_value(source, key, value, "num", 0 if non_negative and default >= 0 else None)
    elif isinstance(default, str):
        _check_value(source, key, value, "str")
    elif isinstance(default, (tuple, list)):
        _check_value(source, key, value, "list")
        if default and all(type(d) is type(default[0]) for d in default):
            for i, v in enumerate(value):
                _check_by_default(source, f"{key}[{i}]", v, default[0], non_negative, counts)


def _learner_params(rule: str) -> tuple[dict[str, Any], bool]:
    """Keyword parameters the learner class of ``rule`` takes along its ``__init__`` chain."""
    from zoo.learning import LEARNERS

    module, cls = LEARNERS[rule].split(":")
    params: dict[str, Any] = {}
    var_kw = True
    for klass in getattr(importlib.import_module(module), cls).__mro__:
        if "__init__" not in vars(klass) or klass is object or not var_kw:
            continue
        own, var_kw = _params(vars(klass)["__init__"], skip=("self", "model", "task"))
        params = {**own, **params}
    return params, var_kw


def _lava_options(rule: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """([learning] keys, [lava_fixed] keys) ``rule`` accepts inside Lava (none if it has no Lava rule)."""
    from exporters.lava.plastic.rules import FIXED_OPTIONS, RULE_OPTIONS

    return tuple(RULE_OPTIONS.get(rule, ())), tuple(FIXED_OPTIONS.get(rule, ())) + ("round_seed",)


def _check_learning(source: str, learn: dict[str, Any]) -> None:
    from zoo.learning import LEARNERS

    if "rule" not in learn:
        raise _fail(source, "learning.rule", "missing required key")
    rule = learn["rule"]
    _check_value(source, "learning.rule", rule, "str")
    if rule not in LEARNERS:
        raise _fail(source, "learning.rule", f"unknown learning rule {rule!r}{_closest(rule, LEARNERS)}")
    optimizer = learn.get("optimizer", "adam")
    _check_value(source, "learning.optimizer", optimizer, "str")
    if optimizer not in _OPTIMIZERS:
        raise _fail(source, "learning.optimizer", f"unknown optimizer {optimizer!r}{_closest(optimizer, _OPTIMIZERS)}")
    rule_params, _ = _learner_params(rule)
    opt_params, _ = _params(getattr(torch.optim, _OPTIMIZERS[optimizer]), skip=("params",) + _OPTIMIZER_SWITCHES)
    known = {**opt_params, **rule_params, **{k: None for k in _TRAIN_KEYS}}
    unknown = [k for k in learn if k not in known]
    if unknown:  # keys only the Lava backend reads (e.g. label_steps) are known too
        known.update({k: None for k in _lava_options(rule)[0]})
    _check_keys(source, "learning", learn, known)
    for key, value in learn.items():
        if key in _LEARNING_SPECS:
            _check_value(source, f"learning.{key}", value, *_LEARNING_SPECS[key])
        else:
            _check_by_default(source, f"learning.{key}", value, known[key])
    if "learn" in learn and not all(isinstance(v, str) for v in learn["learn"]):
        raise _fail(source, "learning.learn", f"{_show(learn['learn'])} must be an array of parameter names")


def _check_task(source: str, task_cfg: dict[str, Any], default_task: str) -> None:
    from zoo.tasks import get_task

    name = task_cfg.get("name", default_task)
    _check_value(source, "task.name", name, "str")
    try:
        task = get_task(name)
    except ZooError as exc:
        raise _fail(source, "task.name", str(exc)) from None
    params, var_kw = _params(task.load, skip=("split", "n"))
    for key in ("split", "n"):
        if key in task_cfg:
            raise _fail(source, f"task.{key}", "is chosen by zoo train, not by the recipe")
    if not var_kw:
        _check_keys(source, "task", task_cfg, {"name": None, **params})
    for key, value in task_cfg.items():
        if key in params:
            _check_by_default(source, f"task.{key}", value, params[key], non_negative=True)
            if key in ("steps", "n_train", "n_test", "n_total"):
                _check_value(source, f"task.{key}", value, "int", 1)


def validate_recipe(recipe: dict[str, Any], source: str) -> None:
    """Check a parsed recipe: known keys, types and ranges; raise a one-line :class:`ZooError`
    naming ``source`` (the recipe file) and the key. Unknown keys suggest the closest known one;
    [learning], [task] and [model_config] keys are checked against what the learning rule (and its
    optimizer), the task loader and the model builder accept, when those say."""
    _check_keys(source, "", recipe, _TOP_KEYS)
    for key in _REQUIRED:
        if key not in recipe:
            raise ZooError(f"recipe {source}: missing required key {key!r}")
    _check_leaves(source, "", recipe)
    for key in _TABLES:
        if key in recipe:
            _check_value(source, key, recipe[key], "table")
    _check_value(source, "name", recipe["name"], "str")
    if not _NAME_RE.fullmatch(recipe["name"]):
        raise _fail(source, "name", f"{_show(recipe['name'])} must be a plain name (letters, digits, '-', '_', "
                                    "'.' not first; at most 128 characters; no path separators)")
    _check_value(source, "model", recipe["model"], "str")
    try:
        entry = get_entry(recipe["model"])
    except ZooError as exc:
        raise _fail(source, "model", str(exc)) from None
    if "seed" in recipe:
        _check_value(source, "seed", recipe["seed"], "int", 0)
        _check_value(source, "seed", recipe["seed"], "int", None, 2 ** 63 - 1)
    if "dt" in recipe:
        _check_value(source, "dt", recipe["dt"], "num", 0, None, False)
    config = recipe.get("model_config", {})
    params, var_kw = _params(entry.builder)
    if not var_kw:
        _check_keys(source, "model_config", config, params)
    for key, value in config.items():
        if key in params:
            _check_by_default(source, f"model_config.{key}", value, params[key], counts=True)
    _check_task(source, recipe["task"], entry.task)
    _check_learning(source, recipe["learning"])
    if recipe.get("lava_fixed"):
        _check_keys(source, "lava_fixed", recipe["lava_fixed"], _lava_options(recipe["learning"]["rule"])[1])
        for key, value in recipe["lava_fixed"].items():
            _check_value(source, f"lava_fixed.{key}", value, "int", 0)


def _read_recipe(path: Path) -> str:
    try:
        st = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        raise ZooError(f"recipe {path} not found") from None
    except OSError as exc:
        raise ZooError(f"recipe {path}: cannot read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise ZooError(f"recipe {path}: is a directory, not a recipe file")
    if not stat.S_ISREG(st.st_mode):
        raise ZooError(f"recipe {path}: is not a regular file")
    if st.st_size > MAX_RECIPE_BYTES:
        raise ZooError(f"recipe {path}: {st.st_size} bytes; a recipe is at most {MAX_RECIPE_BYTES} bytes")
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_RECIPE_BYTES + 1)
    except OSError as exc:
        raise ZooError(f"recipe {path}: cannot read ({exc.strerror or exc})") from None
    if b"\0" in data:
        raise ZooError(f"recipe {path}: binary content (NUL byte at offset {data.index(0)}), not a TOML text file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ZooError(f"recipe {path}: not UTF-8 text (invalid byte at offset {exc.start})") from None


def load_recipe(path: str | Path) -> dict[str, Any]:
    """Read, parse and validate a recipe file (:func:`validate_recipe`); every problem is one
    :class:`ZooError` line naming the file (and the key)."""
    path = Path(path)
    text = _read_recipe(path)
    try:
        recipe = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ZooError(f"recipe {path}: invalid TOML ({' '.join(str(exc).split())})") from None
    except RecursionError:
        raise ZooError(f"recipe {path}: invalid TOML (nested too deeply)") from None
    validate_recipe(recipe, str(path))
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

    check_out_dir(out_dir, recipe.get("name"))
    source = f"recipe {recipe.get('_path', recipe.get('name'))}"
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
    with _rejected(source, "model_config", f"model {entry.name!r}"):
        model = entry.builder(**recipe.get("model_config", {})).to(dtype)
    learn = dict(recipe["learning"])
    rule, epochs, batch_size = learn.pop("rule"), int(learn.pop("epochs", 10)), int(learn.pop("batch_size", 64))
    train_samples = learn.pop("train_samples", None)  # optional: first N training samples (smoke runs)
    with _rejected(source, "task", f"task {task.name!r}"):
        inputs, targets = task.load("train", **task_cfg)
    if len(inputs) == 0:
        raise ZooError(f"{source}: task {task.name!r} has no training samples with these [task] parameters")
    if train_samples is not None:
        inputs, targets = inputs[:int(train_samples)], targets[:int(train_samples)]
    orders = data_orders(len(inputs), seed, epochs)
    t0 = time.time()
    if backend != "torch":
        from zoo.train_lava import train_plastic

        history, lava_info = train_plastic(recipe, backend, model, task, task_cfg, inputs, targets, orders,
                                           batch_size, learn, seed, evals_per_epoch, test_samples, log, progress)
        check_finite(model, source, "after training")
        return _write(recipe, out_dir, model, task, task_cfg, rule, epochs, batch_size, learn, train_samples, seed,
                      t0, history, par, {"lava": lava_info})
    with _rejected(source, "learning", f"learning rule {rule!r}"):
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
            # stop at the first evaluation with NaN/inf parameters (a spiking net's loss can stay finite)
            check_finite(model, source, f"at epoch {epoch + seen / len(order):.2f}", par)
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
    check_finite(model, source, "after training", par)
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
    name = recipe["name"]
    meta = {
        "name": name,
        "model": recipe["model"],
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
    return meta


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


@contextlib.contextmanager
def _rejected(source: str, table: str, who: str) -> Iterator[None]:
    """Turn the ValueError/TypeError/RuntimeError of a builder, task loader or learning rule refusing the
    recipe's parameters into one :class:`ZooError` line naming the recipe and the table."""
    try:
        yield
    except (ValueError, TypeError, RuntimeError) as exc:
        raise ZooError(f"{source}: [{table}] rejected by {who}: {' '.join(str(exc).split())}") from None
