"""The plastic pass (exporters.lava.plastic.rules.plastic_pass): the layers that learn inside Lava
are built from the NIR graph `zoo export` writes, equal bit for bit to the layers built from the
torch model it came from, and the parameters they learn export to NIR and read back exactly."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from exporters.lava.plastic.rules import plastic_layers, plastic_pass, update_every_step
from exporters.lava.plastic.run import Schedule, emulate
from exporters.nir.export import to_nir
from zoo.train import load_recipe, recipe_parts
from zoo.train_lava import step_targets, with_label_steps

ONLINE = ["recipes/stop-digits-fc-online.toml", "recipes/star-gestures-online.toml",
          "recipes/eprop-alif-rowdigits.toml"]
SKIP = ("rule", "epochs", "batch_size", "train_samples")
TIED = ("alpha", "leak_logit", "tau_m", "tau_adp", "tau_out")  # time constants: exported through rounding maps
# (tau_adp -> rho = exp(-dt/tau_adp) -> dt/(1 - rho)) that several raw values share; equal to their conditioning


def _setup(path: str, dtype: torch.dtype, n: int = 4):
    recipe = load_recipe(path)
    torch.manual_seed(int(recipe.get("seed", 0)))
    _, task, task_cfg, model, learning = recipe_parts(recipe)
    model = model.to(dtype)
    x, y = task.load("train", n=n, **task_cfg)
    targets = step_targets(task.name, y, int(x.shape[1]))
    rule = learning["rule"]
    learn = with_label_steps(rule, {k: v for k, v in learning.items() if k not in SKIP}, targets, path)
    return recipe, model, x, targets, rule, learn


def _arrays(layers) -> list[dict[str, np.ndarray]]:
    return [{k: np.array(v) for k, v in layer.arrays().items()} for layer in layers]


@pytest.mark.parametrize("fixed", [False, True], ids=["float", "fixed"])
@pytest.mark.parametrize("path", ONLINE)
def test_pass_equals_layers_from_the_torch_model(path, fixed):
    recipe, model, x, targets, rule, learn = _setup(path, torch.float32)
    steps, seed, opts = int(x.shape[1]), int(recipe.get("seed", 0)), recipe.get("lava_fixed")
    graph = to_nir(model, float(recipe["dt"]))
    direct = plastic_layers(rule, copy.deepcopy(model), steps, learn, fixed, seed, opts)
    from_nir = plastic_pass(graph, rule, model, steps, learn, fixed, seed, opts)
    assert [type(a) for a in direct] == [type(b) for b in from_nir]
    for a, b in zip(_arrays(direct), _arrays(from_nir)):
        assert a.keys() == b.keys()
        for k in a:
            np.testing.assert_array_equal(a[k], b[k], err_msg=f"{path}: {k}")


@pytest.mark.parametrize("fixed,dtype", [(False, torch.float64), (True, torch.float32)], ids=["float64", "fixed"])
@pytest.mark.parametrize("path", ONLINE)
def test_learned_parameters_round_trip_through_nir(path, fixed, dtype):
    """Learn on 4 samples from the graph, load the learned parameters into the model and export
    it: reading that NIR graph back gives exactly the learned parameters, and the pass rebuilt
    from it holds them again (fixed point: where the format does not depend on the values; the
    e-prop layers choose their weight exponent from the largest |w| with headroom, so a network
    that continues learning from a learned graph starts on a coarser grid)."""
    from exporters.nir.model_import import load_from_nir

    recipe, model, x, targets, rule, learn = _setup(path, dtype)
    steps, seed, opts, dt = int(x.shape[1]), int(recipe.get("seed", 0)), recipe.get("lava_fixed"), float(recipe["dt"])
    layers = plastic_pass(to_nir(model, dt), rule, model, steps, learn, fixed, seed, opts)
    per_step = update_every_step(rule, learn)
    res = emulate(layers, Schedule(x.numpy(), targets, np.ones(len(x), bool), 1 if per_step else 2,
                                   update_every_step=per_step))
    state = model.state_dict()
    assert any(not np.array_equal(v, state[k].double().numpy().reshape(np.shape(v))) for k, v in res.params.items())
    model.load_state_dict({k: torch.as_tensor(np.asarray(v)).to(state[k].dtype).reshape(state[k].shape)
                           for k, v in res.params.items()}, strict=False)
    fresh = copy.deepcopy(model)
    for p in fresh.state_dict().values():
        p.zero_()
    read = load_from_nir(fresh, to_nir(model, dt)).state_dict()  # no template values to break ties with
    eps = float(torch.finfo(dtype).eps)
    for k, v in res.params.items():
        got = read[k].double().numpy().reshape(np.shape(v))
        if k.split(".")[-1] in TIED:  # several raw values share the exported one (tau = dt/(1 - alpha))
            np.testing.assert_allclose(got, v, rtol=256 * eps, atol=0, err_msg=f"{path}: {k}")  # 1 - rho ~ 0.02
        else:
            np.testing.assert_array_equal(got, v, err_msg=f"{path}: {k}")
    if fixed and rule == "eprop":
        return
    again = plastic_pass(to_nir(model, dt), rule, model, steps, learn, fixed, seed, opts)
    got = {k: v for layer in again for k, v in layer.params().items()}
    for k, v in res.params.items():
        np.testing.assert_array_equal(got[k], v, err_msg=f"{path}: {k}")


def test_pass_names_the_node_of_a_graph_that_does_not_fit():
    recipe, model, x, targets, rule, learn = _setup(ONLINE[0], torch.float32)
    graph = to_nir(model, float(recipe["dt"]))
    del graph.nodes["readout"]
    with pytest.raises(ValueError, match="readout"):
        plastic_pass(graph, rule, model, int(x.shape[1]), learn, False)
