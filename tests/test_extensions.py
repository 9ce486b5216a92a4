"""Zoo NIR extensions (alif, v_tap) through executor, Lava float/fixed and the emulator."""
from __future__ import annotations

import nir
import numpy as np
import pytest
import torch

from exporters.lava import build_plan, emulate, run_lava
from exporters.nir import NIRError, from_nir, read, to_nir, write
from exporters.nir.extensions import alif_node, v_tap_node


def star_like_graph(n_in=3, n=5, seed=0, readout="v"):
    rng = np.random.default_rng(seed)
    tau, tau_a = rng.uniform(2, 10, n), rng.uniform(5, 30, n)
    nodes = {"input": nir.Input(input_type={"input": np.array([n_in])}),
             "fc": nir.Affine(weight=rng.normal(0.5, 0.7, (n, n_in)), bias=rng.normal(0, .1, n)),
             "cell": alif_node(tau=tau, r=tau, v_threshold=np.ones(n), tau_adapt=tau_a, beta=np.full(n, 0.8)),
             "rec": nir.Linear(weight=rng.normal(0, 0.3, (n, n))),
             "readout": nir.Affine(weight=rng.normal(0, 1, (2, n)), bias=np.array([0.1, -0.2])),
             "output": nir.Output(output_type={"output": np.array([2])})}
    edges = [("input", "fc"), ("fc", "cell"), ("cell", "rec"), ("rec", "cell")]
    if readout == "v":
        nodes["tap"] = v_tap_node(n)
        edges += [("cell", "tap"), ("tap", "readout"), ("readout", "output")]
    else:
        edges += [("cell", "readout"), ("readout", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": 1.0}), (tau, tau_a, nodes)


def test_alif_executor_matches_hand_loop_and_roundtrips(tmp_path):
    g, (tau, tau_a, nodes) = star_like_graph()
    g = read(write(tmp_path / "alif.nir", g))  # plain nir.write / nir.read keep the extension
    assert g.nodes["cell"].metadata["zoo.neuron"] == "alif"
    x = np.random.default_rng(1).random((2, 40, 3))
    ex = from_nir(g)
    out = ex(torch.from_numpy(x).transpose(0, 1), record=True).transpose(0, 1).numpy()
    w, b = nodes["fc"].weight, nodes["fc"].bias
    v_rec, ro_w, ro_b = nodes["rec"].weight, nodes["readout"].weight, nodes["readout"].bias
    alpha, rho = 1 - 1 / tau, 1 - 1 / tau_a
    u, a, s, hand, spikes = np.zeros((2, 5)), np.zeros((2, 5)), np.zeros((2, 5)), [], []
    for t in range(40):  # STAR equations (zoo.neurons.star_alif)
        th = 1.0 + 0.8 * a
        v = alpha * u + x[:, t] @ w.T + b + s @ v_rec.T
        s = (v > th).astype(float)
        u = v - th * s
        a = rho * a + (1 - rho) * s
        hand.append(u @ ro_w.T + ro_b)
        spikes.append(s)
    np.testing.assert_allclose(out, np.stack(hand, 1), atol=1e-12)
    np.testing.assert_array_equal(ex.records["cell"].transpose(0, 1).numpy(), np.stack(spikes, 1))
    assert 0.05 < np.mean(spikes) < 0.9


@pytest.mark.parametrize("readout", ["v", "spikes"])
def test_alif_lava_float_equals_torch_fixed_bit_exact(readout):
    g, _ = star_like_graph(readout=readout)
    x = (np.random.default_rng(2).random((2, 30, 3)) < 0.5).astype(float)
    ref = from_nir(g)
    out = ref(torch.from_numpy(x).transpose(0, 1), record=True).transpose(0, 1).numpy()
    pf = build_plan(g, "float")
    lf = run_lava(pf, x)
    np.testing.assert_allclose(lf.output, out, atol=1e-9)
    np.testing.assert_array_equal(lf.spikes["cell"], ref.records["cell"].transpose(0, 1).numpy())
    pq = build_plan(g, "fixed")
    assert (pq.host_readout is not None) == (readout == "v")
    lq, eq = run_lava(pq, x), emulate(pq, x)
    np.testing.assert_array_equal(lq.spikes["cell"], eq.spikes["cell"])
    np.testing.assert_array_equal(lq.voltages["cell"], eq.voltages["cell"])
    np.testing.assert_array_equal(lq.output_raw, eq.output_raw)
    assert (eq.spikes["cell"] == lf.spikes["cell"]).mean() > 0.9


def test_unknown_extension_is_refused_by_name():
    g, _ = star_like_graph()
    g.nodes["cell"].metadata["zoo.neuron"] = "no_such_neuron"
    with pytest.raises(NIRError, match="'cell'.*unknown zoo extension 'no_such_neuron'"):
        from_nir(g)
    g.nodes["cell"].metadata.update({"zoo.neuron": "alif", "zoo.version": 99})
    with pytest.raises(NIRError, match="version 99"):
        build_plan(g, "float")


def test_star_model_export_matches_model():
    import zoo

    for name in ("star-gestures", "star-mackey-glass"):
        m = zoo.get_model(name, weights=None).double().eval()
        g = to_nir(m, dt=1.0)
        x = torch.rand(25, 2, m.fc_in.in_features, dtype=torch.float64)
        with torch.no_grad():
            np.testing.assert_allclose(from_nir(g)(x).numpy(), m(x).numpy(), atol=1e-10)
