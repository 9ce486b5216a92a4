"""`import zoo` is light: the numerics, the registries and a neuron descriptor load without torch
(zoo/__init__.py resolves its public names on first use)."""
from __future__ import annotations

import subprocess
import sys


def test_descriptors_load_without_torch():
    code = ("import sys, zoo, zoo.numerics, zoo.registries, zoo.neurons.descriptor, zoo.neurons.rf; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_public_names_still_resolve():
    import zoo

    assert zoo.get_task("digits").name == "digits"
    assert issubclass(zoo.ZooError, Exception)
    assert zoo.tasks.get_task is zoo.get_task
    assert set(zoo.__all__) <= set(dir(zoo))
