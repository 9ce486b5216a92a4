"""Layering rules of docs/architecture.md, read from the source with ``ast`` (function-level
imports count): no import cycle between modules of ``zoo/`` and ``exporters/``, ``exporters``
never imports a ``zoo`` application module, the ``zoo`` core never imports ``exporters`` or the
application, no source file there is over 400 lines, and tests do not import ``benchmarks``.

Where a rule fails because of modules under migration, list them in a ``KNOWN_*`` set and mark
the strict sub-check ``xfail(strict=True)`` naming them (so it flips to a failure the day they
are fixed and the mark must go); a second check keeps the known violations from growing. None
are left today.

``python tests/test_architecture.py`` prints the numbers.
"""
from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("zoo", "exporters")
MAX_LINES = 400

# application layer (pipeline, CLI, cards, plots, distributed training and evaluation, training driver)
APP = {"zoo.cli", "zoo.card", "zoo.plots", "zoo.evaluate", "zoo.distributed", "zoo.launch", "zoo.workers",
       "zoo.shards", "zoo.pipeline", "zoo.train", "zoo.train_lava", "zoo.claims", "zoo.baselines", "zoo.conformance",
       "zoo.nir_interop", "zoo.nir_tools", "zoo.hardware", "zoo.recipe", "zoo.metrics", "zoo.argtypes",
       "zoo.fsdd_table", "zoo.__main__"}
# stdlib-only download and cache of weights and data sets: used by the core's registry and data
# sets, never by the exporters
INFRA = {"zoo.hub", "zoo.transfer"}
# core layer: neurons, numerics, models, learning rules, tasks and the registry (torch, no Lava)
CORE_PREFIXES = ("zoo.neurons", "zoo.models", "zoo.learning", "zoo.tasks", "zoo.numerics", "zoo.registry",
                 "zoo.registries", "zoo.resources", "zoo.stats", "zoo.progress", "zoo.cache", "zoo.datasets")

# Violations that remain in modules being migrated (issue 18; empty today). Each list is exact:
# an xfail(strict) check fails once its list is empty, the "no new" checks fail if they grow.
KNOWN_CYCLE_MODULES: set[str] = set()
KNOWN_CORE_UPWARD: set[tuple[str, str]] = set()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@lru_cache(maxsize=None)
def _sources() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def _imported(path: Path, package: str, modules: set[str] | None = None) -> set[str]:
    """Absolute names of every module ``path`` imports (any depth in the file), relative
    imports resolved against ``package``. ``from a.b import c`` is an import of ``a.b.c`` when
    that is one of ``modules`` (a submodule), else of ``a.b``; a package's ``__init__`` run on
    the way to a submodule is not counted (as for ``import a.b.c``)."""
    modules = modules or set()
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            subs = {f"{base}.{a.name}" for a in node.names}
            names.update(subs & modules if subs <= modules else subs | {base})
    return names


@lru_cache(maxsize=None)
def import_graph() -> dict[str, set[str]]:
    """module -> the modules of zoo/ and exporters/ it imports (``from a.b import c`` counts as
    an import of ``a.b``, and of ``a.b.c`` when that is a module; a package's ``__init__`` is
    a module of its own)."""
    mods = _sources()
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        graph[name] = {m for m in _imported(path, package, set(mods)) if m in mods and m != name}
    return graph


def cycles(graph: dict[str, set[str]] | None = None) -> list[set[str]]:
    """Strongly connected components with more than one module (Tarjan) of ``graph`` (default:
    :func:`import_graph`)."""
    graph = import_graph() if graph is None else graph
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _is_app(mod: str) -> bool:
    return mod in APP


def _is_infra(mod: str) -> bool:
    return mod in INFRA


def _is_core(mod: str) -> bool:
    return any(mod == p or mod.startswith(p + ".") for p in CORE_PREFIXES)


def upward_imports() -> list[tuple[str, str]]:
    """(importer, imported) pairs pointing up a layer: exporters -> zoo application (or the
    download infrastructure), zoo core -> exporters or zoo application."""
    bad = []
    for mod, deps in import_graph().items():
        for d in sorted(deps):
            if mod.startswith("exporters") and (_is_app(d) or _is_infra(d)):
                bad.append((mod, d))
            elif _is_core(mod) and (d.startswith("exporters") or _is_app(d)):
                bad.append((mod, d.split(".")[0] if d.startswith("exporters") else d))
    return sorted(set(bad))


def exporters_to_zoo() -> list[tuple[str, str]]:
    """Every import from exporters into zoo (allowed only into the core; listed for reports)."""
    return sorted((m, d) for m, deps in import_graph().items() if m.startswith("exporters")
                  for d in deps if d.startswith("zoo"))


def long_files() -> dict[str, int]:
    out = {}
    for path in _sources().values():
        n = len(path.read_text().splitlines())
        if n > MAX_LINES:
            out[str(path.relative_to(ROOT))] = n
    return out


def tests_importing_benchmarks() -> set[str]:
    return {str(p.relative_to(ROOT)) for p in sorted((ROOT / "tests").glob("*.py"))
            if any(m == "benchmarks" or m.startswith("benchmarks.") for m in _imported(p, "tests"))}


# --- checks -------------------------------------------------------------------------------------

def test_scanner_sees_function_level_imports_and_cycles(tmp_path):
    """The scanner itself: an import inside a function counts, and a two-module loop is a cycle."""
    p = tmp_path / "m.py"
    p.write_text("def f():\n    from zoo.card import x\n    from . import digits\n")
    assert {"zoo.card", "zoo.tasks.digits"} <= _imported(p, "zoo.tasks")
    assert _imported(p, "zoo.tasks", {"zoo.tasks.digits"}) >= {"zoo.tasks.digits"}
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_new_import_cycles():
    """Every cycle left lies inside the modules still being migrated."""
    extra = [sorted(c - KNOWN_CYCLE_MODULES) for c in cycles() if not c <= KNOWN_CYCLE_MODULES]
    assert not extra, f"import cycles outside the known ones: {extra}"


def test_no_import_cycles():
    assert cycles() == []


def test_exporters_do_not_import_the_zoo_application():
    bad = [(m, d) for m, d in upward_imports() if m.startswith("exporters")]
    assert not bad, f"exporters importing zoo application modules: {bad}"


def test_no_new_upward_imports_from_the_core():
    bad = [(m, d) for m, d in upward_imports() if not m.startswith("exporters") and (m, d) not in KNOWN_CORE_UPWARD]
    assert not bad, f"zoo core importing exporters or the application: {bad}"


def test_core_imports_nothing_above_it():
    assert [p for p in upward_imports() if not p[0].startswith("exporters")] == []


def test_no_file_over_400_lines():
    assert long_files() == {}, f"source files over {MAX_LINES} lines"


def test_tests_do_not_import_benchmarks():
    """Library logic a test needs lives in the packages; checks of a benchmark script live in
    ``benchmarks/tests/`` (collected by the default run, ``testpaths``)."""
    assert tests_importing_benchmarks() == set()


if __name__ == "__main__":
    cyc = cycles()
    print(f"modules scanned: {len(import_graph())}")
    print(f"import cycles: {len(cyc)}")
    for c in cyc:
        print("  ", sorted(c))
    up = upward_imports()
    print(f"upward imports: {len(up)}")
    for m, d in up:
        print(f"   {m} -> {d}")
    ez = exporters_to_zoo()
    print(f"exporters -> zoo (any module): {len(ez)}")
    for m, d in ez:
        print(f"   {m} -> {d}")
    lf = long_files()
    print(f"files over {MAX_LINES} lines: {len(lf)}")
    for f, n in sorted(lf.items()):
        print(f"   {f}: {n}")
    tb = tests_importing_benchmarks()
    print(f"tests importing benchmarks: {len(tb)}", sorted(tb))
