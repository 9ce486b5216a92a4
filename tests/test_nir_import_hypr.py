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


@pytest.mark.parametrize("name", _shipped())
def test_own_export_into_a_copy_is_the_identity(name):
    """Ties between raw values with the same forward go to the template's own value."""
    model = get_model(name)
    back = load_from_nir(copy.deepcopy(model), to_nir(model, float(get_weights(name).meta["dt"])), name)
    for k, v in model.state_dict().items():
        assert torch.equal(v, back.state_dict()[k]), k


def _recipe_model(recipe: dict, which: str) -> RecurrentSNN:
    torch.manual_seed(int(recipe["seed"]))  # as zoo.train builds the initial model
    return recipe_parts(recipe)[3] if which == "initial" else get_model(recipe["model"])


def _layers(model: RecurrentSNN, recipe: dict, fixed: bool) -> list:
    learn = {k: v for k, v in recipe["learning"].items() if k not in ("rule", "epochs", "batch_size")}
    return plastic_layers("eprop", model, 9, {**learn, "label_steps": 6}, fixed, int(recipe["seed"]),
                          recipe.get("lava_fixed"))


def _internals(layer) -> dict[str, np.ndarray]:
    """arrays() and every derived coefficient a layer runs on (decays, cell values, integer coefficients)."""
    out = {f"arrays.{k}": np.asarray(v) for k, v in layer.arrays().items()}
    for k in ("kappa", "kpow"):
        if hasattr(layer, k):
            out[k] = np.asarray(getattr(layer, k))
    out.update({f"c.{k}": np.asarray(v) for k, v in getattr(layer, "c", {}).items()})
    if hasattr(layer, "cell"):
        out.update({f"effective.{i}": t.detach().numpy() for i, t in enumerate(layer.cell.effective())})
    return out


def _layer_diff(src: RecurrentSNN, got: RecurrentSNN, recipe: dict, fixed: bool) -> tuple[list[str], list[str]]:
    """(differing arrays(), differing other internals) of the e-prop layers built from src and got."""
    bad = [f"{type(a).__name__}.{k}" for a, b in zip(_layers(src, recipe, fixed), _layers(got, recipe, fixed))
           for k, v in _internals(a).items() if not (v.dtype == _internals(b)[k].dtype
                                                     and np.array_equal(v, _internals(b)[k]))]
    return [k for k in bad if ".arrays." in k], [k for k in bad if ".arrays." not in k]


@pytest.mark.parametrize("fixed", [False, True], ids=["float", "fixed"])
@pytest.mark.parametrize("which", ["initial", "shipped"])
def test_eprop_plastic_layers_from_the_import(which, fixed):
    """Into the template zoo.train builds (recipe builder, recipe seed): the layers are identical in
    arrays() and in every derived coefficient, float and fixed. (The recipe trains no time
    constant, so the shipped model's tau_out, tau_m, tau_adp are the template's: ties go to them.)"""
    recipe = load_recipe(RECIPE)
    model = _recipe_model(recipe, which)
    back = load_from_nir(_recipe_model(recipe, "initial"), to_nir(model, float(recipe["dt"])))
    assert _layer_diff(model, back, recipe, fixed) == ([], [])


@pytest.mark.parametrize("fixed", [False, True], ids=["float", "fixed"])
def test_eprop_plastic_layers_from_a_fresh_template(fixed):
    """Into a template with other random time constants: arrays() and the fixed-point integer
    coefficients identical; the float layers' float64 decays, recomputed from the raw float32
    parameters, may differ in the last float32 bit (the graph holds float32 decays only)."""
    recipe = load_recipe(RECIPE)
    model = _recipe_model(recipe, "shipped")
    torch.manual_seed(int(recipe["seed"]) + 1)
    back = load_from_nir(recipe_parts(recipe)[3], to_nir(model, float(recipe["dt"])))
    arrays, other = _layer_diff(model, back, recipe, fixed)
    assert arrays == [] and [k for k in other if ".c." in k] == []


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
    ("alif", "li", "tau", np.array([0.5, 2.0]), r"node 'li': field tau must be finite and >= dt"),
    ("alif", "w_in", "weight", np.zeros((3, 6)), r"node 'w_in': field weight has shape \(3, 6\)"),
    ("alif", "cell.lif", "v_threshold", np.linspace(1, 2, 6), r"node cell.lif: v_threshold must be 1.0"),
    ("alif", "cell.lif", "tau", np.full(6, 1e6), r"node 'cell.lif': no float32 decay writes field tau exactly"),
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
    with pytest.raises(NIRError, match=r"node 'li' is missing"):
        load_from_nir(copy.deepcopy(model), graph)
    brf_model = _graph("brf")[0]
    brf_graph.metadata["dt"] = 0.02
    with pytest.raises(NIRError, match=r"node cell: the graph's dt = 0.02; the BRF cell's Euler step is dt = 0.01"):
        load_from_nir(copy.deepcopy(brf_model), brf_graph)


def _report(label: str, src: RecurrentSNN, got: RecurrentSNN) -> None:
    rows = []
    for k, v in src.state_dict().items():
        a, b = v.numpy(), got.state_dict()[k].numpy()
        if np.array_equal(a, b):
            rows.append(f"{k} =")
            continue
        out = (a != b) & ~_domain(src, k, a)[0] if k == "tau_out" or k.startswith("cell.") else a != b
        rows.append(f"{k} {int((a != b).sum())}/{a.size} differ (max {float(np.max(np.abs(a - b))):.3g}; "
                    f"{int(out.sum())} outside clamp/sign)")
    same = all(torch.equal(x, y) for x, y in zip(src.cell.effective(), got.cell.effective()))
    same = same and torch.equal(src.kappa(), got.kappa())
    print(f"{label}: effective cell values and kappa {'identical' if same else 'DIFFER'}; " + "; ".join(rows))


def main() -> None:
    """Print what comes back bit for bit (``python tests/test_nir_import_hypr.py``; '=' identical)."""
    for name in _shipped():
        model, fresh = _round_trip(name)
        _report(f"{name} into a fresh model", model, fresh)
    recipe = load_recipe(RECIPE)
    for which, seed in (("initial", 0), ("shipped", 0), ("shipped", 1)):
        model = _recipe_model(recipe, which)
        torch.manual_seed(int(recipe["seed"]) + seed)
        got = load_from_nir(recipe_parts(recipe)[3], to_nir(model, float(recipe["dt"])))
        _report(f"{RECIPE} {which} model into the recipe's model of seed {int(recipe['seed']) + seed}", model, got)
        for fixed in (False, True):
            arrays, other = _layer_diff(model, got, recipe, fixed)
            print(f"   e-prop layers ({'fixed' if fixed else 'float'}): arrays() "
                  f"{'identical' if not arrays else f'differ in {arrays}'}; other coefficients "
                  f"{'identical' if not other else f'differ in {other}'}")


if __name__ == "__main__":
    main()
