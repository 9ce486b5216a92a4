"""``python -m benchmarks``: run every benchmark module (``make bench``).

Each module ``benchmarks/<group>/<name>.py`` with a ``main()`` prints its own table and writes
``benchmarks/<group>/results/``. ``python -m benchmarks lava stop`` runs only those groups.
"""
from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main(groups: list[str]) -> int:
    root = Path(__file__).resolve().parent
    failed = []
    for info in sorted(pkgutil.iter_modules([str(root)]), key=lambda i: i.name):
        if not info.ispkg or (groups and info.name not in groups):
            continue
        pkg = importlib.import_module(f"benchmarks.{info.name}")
        for mod in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
            module = importlib.import_module(f"benchmarks.{info.name}.{mod.name}")
            if not hasattr(module, "main") or mod.name.startswith("_"):
                continue
            print(f"\n== benchmarks.{info.name}.{mod.name}", flush=True)
            argv, sys.argv = sys.argv, [module.__name__]
            try:
                module.main()
            except SystemExit as exc:
                if exc.code:
                    failed.append(module.__name__)
            except Exception as exc:  # report and continue with the other benchmarks
                print(f"benchmark {module.__name__} failed: {type(exc).__name__}: {exc}")
                failed.append(module.__name__)
            finally:
                sys.argv = argv
    if failed:
        print("failed:", ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
