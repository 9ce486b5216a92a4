"""README table of the spoken-digit (FSDD) models, from their measured card results.

    python -m benchmarks.fsdd.table          # prints the markdown table; --write updates README.md

The table itself is :func:`zoo.fsdd_table.table` (every number from
``model_cards/results/NAME.json``, written by ``zoo eval NAME --save``)."""
from __future__ import annotations

import argparse
import re
from pathlib import Path

from zoo.fsdd_table import BEGIN, END, table

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="replace the table between the markers in README.md")
    args = ap.parse_args()
    text = table()
    if args.write:
        readme = ROOT / "README.md"
        src = readme.read_text()
        new = re.sub(f"{re.escape(BEGIN)}.*?{re.escape(END)}", f"{BEGIN}\n{text}\n{END}", src, flags=re.S)
        if new == src and BEGIN not in src:
            raise SystemExit(f"README.md has no {BEGIN} marker")
        readme.write_text(new)
    print(text)


if __name__ == "__main__":
    main()
