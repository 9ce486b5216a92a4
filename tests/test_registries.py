"""The one generic registry (zoo.registries.Registry) and the registries built on it."""
from __future__ import annotations

import pytest

from zoo.registries import Registry
from zoo.registry import ZooError


def test_register_get_names_and_closest_name():
    reg: Registry[int] = Registry("neuron", ZooError, see="see `zoo neurons`")
    assert reg.register("brf", 1) == 1
    reg.register("se_adlif", 2)
    assert reg.get("brf") == 1 and reg["se_adlif"] == 2 and reg.names() == ["brf", "se_adlif"]
    assert "brf" in reg and len(reg) == 2 and list(reg) == ["brf", "se_adlif"]
    with pytest.raises(ZooError, match=r"^unknown neuron 'se_adlf'; did you mean 'se_adlif'\? \(see `zoo neurons`\)$"):
        reg.get("se_adlf")
    with pytest.raises(ZooError, match=r"unknown neuron 'xyz'; known: brf, se_adlif"):
        reg.get("xyz")


def test_a_name_is_registered_once_unless_replaced():
    reg: Registry[object] = Registry("task", ZooError)
    a, b = object(), object()
    reg.register("x", a)
    reg.register("x", a)  # the same object again: fine (a module imported twice)
    with pytest.raises(ZooError, match="task 'x' is registered twice"):
        reg.register("x", b)
    reg.register("x", b, replace=True)
    assert reg.get("x") is b
    saved = reg.snapshot()
    reg.register("y", a)
    reg.restore(saved)
    assert reg.names() == ["x"]


def test_loader_runs_once_before_the_first_lookup():
    calls = []
    reg: Registry[int] = Registry("model", loader=lambda: calls.append(1) or reg.register("m", 3))
    assert calls == [] and reg.get("m") == 3 and reg.names() == ["m"] and calls == [1]
    with pytest.raises(LookupError):
        reg.get("n")


def test_the_zoo_registries_share_the_mechanism():
    from exporters.nir.export import graph_exporters
    from exporters.nir.io import NIRError
    from zoo.datasets import DATASETS
    from zoo.learning import LEARNERS
    from zoo.registry import MODELS
    from zoo.tasks import TASKS, get_task

    get_task("digits")  # discovery of the task modules
    for reg in (MODELS, TASKS, DATASETS, LEARNERS, graph_exporters()):
        assert isinstance(reg, Registry) and reg.names()
    assert {"RecurrentSNN", "STOPNet", "STARRSNN", "GammaNet"} <= set(graph_exporters().names())
    with pytest.raises(ZooError, match="unknown learning rule 'bpt'; did you mean 'bptt'"):
        LEARNERS.get("bpt")
    with pytest.raises(ZooError, match="unknown data set 'fsd'; did you mean 'fsdd'.*zoo data list"):
        DATASETS.get("fsd")
    with pytest.raises(NIRError, match="unknown NIR graph exporter"):
        graph_exporters().get("Nope")
