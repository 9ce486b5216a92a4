"""Distributed training / sharded evaluation benchmarks (see docs/distributed.md)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

RESULTS = Path(__file__).resolve().parent / "results"


def save_results(name: str, res: dict, plot: Callable[[dict, Path], None], report: Callable[[dict], str]) -> None:
    """Write ``results/NAME.json``, ``NAME.png`` and ``NAME.txt``; print the text report."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(res, indent=2) + "\n")
    plot(res, RESULTS / f"{name}.png")
    text = report(res)
    (RESULTS / f"{name}.txt").write_text(text + "\n")
    print(text)
