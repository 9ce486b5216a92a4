"""Distributed training / sharded evaluation benchmarks (see docs/distributed.md)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from benchmarks import save_results as _save

RESULTS = Path(__file__).resolve().parent / "results"


def save_results(name: str, res: dict, plot: Callable[[dict, Path], None], report: Callable[[dict], str]) -> None:
    """Write ``results/NAME.json``, ``NAME.png`` and ``NAME.txt``; print the text report."""
    _save(RESULTS, name, res, plot, report)
