"""The guards of ``tests/conftest.py`` (stop Lava runtimes a test left behind, the FSDD
stand-in, ``ZOO_THREADS``) for the benchmark checks too, and ``tests/`` on ``sys.path`` for its
helper modules (``nir_graphs``)."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[2] / "tests"
sys.path.insert(0, str(TESTS))

_spec = importlib.util.spec_from_file_location("zoo_tests_conftest", TESTS / "conftest.py")
_guards = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_guards)

_stop_leftover_lava_runtimes = _guards._stop_leftover_lava_runtimes
_fsdd_stand_in = _guards._fsdd_stand_in
pytest_sessionfinish = _guards.pytest_sessionfinish
