"""Model registry in the style of torchvision's multi-weight API.

A :class:`ModelEntry` couples a builder (``config -> nn.Module``) with its task and, when a
pretrained model exists, :class:`Weights` — data, not code: file, SHA-256, recipe, metrics, dt,
steps and encoding, read from ``<name>.json`` (written by ``zoo train``). Weights are searched in
the package (``zoo/weights``, shipped), then in ``$ZOO_HOME/weights`` (:func:`user_weights_dir`);
a record whose file is absent but names a ``url`` is fetched into the verified cache. A model
reference may also be a path: ``runs/NAME`` (a ``zoo train --out`` folder), ``NAME.safetensors``
or ``NAME.json`` — a user's trained weights with their metadata.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import torch

from zoo.registries import Registry

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
WEIGHT_SUFFIXES = (".safetensors", ".json")


def user_weights_dir() -> Path:
    """``$ZOO_HOME/weights`` (default ``~/.cache/lava-nir-zoo/weights``): searched after the
    shipped weights."""
    from zoo.hub import cache_dir

    return cache_dir() / "weights"


class ZooError(Exception):
    """A user-facing error: one clear line, shown without a traceback by the CLI."""


@dataclass(frozen=True)
class Weights:
    """Pretrained weights as data (torchvision ``Weights`` convention)."""

    name: str
    file: str  # file name inside ``root``
    sha256: str
    url: str | None
    recipe: str
    meta: dict[str, Any] = field(default_factory=dict)
    model: str | None = None  # registered builder; None: same as ``name``
    root: Path = WEIGHTS_DIR  # folder of the JSON record and (normally) of the weights file

    @property
    def path(self) -> Path:
        return self.root / self.file

    @property
    def builder_name(self) -> str:
        return self.model or self.name

    @property
    def metrics(self) -> dict[str, Any]:
        return self.meta.get("metrics", {})

    @property
    def config(self) -> dict[str, Any]:
        return self.meta.get("config", {})

    @classmethod
    def from_json(cls, path: Path) -> "Weights":
        """Read a weights record; a malformed one raises one :class:`ZooError` line naming the
        file and the key."""
        path = Path(path)
        try:
            data = json.loads(path.read_bytes().decode("utf-8"))
        except OSError as exc:
            raise ZooError(f"weights record {path}: cannot read ({exc.strerror or exc})") from None
        except UnicodeDecodeError as exc:
            raise ZooError(f"weights record {path}: not UTF-8 text (invalid byte at offset {exc.start})") from None
        except json.JSONDecodeError as exc:
            raise ZooError(f"weights record {path}: invalid JSON ({exc.msg} at line {exc.lineno} "
                           f"column {exc.colno})") from None
        except RecursionError:
            raise ZooError(f"weights record {path}: invalid JSON (nested too deeply)") from None
        if not isinstance(data, dict):
            raise ZooError(f"weights record {path}: must be a JSON object, not {type(data).__name__}")
        for key, kinds in _RECORD_KEYS.items():
            if key not in data and type(None) not in kinds:
                raise ZooError(f"weights record {path}: missing required key {key!r}")
            value = data.get(key)
            if not isinstance(value, kinds) or isinstance(value, bool):
                want = " or ".join("null" if k is type(None) else {"str": "a string", "dict": "an object"}[k.__name__]
                                   for k in kinds)
                raise ZooError(f"weights record {path}: {key} = {_show(value)} must be {want}")
        file, sha = data["file"], data["sha256"]
        if not file or file in (".", "..") or "/" in file or "\\" in file:
            raise ZooError(f"weights record {path}: file = {_show(file)} must be a plain file name")
        if len(sha) != 64 or any(c not in "0123456789abcdefABCDEF" for c in sha):
            raise ZooError(f"weights record {path}: sha256 = {_show(sha)} must be 64 hex digits")
        meta = data.get("meta") or {}
        for key in ("metrics", "config"):
            if not isinstance(meta.get(key, {}), dict):
                raise ZooError(f"weights record {path}: meta.{key} = {_show(meta[key])} must be an object")
        return cls(
            name=data["name"],
            file=file,
            sha256=sha,
            url=data.get("url"),
            recipe=data["recipe"],
            meta=meta,
            model=data.get("model"),
            root=path.parent,
        )


# weights record key -> accepted JSON types (NoneType: optional, may be null)
_RECORD_KEYS: dict[str, tuple[type, ...]] = {
    "name": (str,), "file": (str,), "sha256": (str,), "url": (str, type(None)), "recipe": (str,),
    "meta": (dict, type(None)), "model": (str, type(None)),
}


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass(frozen=True)
class ModelEntry:
    """One registered model: how to build it, what it is evaluated on."""

    name: str
    paper: str
    task: str  # name in zoo.tasks.TASKS
    metric: str
    higher_is_better: bool
    builder: Callable[..., torch.nn.Module]
    description: str = ""
    user_weights: Weights | None = None  # set for a path reference (a user's trained weights)

    @property
    def weights(self) -> Weights | None:
        if self.user_weights is not None:
            return self.user_weights
        for folder in (WEIGHTS_DIR, user_weights_dir()):
            meta = folder / f"{self.name}.json"
            if meta.is_file():
                return Weights.from_json(meta)
        return None


def _load_all() -> None:
    import zoo.models  # noqa: F401  (modules register themselves on import)


MODELS: Registry[ModelEntry] = Registry("model", ZooError, see="see `zoo list`", loader=_load_all)


def register(entry: ModelEntry) -> ModelEntry:
    """Add ``entry``; names are unique."""
    return MODELS.register(entry.name, entry)


def list_models() -> list[str]:
    """Names of all registered models, sorted."""
    return MODELS.names()


def shipped_models() -> list[str]:
    """Registered models with pretrained weights (shipped or in ``$ZOO_HOME/weights``)."""
    return [n for n in list_models() if get_entry(n).weights is not None]


def is_path_ref(ref: str) -> bool:
    """A model reference that names files (``runs/NAME``, ``NAME.safetensors``, ``NAME.json``)
    rather than a registered name."""
    ref = str(ref)
    return "/" in ref or os.sep in ref or ref.endswith(WEIGHT_SUFFIXES)


def weights_record(ref: str | Path) -> Path:
    """The JSON record of a path reference: ``X.json``; ``X.safetensors`` -> ``X.json`` beside
    it; a folder -> its single ``*.json`` weights record (or ``<folder name>.json``)."""
    p = Path(ref).expanduser()
    if p.is_dir():
        named = p / f"{p.name}.json"
        records = [named] if named.is_file() else sorted(p.glob("*.json"))
        if len(records) != 1:
            what = "no" if not records else f"{len(records)}"
            raise ZooError(f"{p}: {what} weights records (*.json) in the folder; name the .safetensors file")
        return records[0]
    if p.suffix == ".safetensors":
        p = p.with_suffix(".json")
    elif p.suffix != ".json":
        raise ZooError(f"{ref}: not a folder, .safetensors or .json weights file")
    if not p.is_file():
        raise ZooError(f"{p}: weights record not found (zoo train writes NAME.safetensors and NAME.json together)")
    return p


def _user_entry(ref: str) -> ModelEntry:
    w = Weights.from_json(weights_record(ref))
    base = get_entry(w.builder_name)
    return replace(base, name=str(ref), user_weights=w)


def get_entry(name: str) -> ModelEntry:
    """The registry entry for ``name`` (a registered name or a path reference, see
    :func:`is_path_ref`); unknown names suggest the closest match."""
    if name not in MODELS and is_path_ref(name):
        return _user_entry(name)
    return MODELS.get(name)


def get_weights(name: str) -> Weights:
    """Pretrained weights of ``name`` (raises if none ship)."""
    weights = get_entry(name).weights
    if weights is None:
        raise ZooError(f"model {name!r} has no pretrained weights yet (train it: zoo train {name})")
    return weights


def get_model(name: str, weights: str | None = "DEFAULT", **config: Any) -> torch.nn.Module:
    """Build ``name`` (registered name or path reference); with ``weights="DEFAULT"`` load its
    SHA-256-verified weights (shipped, ``$ZOO_HOME/weights``, the user's path, or fetched)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from zoo.hub import fetch, verify

    entry = get_entry(name)
    if weights is None:
        return entry.builder(**config)
    if weights != "DEFAULT":
        raise ZooError(f"weights must be 'DEFAULT' or None, got {weights!r}")
    w = get_weights(name)
    model = entry.builder(**{**w.config, **config})
    if w.path.exists():
        path = verify(w.path, w.sha256)
    elif w.url:
        path = fetch(w.url, w.sha256, w.file)
    else:
        raise ZooError(f"weights file {w.path} of {name!r} is missing and its record has no url")
    try:  # a file whose hash matches can still be truncated or hold other tensors
        state = load_file(str(path))
        model.load_state_dict(state)
    except (SafetensorError, RuntimeError, ValueError, TypeError, KeyError, OSError) as exc:
        raise ZooError(f"weights file {path}: cannot load ({' '.join(str(exc).split())[:300]})") from None
    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise ZooError(f"weights file {path}: tensor {bad[0]!r} has non-finite values (NaN or inf)")
    model.eval()
    return model
