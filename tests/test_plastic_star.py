"""STAR-SNN's TBPTT(K=1) learning inside Lava (exporters/lava/plastic/star.py): the float layers
are the torch learner (TBPTT K=1, SGD after every step, batch 1) bit for bit, Lava runs the same
layers (float: equal, fixed: bit-exact to the emulator), and what cannot run is refused."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from exporters.lava.plastic.rules import plastic_layers, update_every_step
from exporters.lava.plastic.run import Schedule, emulate
from exporters.lava.plastic.star import star_layers
from zoo.learning.tbptt import TBPTT
from zoo.models.star import STARRSNN
from zoo.tasks import get_task

from plastic_checks import check_lava_equals_emulator

T = 10


@pytest.fixture(scope="module")
def gestures():
    return get_task("gestures").load("train", n=12, steps=T)


def _net(variant: str = "star", hidden: int = 24, seed: int = 0, **kw) -> STARRSNN:
    torch.manual_seed(seed)
    return STARRSNN(n_inputs=512, n_hidden=hidden, n_outputs=8, variant=variant, readout="li", tau_out=10.0,
                    input_scale=3.0, **kw).double()  # input_scale: the small net spikes within 10 steps


def _schedule(x, y, learn=None) -> Schedule:
    learn = np.ones(len(x), bool) if learn is None else learn
    return Schedule(x.numpy(), np.repeat(y.numpy()[:, None], T, 1), learn, 1, update_every_step=True)


def _torch_tbptt(model, x, y, lr: float, spsg: bool | None = None) -> None:
    if spsg is not None:
        model.cell.spsg = spsg
    learner = TBPTT(model, get_task("gestures"), K=1, update_every=1, optimizer="sgd", lr=lr)
    for i in range(len(x)):
        learner.step((x[i:i + 1].double(), y[i:i + 1]))


@pytest.mark.parametrize("variant", ["star", "plain"])
def test_float_layers_equal_torch_tbptt_k1_sgd(gestures, variant):
    x, y = gestures
    model = _net(variant)
    init = copy.deepcopy(model)
    _torch_tbptt(model, x, y, lr=0.3)
    res = emulate(star_layers(init, T, 0.3), _schedule(x, y))
    ref = init.state_dict()
    moved = {}
    for k, v in model.state_dict().items():
        if k in res.params:
            np.testing.assert_allclose(res.params[k], v.numpy(), atol=1e-12, rtol=0, err_msg=k)
        moved[k] = float(np.max(np.abs(v.numpy() - ref[k].numpy())))
    assert min(moved[k] for k in ("fc_in.weight", "rec.weight", "readout.weight")) > 1e-3, moved
    if variant == "star":  # the neuron parameters learn too (and match)
        assert moved["cell.leak_logit"] > 1e-6 and moved["cell.beta"] > 1e-6, moved
    else:
        assert "cell.beta" not in res.params and moved["cell.leak_logit"] == 0.0


def test_spsg_does_not_change_the_k1_update(gestures):
    """K = 1 cuts every path through time; SPSG only blocks paths into later steps."""
    x, y = gestures
    a, b = _net(), _net()
    _torch_tbptt(a, x[:4], y[:4], 0.3, spsg=True)
    _torch_tbptt(b, x[:4], y[:4], 0.3, spsg=False)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        torch.testing.assert_close(va, vb, atol=1e-13, rtol=0, msg=k)


@pytest.mark.parametrize("fixed", [False, True])
def test_lava_runs_the_same_layers(gestures, fixed):
    x, y = gestures
    x, y = x[:4], y[:4]
    learn = np.array([1, 1, 0, 1], bool)  # sample 2 is evaluated, not learned
    layers = star_layers(_net(hidden=12), T, 0.3, fixed=fixed)
    sched = _schedule(x, y, learn)
    check_lava_equals_emulator(layers, sched, 2, fixed)


def test_fixed_point_tracks_float_and_stays_in_range(gestures):
    x, y = gestures
    model = _net()
    sched = _schedule(x[:3], y[:3])
    flt = emulate(star_layers(model, T, 0.3), sched)
    fxd = emulate(star_layers(model, T, 0.3, fixed=True, weight_bits=16, in_headroom=1, out_headroom=1), sched)
    init = model.state_dict()
    for k in ("fc_in.weight", "rec.weight", "readout.weight", "readout.bias", "fc_in.bias"):
        d_flt, d_fxd = flt.params[k] - init[k].numpy(), fxd.params[k] - init[k].numpy()
        assert np.corrcoef(d_flt.ravel(), d_fxd.ravel())[0, 1] > 0.95, k
    layers = star_layers(model, T, 0.3, fixed=True)
    w8 = emulate(layers, sched)
    for name, frac in (("fc_in.weight", layers[0].w_in_frac), ("rec.weight", layers[0].w_rec_frac),
                       ("readout.weight", layers[1].w_frac)):
        q = w8.params[name] * 2.0 ** frac
        assert np.array_equal(q, np.rint(q)) and np.abs(q).max() <= 127, name


def test_per_step_schedule_flags():
    x = np.zeros((3, 4, 2))
    sched = Schedule(x, np.zeros((3, 4), int), np.array([1, 0, 1], bool), 1, update_every_step=True)
    learn, update = sched.step_flags()
    assert update.tolist() == [1] * 4 + [0] * 4 + [1] * 4 and learn.tolist() == update.astype(bool).tolist()
    assert update_every_step("tbptt", {"K": 1}) and update_every_step("tbptt", {"update_every": 1})
    assert not update_every_step("tbptt", {"update_every": None}) and not update_every_step("stop", {})


def test_refusals_name_the_problem(gestures):
    x, y = gestures
    with pytest.raises(ValueError, match="K = 2; only K = 1"):
        plastic_layers("tbptt", _net(), T, {"lr": 0.1, "K": 2}, False)
    with pytest.raises(ValueError, match="update_every = 5"):
        plastic_layers("tbptt", _net(), T, {"lr": 0.1, "update_every": 5}, False)
    with pytest.raises(ValueError, match=r"\['lr_decay'\]"):
        plastic_layers("tbptt", _net(), T, {"lr": 0.1, "lr_decay": 0.999}, False)
    assert len(plastic_layers("tbptt", _net(), T, {"lr": 0.1, "lr_decay": 1.0}, False)) == 2
    with pytest.raises(ValueError, match="readout = 'membrane'"):
        star_layers(STARRSNN(n_inputs=512, n_hidden=8, n_outputs=8), T, 0.1)
    with pytest.raises(ValueError, match="batch_size = 1"):
        Schedule(x[:2].numpy(), np.zeros((2, T), int), np.ones(2, bool), 2, update_every_step=True)


def test_zoo_train_recipe_torch_equals_emulator_float(tmp_path):
    from zoo.registry import ZooError
    from zoo.train import load_recipe, train

    recipe = load_recipe("recipes/star-gestures-online.toml")
    recipe["learning"].update(train_samples=12, epochs=1)
    kw = dict(progress=False, evals_per_epoch=2, test_samples=16)
    ref_meta = train(recipe, tmp_path / "t", dtype=torch.float64, **kw)["meta"]
    ref = ref_meta["history"]
    emu = train(recipe, tmp_path / "e", backend="emulator-float", **kw)["meta"]
    assert emu["lava"]["backend"] == "emulator-float" and [h["samples_seen"] for h in emu["history"]] == [6, 12]
    for a, b in zip(ref, emu["history"]):  # learning curves on the validation split, the test split read once
        assert a["val_accuracy"] == b["val_accuracy"] and abs(a["loss"] - b["loss"]) < 1e-12
    assert "test_accuracy" not in ref[0] and ref_meta["metrics"]["test_accuracy"] == emu["metrics"]["test_accuracy"]
    recipe["learning"]["batch_size"] = 2
    with pytest.raises(ZooError, match="batch_size = 1"):
        train(recipe, tmp_path / "x", backend="emulator-fixed", **kw)
    assert not (tmp_path / "x").exists()
