"""HYPR export and Lava: brf / se_adlif NIR extensions, RecurrentSNN export, Lava float/fixed
processes and their emulator twins (zoo/neurons/brf.py, se_adlif.py; exporters/lava/populations.py)."""
from __future__ import annotations

import json
from pathlib import Path

import nir
import numpy as np
import pytest
import torch

from exporters.lava import build_plan, emulate, run_lava
from exporters.lava.populations import KINDS, load_plugins
from exporters.nir import NIRError, from_nir, read, to_nir, write
from exporters.nir.ext_hypr import brf_node, brf_p_omega, se_adlif_node
from zoo.models.hypr import RecurrentSNN
from zoo.numerics import COEF_FRAC as COEF_BITS

load_plugins()
brf_quantize, brf_step, se_adlif_step = KINDS["brf"].quantize, KINDS["brf"].step, KINDS["se_adlif"].step

CASES = [("brf", 0.01, 80.0), ("seadlif", 1.0, 20.0), ("alif", 1.0, 20.0)]
WEIGHTS = Path(__file__).resolve().parents[1] / "zoo" / "weights"


def model(neuron: str, dt: float, gain: float, n_in=4, n=12, n_out=3, seed=0) -> RecurrentSNN:
    torch.manual_seed(seed)
    return RecurrentSNN(n_in, n, n_out, neuron=neuron, w_in_gain=gain, w_rec_gain=gain).double().eval()


def spikes_in(b, t, n_in=4, p=0.2, seed=1) -> np.ndarray:
    return (np.random.default_rng(seed).random((b, t, n_in)) < p).astype(float)


@pytest.mark.parametrize("neuron,dt,gain", CASES)
def test_export_reproduces_model(neuron, dt, gain, tmp_path):
    """NIR graph (after nir.write/read) run by the torch executor == the model, spikes identical."""
    m = model(neuron, dt, gain)
    g = read(write(tmp_path / "m.nir", to_nir(m, dt=dt)))
    ext = {"brf": "brf", "seadlif": "se_adlif", "alif": "alif"}[neuron]
    assert g.nodes["cell"].metadata["zoo.neuron"] == ext
    x = torch.from_numpy(spikes_in(2, 150)).transpose(0, 1)
    ex = from_nir(g)
    with torch.no_grad():
        y, z = m(x, return_spikes=True)
        y2 = ex(x, record=True)
    np.testing.assert_allclose(y2.numpy(), y.numpy(), atol=1e-10)
    np.testing.assert_array_equal(ex.records["cell"].numpy(), z.numpy())
    assert 0.005 < float(z.mean()) < 0.5  # the test exercises spiking


def test_brf_extension_hand_steps():
    """Three hand-computed BRF steps (u, v, q; strict threshold; refractory raise)."""
    dt, om, bo = 0.01, 4.0, 0.2
    g = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([1])}),
                            "cell": brf_node(np.array([om]), np.array([bo]), dt),
                            "output": nir.Output(output_type={"output": np.array([1])})},
                     edges=[("input", "cell"), ("cell", "output")], metadata={"dt": dt})
    x = torch.tensor([[[150.0]], [[0.0]], [[0.0]]], dtype=torch.float64)
    ex = from_nir(g)
    z = ex(x).ravel().numpy()
    p = (-1 + np.sqrt(1 - (dt * om) ** 2)) / dt
    u, v, q, zs = 0.0, 0.0, 0.0, []
    for i in (150.0, 0.0, 0.0):
        b = p - bo - q
        u, v = u + dt * (b * u - om * v + i), v + dt * (om * u + b * v)
        s = float(u - 1.0 - q > 0)
        q = 0.9 * q + s
        zs.append(s)
    assert zs == [1.0, 0.0, 0.0]  # u = 1.5 > 1 at step 1; then q = 1 raises the threshold to 2
    np.testing.assert_array_equal(z, zs)


def test_se_adlif_extension_hand_steps():
    """Symplectic order: w uses the new, reset u and the spike of the same step."""
    al, be, a, b, q = 0.8, 0.9, 0.5, 1.0, 120.0
    g = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([1])}),
                            "cell": se_adlif_node(np.array([al]), np.array([be]), np.array([a]), np.array([b]), 1.0),
                            "output": nir.Output(output_type={"output": np.array([1])})},
                     edges=[("input", "cell"), ("cell", "output")], metadata={"dt": 1.0})
    ex = from_nir(g)
    ex(torch.tensor([[[6.0]], [[2.0]], [[0.0]]], dtype=torch.float64), record=True)
    u, w, zs = 0.0, 0.0, []
    for i in (6.0, 2.0, 0.0):
        u = al * u + (1 - al) * (i - w)
        s = float(u > 1.0)
        u = u * (1 - s)
        w = be * w + (1 - be) * q * (a * u + b * s)
        zs.append(s)
    assert zs == [1.0, 0.0, 0.0]  # 1.2 > 1 spikes; w = 12 then inhibits
    np.testing.assert_array_equal(ex.records["cell"].ravel().numpy(), zs)


def test_brf_fixed_oscillator_does_not_grow():
    """At the divergence boundary (b_offset = 0) the integer rotation never grows; 12-bit
    round-to-nearest coefficients would (the reason for 23 floored fractional bits)."""
    dt = 0.01
    omega = np.linspace(1.0, 60.0, 40)
    from exporters.lava.plan import NeuronSpec

    pf = {"omega": omega, "b_offset": np.zeros(40), "theta": np.full(40, 100.0), "dt": np.full(40, dt),
          "p": brf_p_omega(omega, dt)}
    spec = NeuronSpec("c", 40, np.ones(40), np.ones(40), np.ones(40), np.zeros(40), np.zeros(40), np.zeros(40),
                      "none", True, 1, "brf", params=pf)
    qp, notes = brf_quantize(spec, 1000.0)
    assert (qp["A"].astype(float) ** 2 + qp["W"].astype(float) ** 2 <= 4.0 ** COEF_BITS).all()
    a12, w12 = np.round((1 + dt * brf_p_omega(4.0, dt)) * 4096), np.round(dt * 4.0 * 4096)
    assert a12 ** 2 + w12 ** 2 > 4096 ** 2  # 12-bit rounding: |rotation| > 1
    st = {"v": np.full(40, 10 ** 6, np.int64), "im": np.zeros(40, np.int64), "q": np.zeros(40, np.int64)}
    norm = np.hypot(st["v"], st["im"])
    for _ in range(3000):
        brf_step(st, np.zeros(40, np.int64), qp, True)
        new = np.hypot(st["v"].astype(float), st["im"].astype(float))
        assert (new <= norm + 1e-9).all()
        norm = new
    assert norm.min() > 0.99e6  # ... while it still oscillates (no spikes: theta = 6.4e6 state units)


def test_fixed_step_hand_computed():
    """One fixed-point step of each neuron against integer arithmetic written out by hand."""
    F = COEF_BITS
    p = {"A": np.array([8380000]), "W": np.array([335000]), "D": np.array([83886]), "Kq": np.array([1234567]),
         "Cq": np.array([7549747]), "TH": np.array([64000]), "ONE": np.array([64000]), "BIAS": np.array([-700])}
    st = {"v": np.array([70000]), "im": np.array([-30000]), "q": np.array([5000])}
    z = brf_step(st, np.array([300]), p, True)
    B = 8380000 - (5000 * 1234567 >> 24)
    u = (B * 70000 + 335000 * 30000 + 83886 * ((300 << 6) - 700)) >> F
    v = -((-(335000 * 70000 + B * -30000)) >> F)
    assert (st["v"][0], st["im"][0]) == (u, v)
    assert bool(z[0]) == (u > 64000 + 5000)
    assert st["q"][0] == (7549747 * 5000 >> F) + 64000 * int(z[0])
    p = {"Ca": np.array([6710886]), "C1a": np.array([1677722]), "Cb": np.array([8304721]), "Cw": np.array([5000000]),
         "JB": np.array([40000]), "TH": np.array([64000]), "BIAS": np.array([1000])}
    st = {"v": np.array([50000]), "w": np.array([2000])}
    z = se_adlif_step(st, np.array([1500]), p, True)
    u = (6710886 * 50000 + 1677722 * ((1500 << 6) + 1000 - (2000 << 2))) >> F  # w is stored at U/4
    s = u > 64000
    u = 0 if s else u
    assert st["v"][0] == u and bool(z[0]) == s
    assert st["w"][0] == ((8304721 * 2000 + 5000000 * u) >> F) + 40000 * s


def _float_emulator_equals_nir(g, x):
    """The float emulator reproduces the NIR graph in torch (spikes exactly, output to 1e-9);
    returns the torch executor (its records), the float emulator run and the cell's spikes (B, T, N)."""
    ex = from_nir(g)
    with torch.no_grad():
        ref = ex(torch.from_numpy(x).transpose(0, 1), record=True).transpose(0, 1).numpy()
    z = ex.records["cell"].transpose(0, 1).numpy()
    ef = emulate(build_plan(g, "float"), x)
    np.testing.assert_array_equal(ef.spikes["cell"], z)
    np.testing.assert_allclose(ef.output, ref, atol=1e-9)
    return ex, ef, z


@pytest.mark.parametrize("neuron,dt,gain", CASES)
def test_emulator_float_equals_torch_and_fixed_agrees(neuron, dt, gain):
    m = model(neuron, dt, gain)
    g = to_nir(m, dt=dt)
    x = spikes_in(3, 300, seed=3)
    ex, ef, z = _float_emulator_equals_nir(g, x)
    if neuron != "alif":  # membrane of the torch cell (zoo/neurons) == the Lava population's v
        with torch.no_grad():
            xt = torch.from_numpy(x).transpose(0, 1)
            h, us = m.cell.init_state(x.shape[0], torch.float64), []
            zt = torch.zeros(x.shape[0], 12, dtype=torch.float64)
            for t in range(x.shape[1]):
                h = m.cell.step(h, xt[t] @ m.w_in.T + zt @ m.w_rec.T)
                zt = m.cell.spike(h)
                us.append(h[..., 0] * (1 - zt) if neuron == "seadlif" else h[..., 0])  # SE-adLIF: post-reset
        np.testing.assert_allclose(ef.voltages["cell"], torch.stack(us, 1).numpy(), atol=1e-9)
    eq = emulate(build_plan(g, "fixed"), x)
    assert (eq.spikes["cell"] == z).mean() > 0.9


@pytest.mark.parametrize("neuron,dt,gain", CASES)
def test_lava_float_equals_torch_fixed_equals_emulator(neuron, dt, gain):
    """Real Lava: float == torch (spikes identical, membranes 1e-6); fixed == emulator bit for bit."""
    m = model(neuron, dt, gain, n=8)
    g = to_nir(m, dt=dt)
    x = spikes_in(2, 40, p=0.3, seed=4)
    ex = from_nir(g)
    with torch.no_grad():
        ref = ex(torch.from_numpy(x).transpose(0, 1), record=True).transpose(0, 1).numpy()
    pf, pq = build_plan(g, "float"), build_plan(g, "fixed")
    lf = run_lava(pf, x)
    np.testing.assert_array_equal(lf.spikes["cell"], ex.records["cell"].transpose(0, 1).numpy())
    assert lf.spikes["cell"].sum() > 0
    np.testing.assert_allclose(lf.output, ref, atol=1e-6)
    np.testing.assert_allclose(lf.voltages["cell"], emulate(pf, x).voltages["cell"], atol=1e-12)
    lq, eq = run_lava(pq, x), emulate(pq, x)
    for k in ("spikes", "voltages"):
        np.testing.assert_array_equal(getattr(lq, k)["cell"], getattr(eq, k)["cell"])
    np.testing.assert_array_equal(lq.output_raw, eq.output_raw)


def test_refusals():
    m = model("brf", 0.01, 80.0)
    with pytest.raises(NIRError, match="differs from the cell's Euler step"):
        to_nir(m, dt=1.0)
    g = to_nir(m, dt=0.01)
    g.metadata["dt"] = 0.02
    with pytest.raises(NIRError, match="written for dt"):
        build_plan(g, "float")


@pytest.mark.parametrize("neuron,dt,gain", CASES[:2])
def test_input_bias_reaches_the_population(neuron, dt, gain):
    """An Affine bias before the cell (not in the HYPR models) is applied by float and fixed."""
    g = to_nir(model(neuron, dt, gain), dt=dt)
    g.nodes["w_in"] = nir.Affine(weight=g.nodes["w_in"].weight, bias=np.linspace(-0.5, 2.0, 12))
    x = spikes_in(2, 200, seed=5)
    ex, ef, z = _float_emulator_equals_nir(g, x)
    g0 = to_nir(model(neuron, dt, gain), dt=dt)
    assert not np.array_equal(emulate(build_plan(g0, "float"), x).spikes["cell"], z)  # the bias matters
    assert (emulate(build_plan(g, "fixed"), x).spikes["cell"] == z).mean() > 0.85


@pytest.mark.parametrize("name", ["hypr-brf-ecg", "hypr-seadlif-ecg", "hypr-brf-bsd"])
def test_shipped_weights_export(name):
    """Shipped weights: the NIR export reproduces the trained model and the fixed-point
    emulator agrees on spikes (skips until the weights exist)."""
    if not (WEIGHTS / f"{name}.json").exists():
        pytest.skip(f"{name}: no shipped weights yet")
    import zoo
    from zoo.evaluate import load_eval_data

    x, _ = load_eval_data(name, 2)
    m = zoo.get_model(name).double().eval()
    dt = json.loads((WEIGHTS / f"{name}.json").read_text())["meta"]["dt"]
    g = to_nir(m, dt=dt)
    x = x[:, :400].double()
    ex = from_nir(g)
    with torch.no_grad():
        y, z = m(x.transpose(0, 1), return_spikes=True)
        y2 = ex(x.transpose(0, 1), record=True)
    np.testing.assert_allclose(y2.numpy(), y.numpy(), atol=1e-8)
    np.testing.assert_array_equal(ex.records["cell"].numpy(), z.numpy())
    pf, pq = build_plan(g, "float"), build_plan(g, "fixed")
    eq = emulate(pq, x.numpy())
    for d in pf.denses:  # float run with the 8-bit weights of the fixed plan
        d.weight = pq.weights[d.name] * 2.0 ** pq.weight_exp[d.name] / pq.scale[d.dst]
    ew = emulate(pf, x.numpy())
    # the recurrent networks amplify the 8-bit weight rounding: a float run with the rounded
    # weights matches torch no better than the fixed-point run, whose integer neuron
    # arithmetic stays close to that float run (numbers: benchmarks/hypr/lava_agreement.py)
    assert (eq.spikes["cell"] == z.transpose(0, 1).numpy()).mean() > 0.7
    assert (eq.spikes["cell"] == ew.spikes["cell"]).mean() > 0.85
