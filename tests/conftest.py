"""Test-suite guards: never hang on a Lava runtime a test forgot to stop."""
from __future__ import annotations

import multiprocessing
import os

import pytest

os.environ.setdefault("ZOO_THREADS", "2")


@pytest.fixture(autouse=True)
def _stop_leftover_lava_runtimes():
    """After each test, terminate child processes a Lava runtime left behind (they are not
    daemons: a forgotten ``stop()`` keeps pytest alive forever after "passed")."""
    yield
    for child in multiprocessing.active_children():
        child.terminate()
        child.join(timeout=5)
        if child.is_alive():
            child.kill()


def pytest_sessionfinish(session, exitstatus):
    for child in multiprocessing.active_children():
        child.kill()
