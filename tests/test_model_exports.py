"""Every zoo model with a NIR exporter: the exported graph reproduces the model exactly, and
its Lava fixed-point network is bit-exact with the emulator."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import zoo
from exporters.lava import build_plan, emulate, run_lava
from exporters.nir import from_nir, to_nir
from exporters.nir.zoo_models import GRAPH_EXPORTERS
from zoo.tasks import get_task


def exportable() -> list[str]:
    names = []
    for name in zoo.list_models():
        model = zoo.get_model(name, weights=None)
        if type(model).__name__ in GRAPH_EXPORTERS or name == "lif-digits":
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
    graph = to_nir(model, dt=1.0, input_shape=tuple(x.shape[2:]))
    with torch.no_grad():
        ref = model(x.transpose(0, 1))
        out = from_nir(graph)(x.transpose(0, 1))
    np.testing.assert_allclose(out.numpy(), ref.numpy(), atol=1e-9)


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
