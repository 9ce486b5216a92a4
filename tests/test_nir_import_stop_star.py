"""NIR -> zoo import of STOPNet and STARRSNN (exporters/nir/zoo_models.py, load_from_nir): the
shipped models and the online recipes' initial models come back bit for bit from their export,
except where NIR holds only the effective value (STAR: the trained leak_logit, of which several
give the stored alpha = sigmoid(leak_logit), and a negative beta, exported as max(beta, 0)); the
plastic layers built from the imported model equal those built from the original; bad graphs
are refused naming the node and field."""
from __future__ import annotations

import copy

import nir
import numpy as np
import pytest
import torch

from exporters.lava.plastic.rules import plastic_layers
from exporters.nir import io as nir_io
from exporters.nir.export import to_nir
from exporters.nir.extensions import v_tap_node
from exporters.nir.io import NIRError
from exporters.nir.model_import import load_from_nir
from exporters.nir.zoo_models import leak_logit_of
from zoo.models.star import STARRSNN
from zoo.models.stop import stop_digits_conv, stop_digits_fc
from zoo.pipeline import Pipeline
from zoo.registry import get_model, get_weights
from zoo.train import load_recipe, recipe_parts

SHIPPED = ["stop-digits-fc", "stop-digits-conv", "star-fsdd", "star-gestures", "star-lorenz", "star-mackey-glass"]
ONLINE = {"recipes/stop-digits-fc-online.toml": "stop-digits-fc", "recipes/star-gestures-online.toml": "star-gestures"}
SKIP = ("rule", "epochs", "batch_size", "train_samples")


def _differing(a: torch.nn.Module, b: torch.nn.Module) -> set[str]:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    return {k for k in sa if not torch.equal(sa[k], sb[k])}


def _check_effective(original: torch.nn.Module, got: torch.nn.Module) -> None:
    """What may differ differs only as NIR allows: STAR's leak_logit (same sigmoid) and negative
    beta (max(beta, 0) equal, and only where beta < 0); everything else is bit for bit."""
    differ = _differing(original, got)
    assert differ <= {"cell.leak_logit", "cell.beta"}, differ
    if isinstance(original, STARRSNN):
        a, b = original.cell, got.cell
        assert torch.equal(a.alpha, b.alpha)
        assert torch.equal(a.beta.clamp(min=0.0), b.beta)
        assert torch.equal(a.beta != b.beta, a.beta < 0)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_comes_back_from_its_nir_file(name, tmp_path):
    pipe = Pipeline(name)
    path = nir_io.write(tmp_path / f"{name}.nir", pipe.graph)
    template = get_model(name, weights=None, **get_weights(name).config)
    assert _differing(pipe.model, template)  # the values must come from the file
    got = load_from_nir(template, nir_io.read(path), str(path))
    _check_effective(pipe.model, got)
    if name.startswith("stop-"):
        assert not _differing(pipe.model, got)


def _layer_arrays(model, recipe: dict, fixed: bool) -> dict[str, np.ndarray]:
    learning = dict(recipe["learning"])
    learn = {k: v for k, v in learning.items() if k not in SKIP}
    steps = int(recipe["task"]["steps"])
    layers = plastic_layers(learning["rule"], copy.deepcopy(model), steps, learn, fixed, int(recipe.get("seed", 0)),
                            recipe.get("lava_fixed"))
    return {f"{i}.{k}": np.array(v) for i, layer in enumerate(layers) for k, v in layer.arrays().items()}


def _assert_same_arrays(a: dict[str, np.ndarray], b: dict[str, np.ndarray], skip: tuple[str, ...] = ()) -> None:
    assert a.keys() == b.keys()
    for k in a:
        if not k.endswith(skip or ("\0",)):
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("path", list(ONLINE))
def test_online_recipe_initial_model_and_its_plastic_layers_come_back(path, dtype):
    recipe = load_recipe(path)
    seed = int(recipe.get("seed", 0))
    torch.manual_seed(seed)
    model = recipe_parts(recipe)[3].to(dtype)
    torch.manual_seed(seed + 1)  # another initialisation: every value must come from the graph
    template = recipe_parts(recipe)[3].to(dtype)
    assert _differing(model, template)
    got = load_from_nir(template, to_nir(model, float(recipe["dt"])), path)
    assert not _differing(model, got)  # initial leak_logit included (the template's value wins a tie)
    for fixed in (False, True):
        _assert_same_arrays(_layer_arrays(model, recipe, fixed), _layer_arrays(got, recipe, fixed))


@pytest.mark.parametrize("path", list(ONLINE))
def test_plastic_layers_of_shipped_weights_come_back(path):
    """Fixed point: every array identical. Float STAR stores the leak_logit itself (float64 of
    the float32 logit), which NIR does not determine: only that array may differ there."""
    recipe = load_recipe(path)
    shipped = get_model(ONLINE[path])
    torch.manual_seed(1)
    got = load_from_nir(recipe_parts(recipe)[3], to_nir(shipped, float(recipe["dt"])), path)
    _check_effective(shipped, got)
    _assert_same_arrays(_layer_arrays(shipped, recipe, True), _layer_arrays(got, recipe, True))
    _assert_same_arrays(_layer_arrays(shipped, recipe, False), _layer_arrays(got, recipe, False), skip=("leak_logit",))


def _star(readout: str = "li", dtype: torch.dtype = torch.float32) -> STARRSNN:
    torch.manual_seed(0)
    return STARRSNN(n_inputs=4, n_hidden=6, n_outputs=3, readout=readout).to(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
def test_trained_leak_logit_gives_the_same_alpha_and_the_template_wins_a_tie(dtype):
    model = _star("membrane", dtype)
    with torch.no_grad():
        model.cell.leak_logit.add_(torch.randn(6, dtype=dtype, generator=torch.Generator().manual_seed(3)))
        model.cell.beta.copy_(torch.tensor([0.5, -0.2, 0.0, 1.0, -1e-3, 0.3], dtype=dtype))
    graph = to_nir(model, 1.0)
    got = load_from_nir(_star("membrane", dtype), graph)
    _check_effective(model, got)
    assert torch.equal(got.cell.beta, model.cell.beta.clamp(min=0.0))
    again = load_from_nir(copy.deepcopy(model), graph)  # a template holding a preimage keeps it
    assert torch.equal(again.cell.leak_logit, model.cell.leak_logit)
    alpha = model.cell.alpha.detach().numpy()
    logit = leak_logit_of(alpha, _star("membrane", dtype).cell.leak_logit)
    assert np.array_equal(torch.sigmoid(torch.from_numpy(logit)).numpy(), alpha)


def test_float64_stop_alpha_below_one_half_round_trips():
    """In float64 two alphas < 1/2 can share tau = dt/(1-alpha): the exact one comes back with a
    template holding it, and an equivalent one (same tau) with a fresh template."""
    model = stop_digits_fc(6, (5, 4), 3).double()
    with torch.no_grad():
        model.blocks[0].lif.alpha.fill_(0.15144191682338715)
        model.blocks[1].lif.alpha.fill_(1.0)
    graph = to_nir(model, 1e-3)
    assert isinstance(graph.nodes["blocks.1.lif"], nir.IF)
    assert not _differing(model, load_from_nir(copy.deepcopy(model), graph))
    load_from_nir(stop_digits_fc(6, (5, 4), 3).double(), graph)  # round trip checked inside


def _stop_conv():
    torch.manual_seed(0)
    model = stop_digits_conv(channels=(2, 3))
    return model, to_nir(model, 1e-3, input_shape=(1, 8, 8))


def _fc():
    torch.manual_seed(0)
    model = stop_digits_fc(6, (5, 4), 3)
    return model, to_nir(model, 1e-3)


def _lif(graph, name="blocks.0.lif"):
    return graph.nodes[name]


BAD = {
    "missing node": (_fc, lambda g: g.nodes.pop("blocks.0.lif"), "node 'blocks.0.lif' is missing"),
    "wrong node type": (_fc, lambda g: g.nodes.__setitem__("readout", nir.Linear(weight=g.nodes["readout"].weight)),
                        "node 'readout' is Linear; expected Affine"),
    "wrong shape": (_fc, lambda g: g.nodes.__setitem__("blocks.1.syn", nir.Affine(
        weight=np.zeros((4, 6)), bias=np.zeros(4))), "node 'blocks.1.syn': field weight has shape"),
    "tau not uniform": (_fc, lambda g: _lif(g).tau.__setitem__(0, 2 * _lif(g).tau[1]), "field tau is not uniform"),
    "alpha >= 1": (_fc, lambda g: _lif(g).tau.fill(-1.0), "field tau must be finite and >= dt"),
    "threshold within a channel": (_stop_conv, lambda g: _lif(g).v_threshold.__setitem__((0, 0, 0), 5.0),
                                   "v_threshold varies within a channel"),
    "round trip": (_fc, lambda g: _lif(g).r.__setitem__(0, 7.0), "node blocks.0.lif: field r differs"),
    "star beta < 0": (lambda: (_star(), to_nir(_star(), 1.0)),
                      lambda g: g.nodes["cell"].nodes["beta"].scale.fill(1.0), "field beta must be >= 0"),
    "star cell": (lambda: (_star(), to_nir(_star(), 1.0)), lambda g: g.nodes.__setitem__("cell", v_tap_node(6)),
                  "expected the zoo extension 'alif'"),
    "star readout": (lambda: (_star("membrane"), to_nir(_star("membrane"), 1.0)), lambda g: None,
                     "node 'li' is missing"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_graph_is_refused_naming_node_and_field(case):
    make, spoil, message = BAD[case]
    model, graph = make()
    spoil(graph)
    template = _star("li") if case == "star readout" else copy.deepcopy(model)
    with pytest.raises(NIRError, match=message):
        load_from_nir(template, graph, "bad.nir")


def _report(tag: str, original: torch.nn.Module, got: torch.nn.Module) -> None:
    sa, sb = original.state_dict(), got.state_dict()
    differ = sorted(_differing(original, got))
    print(f"{tag}: {len(sa) - len(differ)}/{len(sa)} state_dict entries bit for bit")
    for k in differ:
        ulps = (sa[k].double() - sb[k].double()).abs() / torch.from_numpy(np.spacing(np.abs(sa[k].numpy())))
        print(f"   {k}: {int((sa[k] != sb[k]).sum())}/{sa[k].numel()} differ, max |dev| "
              f"{float((sa[k].double() - sb[k].double()).abs().max()):.3g} ({float(ulps.max()):.0f} ulps)")


def main() -> None:
    """Print what comes back bit for bit (``python tests/test_nir_import_stop_star.py``)."""
    for name in SHIPPED:
        pipe = Pipeline(name)
        template = get_model(name, weights=None, **get_weights(name).config)
        _report(f"shipped {name}", pipe.model, load_from_nir(template, pipe.graph, name))
    for path, name in ONLINE.items():
        recipe = load_recipe(path)
        torch.manual_seed(int(recipe.get("seed", 0)))
        model = recipe_parts(recipe)[3]
        if isinstance(model, STARRSNN):  # without the template's tie-break: nearest the closed form
            logit = leak_logit_of(model.cell.alpha.detach().numpy(), torch.zeros_like(model.cell.leak_logit))
            same = int(np.sum(logit == model.cell.leak_logit.detach().numpy()))
            print(f"{path} initial leak_logit from the closed form alone: {same}/{logit.size} bit for bit")
        for tag, src in (("initial", model), (f"shipped {name}", get_model(name))):
            got = load_from_nir(recipe_parts(recipe)[3], to_nir(src, float(recipe["dt"])), path)
            _report(f"{path} {tag}", src, got)
            for fixed in (False, True):
                a, b = _layer_arrays(src, recipe, fixed), _layer_arrays(got, recipe, fixed)
                bad = [k for k in a if not np.array_equal(a[k], b[k])]
                print(f"   plastic arrays ({'fixed' if fixed else 'float'}): "
                      + (f"differ in {bad}" if bad else "all identical"))


if __name__ == "__main__":
    main()
