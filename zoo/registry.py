"""Model registry in the style of torchvision's multi-weight API.

A :class:`ModelEntry` couples a builder (``config -> nn.Module``) with its task and, when a
pretrained model ships, :class:`Weights` — data, not code: file, SHA-256, recipe, metrics, dt,
steps and encoding, read from ``zoo/weights/<name>.json`` (written by ``zoo train``).
"""
from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


class ZooError(Exception):
    """A user-facing error: one clear line, shown without a traceback by the CLI."""


@dataclass(frozen=True)
class Weights:
    """Pretrained weights as data (torchvision ``Weights`` convention)."""

    name: str
    file: str  # file name inside zoo/weights/
    sha256: str
    url: str | None
    recipe: str
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return WEIGHTS_DIR / self.file

    @property
    def metrics(self) -> dict[str, Any]:
        return self.meta.get("metrics", {})

    @property
    def config(self) -> dict[str, Any]:
        return self.meta.get("config", {})

    @classmethod
    def from_json(cls, path: Path) -> "Weights":
        data = json.loads(path.read_text())
        return cls(
            name=data["name"],
            file=data["file"],
            sha256=data["sha256"],
            url=data.get("url"),
            recipe=data["recipe"],
            meta=data.get("meta", {}),
        )


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

    @property
    def weights(self) -> Weights | None:
        meta = WEIGHTS_DIR / f"{self.name}.json"
        return Weights.from_json(meta) if meta.exists() else None


_REGISTRY: dict[str, ModelEntry] = {}


def register(entry: ModelEntry) -> ModelEntry:
    """Add ``entry``; names are unique."""
    if entry.name in _REGISTRY and _REGISTRY[entry.name] is not entry:
        raise ZooError(f"model {entry.name!r} is registered twice")
    _REGISTRY[entry.name] = entry
    return entry


def _load_all() -> None:
    import zoo.models  # noqa: F401  (modules register themselves on import)


def list_models() -> list[str]:
    """Names of all registered models, sorted."""
    _load_all()
    return sorted(_REGISTRY)


def get_entry(name: str) -> ModelEntry:
    """The registry entry for ``name``; unknown names suggest the closest match."""
    _load_all()
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ZooError(f"unknown model {name!r}{hint} (see `zoo list`)")
    return _REGISTRY[name]


def get_weights(name: str) -> Weights:
    """Pretrained weights of ``name`` (raises if none ship)."""
    weights = get_entry(name).weights
    if weights is None:
        raise ZooError(f"model {name!r} has no pretrained weights yet (train it: zoo train recipes/{name}.toml)")
    return weights


def get_model(name: str, weights: str | None = "DEFAULT", **config: Any) -> torch.nn.Module:
    """Build ``name``; with ``weights="DEFAULT"`` load the shipped, SHA-256-verified weights."""
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
        raise ZooError(f"weights file {w.path} of {name!r} is missing and has no url")
    model.load_state_dict(load_file(str(path)))
    model.eval()
    return model
