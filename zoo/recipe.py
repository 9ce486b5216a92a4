"""Recipes: read, parse and validate a ``zoo train`` recipe (TOML) at the boundary.

A recipe names the model, its config, the task (and its data parameters), the learning rule and
its hyper-parameters, the seed and the numerical contract (dt, reset, encoding). Every problem is
one :class:`ZooError` line ``recipe PATH: KEY: problem`` (keys like ``learning.lr``): unknown keys
(with the closest known one), wrong types, non-finite or out-of-range numbers, names that are not
plain file names, binary or oversized files. The known ``[learning]`` keys come from the rule's and
its optimizer's own signatures, so a new rule's options are accepted without listing them here.
"""
from __future__ import annotations

import contextlib
import datetime
import difflib
import importlib
import inspect
import math
import re
import stat
from pathlib import Path
from typing import Any, Callable, Iterator

import torch

from zoo.registry import ZooError, get_entry

try:
    import tomllib  # type: ignore[import-not-found]
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

MAX_RECIPE_BYTES = 1 << 20
MAX_EPOCHS = 10_000  # every epoch's sample order is drawn before training (data_orders)
# recipe name -> output file names: a plain name, never a path (no separators, no leading dot)
_NAME_RE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}")
_TOP_KEYS = ("name", "model", "seed", "dt", "selection", "contract", "model_config", "task", "learning",
             "lava_fixed")
# how the recipe's hyper-parameters were chosen (rendered in the model card; see SELECTION_TEXT)
SELECTION = ("validation", "test", "unrecorded")
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
    if recipe.get("selection", "unrecorded") not in SELECTION:
        raise _fail(source, "selection", f"{_show(recipe['selection'])} must be one of {', '.join(SELECTION)}")
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


@contextlib.contextmanager
def rejected(source: str, table: str, who: str) -> Iterator[None]:
    """Turn the ValueError/TypeError/RuntimeError of a builder, task loader or learning rule refusing the
    recipe's parameters into one :class:`ZooError` line naming the recipe and the table."""
    try:
        yield
    except (ValueError, TypeError, RuntimeError) as exc:
        raise ZooError(f"{source}: [{table}] rejected by {who}: {' '.join(str(exc).split())}") from None
