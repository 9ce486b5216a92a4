"""Files that ship beside the code: recipes and model cards.

In a source checkout they are the repository's ``recipes/`` and ``model_cards/``. In an installed
wheel they are package data, copied into ``zoo/_bundled/`` when the wheel is built (``setup.py``)
and reached through :mod:`importlib.resources`, so ``zoo train lif-digits`` and ``zoo info NAME``
work from any folder.
"""
from __future__ import annotations

import difflib
import importlib.resources
from pathlib import Path

from zoo.registry import ZooError

REPO = Path(__file__).resolve().parents[1]
KINDS = ("recipes", "model_cards")


def bundled_dir(kind: str) -> Path:
    """``recipes`` or ``model_cards``: the checkout's folder, else the wheel's package data."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if (REPO / "pyproject.toml").is_file() and (REPO / kind).is_dir():
        return REPO / kind
    return Path(str(importlib.resources.files("zoo") / "_bundled" / kind))


def recipe_names() -> list[str]:
    """Names of the shipped recipes (``zoo train NAME``)."""
    d = bundled_dir("recipes")
    return sorted(p.stem for p in d.glob("*.toml")) if d.is_dir() else []


def find_recipe(ref: str | Path) -> Path:
    """A recipe file: ``ref`` itself when it exists, else the shipped recipe named ``ref``
    (``lif-digits``, ``lif-digits.toml`` or ``recipes/lif-digits.toml``)."""
    p = Path(ref).expanduser()
    if p.exists():
        return p
    stem = p.name[:-5] if p.name.endswith(".toml") else p.name
    shipped = bundled_dir("recipes") / f"{stem}.toml"
    if (p.parent == Path(".") or p.parent.name == "recipes") and shipped.is_file():
        return shipped
    close = difflib.get_close_matches(stem, recipe_names(), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ZooError(f"recipe {ref} not found: not a file and not a shipped recipe{hint} "
                   f"(shipped: {', '.join(recipe_names()) or 'none'})")


def card_path(name: str) -> Path:
    """``model_cards/NAME.md`` (may not exist)."""
    return bundled_dir("model_cards") / f"{name}.md"
