"""NIR -> RecurrentSNN import (exporters/nir/zoo_models_hypr.py ``_import_hypr``): every shipped
HYPR / e-prop model's export loads back into a freshly built model with the weights bit for bit
and the forward (effective) parameters bit for bit; raw parameters come back exactly where the
export is invertible (a raw value outside its clamp or of negative sign comes back as the clamp
value / its absolute value); the e-prop plastic layers built from the imported model hold the same
arrays; a descriptor neuron (rf) round-trips through the generic inverse; bad graphs are refused
naming node and field."""
from __future__ import annotations

import copy

import nir
import numpy as np
import pytest
import torch

from exporters.lava.plastic.rules import plastic_layers
from exporters.nir.export import to_nir
from exporters.nir.io import NIRError
from exporters.nir.model_import import load_from_nir
from zoo.models.hypr import RecurrentSNN
from zoo.registry import get_entry, get_model, get_weights, shipped_models
from zoo.train import load_recipe, recipe_parts

RECIPE = "recipes/eprop-alif-rowdigits.toml"
WEIGHTS = ("w_in", "w_rec", "w_out", "b_out")


def _shipped() -> list[str]:
    return [n for n in shipped_models() if isinstance(get_entry(n).builder(**get_weights(n).config), RecurrentSNN)]


def _fresh(name: str) -> RecurrentSNN:
    return get_entry(name).builder(**get_weights(name).config)


def _round_trip(name: str) -> tuple[RecurrentSNN, RecurrentSNN]:
    model = get_model(name)
    return model, load_from_nir(_fresh(name), to_nir(model, float(get_weights(name).meta["dt"])), name)


def _domain(model: RecurrentSNN, key: str, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(raw values inside the invertible domain, what the others come back as)."""
    name = key.split(".")[-1]
    ranges = getattr(model.cell, "ranges", {})
    if name in ranges:
        lo, hi = ranges[name]
        return (raw >= lo) & (raw <= hi), np.clip(raw, lo, hi)
    return raw >= 0, np.abs(raw)  # tau_out, BRF omega / b_offset: effective value |raw|


def test_every_shipped_hypr_model_is_found():
    names = _shipped()
    assert {"eprop-alif-rowdigits", "hypr-brf-ecg", "hypr-seadlif-ecg"} <= set(names)


@pytest.mark.parametrize("name", _shipped())
def test_shipped_model_round_trips(name):
    model, back = _round_trip(name)
    state, got = model.state_dict(), back.state_dict()
    for k in WEIGHTS:
        assert torch.equal(state[k], got[k]), k
    assert torch.equal(model.kappa(), back.kappa())
    for a, b in zip(model.cell.effective(), back.cell.effective()):
        assert torch.equal(a, b)
    for k in ["tau_out"] + [k for k in state if k.startswith("cell.")]:
        raw, imp = state[k].numpy(), got[k].numpy()
        inside, clamped = _domain(model, k, raw)
        assert np.all(_domain(model, k, imp)[0]), f"{k}: imported raw value outside its domain"
        assert np.array_equal(imp[~inside], clamped[~inside].astype(imp.dtype)), k
        if not k.startswith("cell.tau") and k != "tau_out":  # identity / abs maps: exact inside the domain
            assert np.array_equal(imp[inside], raw[inside]), k


@pytest.mark.parametrize("fixed", [False, True], ids=["float", "fixed"])
@pytest.mark.parametrize("which", ["initial", "shipped"])
def test_eprop_plastic_layers_from_the_import(which, fixed):
    recipe = load_recipe(RECIPE)
    torch.manual_seed(int(recipe["seed"]))
    model = recipe_parts(recipe)[3] if which == "initial" else get_model(recipe["model"])
    back = load_from_nir(copy.deepcopy(model), to_nir(model, float(recipe["dt"])))
    learn = {k: v for k, v in recipe["learning"].items() if k not in ("rule", "epochs", "batch_size")}
    learn["label_steps"] = 6
    args = ("eprop", 9, learn, fixed, int(recipe["seed"]), recipe.get("lava_fixed"))
    want, got = plastic_layers(args[0], model, *args[1:]), plastic_layers(args[0], back, *args[1:])
    for a, b in zip(want, got):
        wa, ga = a.arrays(), b.arrays()
        assert wa.keys() == ga.keys()
        for k in wa:
            assert wa[k].dtype == ga[k].dtype and np.array_equal(wa[k], ga[k]), k
        if fixed and hasattr(a, "c"):  # the integer coefficients the fixed-point layer runs on
            assert all(np.array_equal(a.c[k], b.c[k]) for k in a.c)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_rf_descriptor_neuron_round_trips(dtype):
    torch.manual_seed(0)
    model = RecurrentSNN(5, 12, 3, neuron="rf").to(dtype)
    with torch.no_grad():
        model.cell.omega[:3] *= -1  # raw sign is lost: effective |omega|
    back = load_from_nir(RecurrentSNN(5, 12, 3, neuron="rf").to(dtype), to_nir(model, 1e-3))
    assert torch.equal(back.cell.omega, model.cell.omega.abs())
    tau, got = model.cell.tau.detach().double().numpy(), back.cell.tau.detach().double().numpy()
    if dtype == torch.float32:  # the subgraph's damping -1/tau is injective on float32 values ...
        assert np.array_equal(got, tau)
    else:  # ... not on float64 ones: tau comes back exactly unless another float64 has the same -1/tau
        assert np.array_equal(-1.0 / got, -1.0 / tau) and np.all(np.abs(got - tau) <= 2 * np.spacing(tau))


def _graph(neuron: str = "alif", **cfg) -> tuple[RecurrentSNN, nir.NIRGraph]:
    torch.manual_seed(1)
    model = RecurrentSNN(3, 6, 2, neuron=neuron, neuron_config=cfg or None)
    return model, to_nir(model, 1e-3 if neuron == "rf" else 0.01 if neuron == "brf" else 1.0)


def _bad(graph: nir.NIRGraph, path: str, field: str, value) -> nir.NIRGraph:
    graph = copy.deepcopy(graph)
    *subs, last = path.split(".")
    node = graph
    for s in subs:
        node = node.nodes[s]
    setattr(node.nodes[last], field, value)
    return graph


@pytest.mark.parametrize("neuron,path,field,value,match", [
    ("alif", "li", "tau", np.array([0.5, 2.0]), r"node li: tau must be finite and >= dt"),
    ("alif", "w_in", "weight", np.zeros((3, 6)), r"node w_in: weight has shape \(3, 6\)"),
    ("alif", "cell.lif", "v_threshold", np.linspace(1, 2, 6), r"node cell.lif: v_threshold must be 1.0"),
    ("alif", "cell.lif", "tau", np.full(6, 1e6), r"node cell.lif: no float32 decay writes tau exactly"),
    ("alif", "cell.lif", "tau", np.full(6, 1 / (1 - np.float64(np.float32(np.exp(-1 / 100))))),
     r"node cell: tau_m: no value gives .* clamp"),  # exactly a float32 decay, of tau_m = 100 > 25 (clamp)
    ("seadlif", "cell.adaptation", "r", np.full(6, 7.0), r"node cell.adaptation: r must be 120.0"),
    ("brf", "cell.spike", "threshold", np.full(6, 2.0), r"node cell.spike: threshold must be 1.0"),
    ("rf", "cell.spike", "threshold", np.full(6, 2.0), r"node 'cell': rf theta is \[2.0\]"),
])
def test_bad_graphs_name_node_and_field(neuron, path, field, value, match):
    model, graph = _graph(neuron)
    with pytest.raises(NIRError, match=match):
        load_from_nir(copy.deepcopy(model), _bad(graph, path, field, value))


def test_wrong_neuron_and_missing_node_and_dt():
    model, graph = _graph("alif")
    _, brf_graph = _graph("brf")
    with pytest.raises(NIRError, match=r"node cell: a 'brf' extension; .* neuron 'alif' exports 'alif'"):
        load_from_nir(copy.deepcopy(model), brf_graph)
    del graph.nodes["li"]
    with pytest.raises(NIRError, match=r"node 'li': expected a LI, found no such node"):
        load_from_nir(copy.deepcopy(model), graph)
    brf_model = _graph("brf")[0]
    brf_graph.metadata["dt"] = 0.02
    with pytest.raises(NIRError, match=r"node cell: the graph's dt = 0.02; the BRF cell's Euler step is dt = 0.01"):
        load_from_nir(copy.deepcopy(brf_model), brf_graph)
