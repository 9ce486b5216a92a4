"""STOP learning inside Lava (exporters/lava/plastic): the float layers are the torch STOP
learner (SGD), Lava runs the same layers (float: equal, fixed: bit-exact to the emulator),
and the fixed-point arithmetic is bounded, unbiased and refuses what it cannot represent."""
from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch

from exporters.lava.plastic import fixed as fx
from exporters.lava.plastic.rules import plastic_layers
from exporters.lava.plastic.run import Schedule, emulate
from exporters.lava.plastic.stop import stop_layers
from zoo.learning.stop import STOP
from zoo.models.stop import stop_digits_conv, stop_digits_fc
from zoo.tasks import get_task

from plastic_checks import check_lava_equals_emulator

T = 8


@pytest.fixture(scope="module")
def digits():
    x, y = get_task("digits").load("train", n=24, steps=T, encoding="direct")
    return x, y


def _net(seed: int = 0, hidden=(32, 24)) -> torch.nn.Module:
    torch.manual_seed(seed)
    return stop_digits_fc(hidden=hidden, alpha=0.6, v_threshold=0.4).double()


def _schedule(x, y, learn=None, batch_size=1) -> Schedule:
    learn = np.ones(len(x), bool) if learn is None else learn
    return Schedule(x.numpy(), np.repeat(y.numpy()[:, None], T, 1), learn, batch_size)


@pytest.mark.parametrize("batch_size,variant", [(1, "WTL"), (3, "WTL"), (2, "W")])
def test_float_layers_equal_torch_stop_sgd(digits, batch_size, variant):
    x, y = digits
    x, y = x[:12], y[:12]
    model = _net()
    init = copy.deepcopy(model)
    learner = STOP(model, get_task("digits"), variant=variant, optimizer="sgd", lr=0.2, theta_min=0.05)
    for i in range(0, len(x), batch_size):
        learner.step((x[i:i + batch_size].double(), y[i:i + batch_size]))
    res = emulate(stop_layers(init, T, 0.2, variant=variant), _schedule(x, y, batch_size=batch_size))
    ref = init.state_dict()
    moved = 0.0
    for k, v in model.state_dict().items():
        np.testing.assert_allclose(res.params[k], v.numpy(), atol=1e-12, rtol=0, err_msg=k)
        moved = max(moved, float(np.max(np.abs(v.numpy() - ref[k].numpy()))))
    assert moved > 1e-3  # the comparison is not between two untouched networks


def test_evaluation_samples_do_not_learn(digits):
    x, y = digits
    learn = np.zeros(len(x), bool)
    learn[:6] = True
    layers = stop_layers(_net(), T, 0.2)
    a = emulate(layers, _schedule(x, y, learn))
    b = emulate(layers, _schedule(x[:6], y[:6]))
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
    # the evaluation outputs are the network with the learned parameters
    model = _net()
    model.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in a.params.items()})
    with torch.no_grad():
        out = model(x[6:].double().transpose(0, 1)).transpose(0, 1).numpy()
    np.testing.assert_allclose(a.outputs[6:], out, atol=1e-9)


@pytest.mark.parametrize("fixed", [False, True])
def test_lava_runs_the_same_layers(digits, fixed):
    x, y = digits
    x, y = x[:6], y[:6]
    learn = np.array([1, 1, 1, 0, 1, 0], bool)
    layers = stop_layers(_net(hidden=(16, 12)), T, 0.2, fixed=fixed)
    sched = _schedule(x, y, learn, batch_size=2)
    check_lava_equals_emulator(layers, sched, 3, fixed)


def test_fixed_point_tracks_float_and_stays_in_range(digits):
    x, y = digits
    model = _net(hidden=(32, 24))
    sched = _schedule(x[:4], y[:4])  # short: longer runs drift apart once a spike flips
    flt = emulate(stop_layers(model, T, 0.2), sched)
    layers = stop_layers(model, T, 0.2, fixed=True, weight_bits=16)
    fxd = emulate(layers, sched)
    init = model.state_dict()
    for k in ("blocks.0.syn.weight", "blocks.1.syn.weight", "readout.weight"):
        d_flt = flt.params[k] - init[k].numpy()
        d_fxd = fxd.params[k] - init[k].numpy()
        assert np.corrcoef(d_flt.ravel(), d_fxd.ravel())[0, 1] > 0.98, k
    w8 = emulate(stop_layers(model, T, 0.2, fixed=True, weight_bits=8), sched)
    for layer in stop_layers(model, T, 0.2, fixed=True, weight_bits=8):
        name = f"blocks.{layer.index}.syn.weight" if hasattr(layer, "index") else "readout.weight"
        q = w8.params[name] * 2.0 ** layer.w_frac
        assert np.array_equal(q, np.rint(q)) and np.abs(q).max() <= 127


def test_fixed_point_is_deterministic_per_seed(digits):
    x, y = digits
    sched = _schedule(x[:8], y[:8])
    a = emulate(stop_layers(_net(), T, 0.2, fixed=True, seed=3), sched)
    b = emulate(stop_layers(_net(), T, 0.2, fixed=True, seed=3), sched)
    c = emulate(stop_layers(_net(), T, 0.2, fixed=True, seed=4), sched)
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)
    assert any(not np.array_equal(a.params[k], c.params[k]) for k in a.params)


def test_stochastic_rounding_is_unbiased_and_saturation_bounds():
    rng = np.random.default_rng(0)
    x = np.full(200_000, 5, dtype=np.int64)  # 5 / 16 = 0.3125
    assert abs(fx.stochastic_shift(x, 4, rng).mean() - 0.3125) < 0.005
    assert np.array_equal(fx.stochastic_shift(np.array([3]), 0, rng), [3])
    assert fx.saturate(np.array([300, -300]), 8).tolist() == [127, -127]
    assert fx.saturate(np.array([-1, 70000]), 16, signed=False).tolist() == [0, 65535]
    assert fx.shift_round(np.array([5, -5, 6]), 1).tolist() == [3, -2, 3]
    m, e = fx.mantissa_shift(0.02)
    assert m < 256 and abs(m * 2.0 ** -e - 0.02) / 0.02 < 0.01


def test_traces_saturate_at_their_width():
    model = _net(hidden=(4, 3))
    with torch.no_grad():
        model.blocks[0].lif.alpha.fill_(1.0)
    layer = stop_layers(model, 400, 0.1, fixed=True, trace_bits=10)[0]
    for _ in range(400):
        layer.forward(np.full(64, 256, dtype=np.int64))  # x = 1.0 every step: w~ grows by 1 per step
    assert layer.w_tr.max() == 2 ** 10 - 1 and layer.b_tr == 2 ** 10 - 1


def test_refusals_name_the_problem(digits):
    x, y = digits
    with pytest.raises(ValueError, match="optimizer = 'adam'"):
        plastic_layers("stop", _net(), T, {"optimizer": "adam", "lr": 0.1}, False)
    with pytest.raises(ValueError, match=r"\['grad_clip'\]"):
        plastic_layers("stop", _net(), T, {"optimizer": "sgd", "lr": 0.1, "grad_clip": 1.0}, False)
    with pytest.raises(ValueError, match="does not run inside Lava"):
        plastic_layers("gamma_online", _net(), T, {"lr": 0.1}, False)
    with pytest.raises(ValueError, match="blocks.0 is Conv2d"):
        stop_layers(stop_digits_conv(), T, 0.1)
    coarse = Schedule(x[:2].numpy() / 3.0, np.zeros((2, T), int), np.ones(2, bool))
    with pytest.raises(ValueError, match="input_frac=8"):
        emulate(stop_layers(_net(), T, 0.1, fixed=True), coarse)
    with pytest.raises(ValueError, match="targets"):
        Schedule(x[:2].numpy(), np.zeros((3, T), int), np.ones(2, bool))


def test_zoo_train_backend_writes_weights_and_history(tmp_path):
    from zoo.train import load_recipe, train

    recipe = load_recipe("recipes/stop-digits-fc-online.toml")
    recipe["learning"]["train_samples"] = 30
    recipe["learning"]["epochs"] = 1
    meta = train(recipe, tmp_path, progress=False, backend="emulator-fixed", evals_per_epoch=2, test_samples=20)
    assert meta["meta"]["lava"]["backend"] == "emulator-fixed"
    assert [h["samples_seen"] for h in meta["meta"]["history"]] == [15, 30]
    written = json.loads((tmp_path / "stop-digits-fc-online.json").read_text())
    assert written["sha256"] == meta["sha256"]
    from safetensors.torch import load_file

    state = load_file(str(tmp_path / "stop-digits-fc-online.safetensors"))
    model = stop_digits_fc()
    model.load_state_dict(state)
    assert float(state["blocks.0.lif.alpha"]) != 0.5  # the leak learned (WTL)
    recipe["learning"]["optimizer"] = "adam"
    from zoo.registry import ZooError

    with pytest.raises(ZooError, match="plain SGD"):
        train(recipe, tmp_path / "x", progress=False, backend="lava-fixed")
    assert not (tmp_path / "x").exists()


def test_cli_train_backend_refusals_are_one_line(tmp_path, capsys):
    from zoo.cli import main

    out = tmp_path / "out"
    assert main(["train", "recipes/stop-digits-fc.toml", "--backend", "lava-fixed", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "recipes/stop-digits-fc.toml" in err and "optimizer = 'adam'" in err and "Traceback" not in err
    assert main(["train", "recipes/gamma-delay.toml", "--backend", "lava-float", "--out", str(out)]) == 2
    assert "rule 'gamma_online' does not run inside Lava" in capsys.readouterr().err
    assert not out.exists()
