"""Benchmarks: each group writes ``benchmarks/<group>/results/`` (``python -m benchmarks``)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable


def save_results(folder: Path, name: str, res: dict, plot: Callable[[dict, Path], None],
                 report: Callable[[dict], str]) -> None:
    """Write ``folder/NAME.json``, ``NAME.png`` and ``NAME.txt``; print the text report."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(res, indent=2) + "\n")
    plot(res, folder / f"{name}.png")
    text = report(res)
    (folder / f"{name}.txt").write_text(text + "\n")
    print(text)
