"""Every zoo model with a NIR exporter: the exported graph reproduces the model exactly, and
its Lava fixed-point network is bit-exact with the emulator."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import zoo
from exporters.lava import build_plan, emulate, run_lava
from exporters.nir import from_nir, to_nir
from exporters.nir.export import graph_exporters
from zoo.tasks import get_task


def exportable() -> list[str]:
    names = []
    for name in zoo.list_models():
        model = zoo.get_model(name, weights=None)
        if type(model).__name__ in graph_exporters() or name == "lif-digits":
            names.append(name)
    return names


@pytest.mark.parametrize("name", exportable())
def test_export_reproduces_model(name):
    torch.manual_seed(0)
    entry = zoo.get_entry(name)
    model = entry.builder().double().eval()
    params = dict(zoo.get_weights(name).meta.get("task", {})) if entry.weights else {}
    params.pop("name", None)
    x, _ = get_task(entry.task).load("test", n=3, **params)
    x = x[:, :40].double()
    dt = model.dt * 1e-3 if type(model).__name__ == "GammaNet" else (
        zoo.get_weights(name).meta.get("dt", 1.0) if entry.weights
        else next((float(m.dt) for m in model.modules() if hasattr(m, "dt")), 1.0))
    graph = to_nir(model, dt=dt, input_shape=tuple(x.shape[2:]))
    with torch.no_grad():
        ref = model(x.transpose(0, 1))
        out = from_nir(graph)(x.transpose(0, 1))
    # gamma models keep float32 decay buffers (exp(-dt/tau) rounded); the graph has the exact decays
    atol = 1e-4 * float(ref.abs().max()) if type(model).__name__ == "GammaNet" else 1e-9
    np.testing.assert_allclose(out.numpy(), ref.numpy(), atol=atol)


def test_stop_conv_lava_fixed_is_bit_exact():
    model = zoo.get_model("stop-digits-conv").double()
    x, _ = get_task("digits").load("test", n=2, steps=8, encoding="direct", image=True)
    graph = to_nir(model, dt=1e-3, input_shape=(1, 8, 8))
    plan = build_plan(graph, "fixed", input_frac_bits=4)
    lava, emu = run_lava(plan, x.numpy()), emulate(plan, x.numpy())
    for k in emu.spikes:
        np.testing.assert_array_equal(lava.spikes[k], emu.spikes[k])
    np.testing.assert_array_equal(lava.output_raw, emu.output_raw)
    assert sum(s.sum() for s in emu.spikes.values()) > 0


def test_gamma_lava_float_equals_torch_graph():
    """SpikingGamma: bucket chains fused into one Lava population each, sigma-delta units send
    sparse graded deltas; Lava float == the NIR graph in torch, delta counts equal."""
    model = zoo.get_model("gamma-delay").double()
    x, _ = get_task("delay").load("test", n=3, **{k: v for k, v in zoo.get_weights("gamma-delay").meta["task"].items()
                                                   if k != "name"})
    graph = to_nir(model, dt=model.dt * 1e-3)
    ref = from_nir(graph)
    with torch.no_grad():
        out = ref(x.transpose(0, 1).double(), record=True).transpose(0, 1).numpy()
    plan = build_plan(graph, "float")
    assert sorted(s.kind for s in plan.neurons.values()) == ["li_chain", "li_chain", "sigma_delta"]
    lava = run_lava(plan, x.numpy())
    np.testing.assert_allclose(lava.output, out, atol=1e-9)
    r = ref.records["l0.sd"].transpose(0, 1).numpy()
    deltas = np.diff(np.concatenate([np.zeros_like(r[:, :1]), r], axis=1), axis=1)
    np.testing.assert_allclose(lava.voltages["l0.sd"], deltas, atol=1e-9)
    assert (deltas != 0).sum() > 0
    # fixed point: 16-bit graded messages, scales calibrated on training samples
    xtr, _ = get_task("delay").load("train", n=8, **{k: v for k, v in zoo.get_weights("gamma-delay").meta["task"].items()
                                                     if k != "name"})
    fixed = build_plan(graph, "fixed", calibrate=xtr.numpy())
    assert all(0 <= fixed.neurons[n].params["msg_shift"] <= 8 for n in fixed.msg_unit)
    lq, eq = run_lava(fixed, x.numpy()), emulate(fixed, x.numpy())
    for k in eq.voltages:
        np.testing.assert_array_equal(lq.voltages[k], eq.voltages[k])
    np.testing.assert_array_equal(lq.output_raw, eq.output_raw)
    assert np.abs(eq.output - out).mean() < 0.05 * np.abs(out).max()
