"""NIR -> Lava compiler, Lava processes (float and fixed) and the bit-exact emulator."""
from __future__ import annotations

import nir
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exporters.lava import build_plan, emulate, run_lava
from exporters.nir import NIRError
from nir_graphs import I, chain, lif, spikes_in, torch_ref


def test_zoo_neuron_fixed_matches_lava_lif_bit_acc():
    """Our fixed-point neuron reproduces Lava's own PyLifModelBitAcc voltage trace exactly."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.dense.process import Dense
    from lava.proc.io.source import RingBuffer
    from lava.proc.lif.process import LIF
    from lava.proc.monitor.process import Monitor

    from exporters.lava.procs.zoo_neuron import ZooNeuron

    n, steps = 6, 40
    rng = np.random.default_rng(3)
    data = (rng.random((4, steps)) < 0.5).astype(np.int32)
    w = rng.integers(-100, 120, (n, 4)) * 2
    src = RingBuffer(data=data)
    d1, d2 = Dense(weights=w, weight_exp=1), Dense(weights=w, weight_exp=1)
    kw = dict(du=300, dv=200, bias_mant=np.arange(n) * 7 - 10)
    ref = LIF(shape=(n,), vth=90, bias_exp=2, **kw)
    ours = ZooNeuron(shape=(n,), du=np.full(n, 300), dv=np.full(n, 200), vth=np.full(n, 90), bias_u=np.zeros(n),
                     bias_v=(np.arange(n) * 7 - 10) << 2, v_reset=np.zeros(n))
    src.s_out.connect(d1.s_in)
    src.s_out.connect(d2.s_in)
    d1.a_out.connect(ref.a_in)
    d2.a_out.connect(ours.a_in)
    m1, m2 = Monitor(), Monitor()
    m1.probe(ref.v, steps)
    m2.probe(ours.v, steps)
    try:
        src.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        v_ref = m1.get_data()[ref.name]["v"]
        v_ours = m2.get_data()[ours.name]["v"]
    finally:
        src.stop()
    assert np.abs(v_ref).max() > 0
    np.testing.assert_array_equal(v_ours, v_ref)


@pytest.fixture(scope="module")
def lif_digits_graph():
    import zoo
    from zoo.evaluate import export_graph

    return export_graph("lif-digits", zoo.get_model("lif-digits"))


def test_lif_digits_lava_float_equals_torch_and_fixed_is_bit_exact(lif_digits_graph):
    from zoo.tasks.digits import load

    x, _ = load("test", n=6)
    x = x.numpy()
    ref_out, rec = torch_ref(lif_digits_graph, x)
    pf, pq = build_plan(lif_digits_graph, "float"), build_plan(lif_digits_graph, "fixed")
    assert pf.latency == 2
    lf, lq, eq = run_lava(pf, x), run_lava(pq, x), emulate(pq, x)
    np.testing.assert_array_equal(lf.output, ref_out)
    for k in ("lif1", "lif2"):
        np.testing.assert_array_equal(lf.spikes[k], rec[k])
        np.testing.assert_array_equal(lq.spikes[k], eq.spikes[k])
        np.testing.assert_array_equal(lq.voltages[k], eq.voltages[k])
    assert ref_out.sum() > 20
    assert (eq.spikes["lif1"] == rec["lif1"]).mean() > 0.97


def test_recurrent_graph_matches_previous_step_semantics():
    """A LIF layer with a recurrent Linear (cycle): torch executor = hand loop = Lava float;
    Lava fixed = emulator bit for bit."""
    rng = np.random.default_rng(0)
    n_in, n = 4, 6
    w_in, w_rec = rng.normal(0, 0.8, (n, n_in)), rng.normal(0, 0.5, (n, n))
    tau = np.linspace(2e-3, 8e-3, n)
    nodes = {"input": nir.Input(input_type={"input": I([n_in])}), "fc": nir.Linear(weight=w_in),
             "lif": lif(n, tau, 1.0, reset="subtract"), "rec": nir.Linear(weight=w_rec),
             "output": nir.Output(output_type={"output": I([n])})}
    edges = [("input", "fc"), ("fc", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "output")]
    g = nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": 1e-3})
    x = spikes_in(3, 30, n_in, 0.4)
    out, _ = torch_ref(g, x)
    # hand loop: v = (1-dt/tau) v + W x_t + V s_{t-1}; subtractive reset
    beta, v, s = 1 - 1e-3 / tau, np.zeros((3, n)), np.zeros((3, n))
    hand = []
    for t in range(30):
        v = beta * v + x[:, t] @ w_in.T + s @ w_rec.T
        s = (v > 1.0).astype(float)
        v = v - s
        hand.append(s)
    np.testing.assert_array_equal(out, np.stack(hand, 1))
    assert out.sum() > 10
    pf, pq = build_plan(g, "float"), build_plan(g, "fixed")
    assert pf.latency == 1 and any(d.recurrent for d in pf.denses)
    np.testing.assert_array_equal(run_lava(pf, x).output, out)
    lq, eq = run_lava(pq, x), emulate(pq, x)
    np.testing.assert_array_equal(lq.spikes["lif"], eq.spikes["lif"])
    np.testing.assert_array_equal(lq.voltages["lif"], eq.voltages["lif"])


def test_li_readout_exposes_voltage_and_dense_readout():
    rng = np.random.default_rng(1)
    w1, w2 = rng.normal(0, 1, (8, 5)), rng.normal(0, 1, (3, 8))
    tau = np.full(3, 5e-3)
    g = chain(5, [(w1, rng.normal(0, .1, 8), lif(8, 4e-3, 1.0)),
                  (w2, None, nir.LI(tau=tau, r=tau / 1e-3, v_leak=np.zeros(3)))])
    x = spikes_in(2, 25, 5, 0.5)
    out, _ = torch_ref(g, x)
    pf, pq = build_plan(g, "float"), build_plan(g, "fixed")
    assert pf.output_kind == "v"
    lf = run_lava(pf, x)
    np.testing.assert_allclose(lf.output, out, atol=1e-9)
    eq = emulate(pq, x)
    # fixed point: small voltage error, except after a rare flipped hidden spike
    assert np.abs(eq.output - out).mean() < 0.02 * np.abs(out).max()


CUBA = st.sampled_from(["LIF", "CubaLIF", "IF"])


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sizes=st.lists(st.integers(2, 7), min_size=1, max_size=3), kinds=st.lists(CUBA, min_size=3, max_size=3),
       seed=st.integers(0, 10_000), reset=st.sampled_from(["zero", "subtract"]))
def test_random_chains_lava_vs_emulator(sizes, kinds, seed, reset):
    """Random feedforward graphs: Lava fixed == emulator bit for bit, Lava float == emulator
    float to 1e-9 and == the torch executor's spikes."""
    rng = np.random.default_rng(seed)
    n_in, layers, prev = 4, [], 4
    for n, kind in zip(sizes, kinds):
        thr = rng.uniform(0.5, 1.5, n)
        if kind == "LIF":
            neuron = lif(n, rng.uniform(2e-3, 2e-2, n), thr, reset)
        elif kind == "IF":
            neuron = nir.IF(r=np.full(n, 1e3), v_threshold=thr, v_reset=np.zeros(n), metadata={"zoo.reset": reset})
        else:
            ts, tm = rng.uniform(2e-3, 1e-2, n), rng.uniform(2e-3, 2e-2, n)
            neuron = nir.CubaLIF(tau_syn=ts, tau_mem=tm, r=tm / 1e-3, v_leak=np.zeros(n), v_threshold=thr,
                                 v_reset=np.zeros(n), w_in=ts / 1e-3, metadata={"zoo.reset": reset})
        layers.append((rng.normal(0.3, 1.0, (n, prev)), None, neuron))
        prev = n
    g = chain(n_in, layers)
    x = spikes_in(2, 15, n_in, 0.5, seed)
    out, rec = torch_ref(g, x)
    pf, pq = build_plan(g, "float"), build_plan(g, "fixed")
    ef, lf = emulate(pf, x), run_lava(pf, x)
    for k in ef.voltages:
        np.testing.assert_allclose(lf.voltages[k], ef.voltages[k], atol=1e-9)
    for k in ef.spikes:
        assert (ef.spikes[k] == rec[k]).mean() >= 0.999
    eq, lq = emulate(pq, x), run_lava(pq, x)
    for k in eq.spikes:
        np.testing.assert_array_equal(lq.spikes[k], eq.spikes[k])
        np.testing.assert_array_equal(lq.voltages[k], eq.voltages[k])


def test_compiler_errors_name_the_node():
    w = np.ones((3, 3))
    g = chain(3, [(w, None, lif(3, 5e-3, 1.0))])
    g.nodes["d"] = nir.Delay(delay=np.ones(3))
    g.edges = [("input", "d"), ("d", "fc0"), ("fc0", "n0"), ("n0", "output")]
    with pytest.raises(NIRError, match="'d'.*Delay"):
        build_plan(g, "float")
    g = chain(3, [(w, None, lif(3, 5e-3, -1.0))])
    with pytest.raises(NIRError, match="'n0'.*'v_threshold' must be > 0"):
        build_plan(g, "fixed")
    g = chain(3, [(w, None, lif(3, 0.5e-3, 1.0))])
    with pytest.raises(NIRError, match="'n0'.*shorter than the step"):
        build_plan(g, "float")
    g = chain(3, [(w, None, lif(3, 5e-3, 1.0)), (w, None, lif(3, 5e-3, 1.0))])
    g.nodes["skip"] = nir.Linear(weight=w)
    g.edges += [("input", "skip"), ("skip", "n1")]
    with pytest.raises(NIRError, match="'n1'.*different numbers of Dense stages"):
        build_plan(g, "float")
    g = chain(3, [(w, None, lif(3, 5e-3, 1.0))])
    del g.nodes["input"]
    g.edges = g.edges[1:]
    with pytest.raises(NIRError, match="exactly one Input.*found 0 Input"):
        build_plan(g, "float")


def test_fixed_point_refuses_graded_inputs():
    g = chain(3, [(np.ones((2, 3)), None, lif(2, 5e-3, 1.0))])
    with pytest.raises(NIRError, match="binary spike inputs"):
        emulate(build_plan(g, "fixed"), np.full((1, 4, 3), 0.5))


def test_quantization_report_counts_rounding():
    w = np.array([[1.0, 1e-4, -0.5]])
    q = build_plan(chain(3, [(w, None, lif(1, 5e-3, 1.0))]), "fixed")
    rep = q.report["n0"]
    assert rep.weights_zeroed == 1 and rep.weights_saturated == 0
    assert 0 < rep.max_abs_weight_error < 1e-2
    assert np.all(q.weights["__input__->n0"] % 2 == 0)  # mixed-sign weights are even


def test_graded_inputs_and_readout_bias_fixed_point():
    """Direct (graded) input encoding, multiples of 1/16, and an Affine readout with bias:
    Lava fixed == emulator bit for bit; float plan == torch executor."""
    rng = np.random.default_rng(5)
    n_in, n = 6, 5
    g = chain(n_in, [(rng.normal(0.2, 0.8, (n, n_in)), rng.normal(0, 0.1, n), lif(n, 3e-3, 0.7, "subtract"))])
    g.nodes["readout"] = nir.Affine(weight=rng.normal(0, 1, (3, n)), bias=np.array([0.5, -0.25, 0.0]))
    g.nodes["output"] = nir.Output(output_type={"output": I([3])})
    g.edges = [e for e in g.edges if e[1] != "output"] + [("n0", "readout"), ("readout", "output")]
    x = np.round(rng.random((3, 12, n_in)) * 16) / 16
    out, _ = torch_ref(g, x)
    pf = build_plan(g, "float")
    np.testing.assert_allclose(emulate(pf, x).output, out, atol=1e-9)
    with pytest.raises(NIRError, match="binary spike inputs"):
        emulate(build_plan(g, "fixed"), x)
    pq = build_plan(g, "fixed", input_frac_bits=4)
    with pytest.raises(NIRError, match="multiples of 2"):
        emulate(pq, x + 1e-3)
    eq, lq = emulate(pq, x), run_lava(pq, x)
    np.testing.assert_array_equal(lq.output_raw, eq.output_raw)
    np.testing.assert_array_equal(lq.spikes["n0"], eq.spikes["n0"])
    assert np.abs(eq.output - out).mean() < 0.05 * np.abs(out).max()


def test_delay_nodes_map_to_delay_dense():
    """NIR Delay (whole steps) on a fan-in path and on the readout: Lava DelayDense, torch ==
    Lava float, Lava fixed == emulator; samples end with silent steps so delays never leak."""
    rng = np.random.default_rng(0)
    n_in, n = 4, 5
    nodes = {"input": nir.Input(input_type={"input": I([n_in])}),
             "fast": nir.Linear(weight=rng.normal(0.4, 0.6, (n, n_in))),
             "slow": nir.Linear(weight=rng.normal(0.4, 0.6, (n, n_in))),
             "delay": nir.Delay(delay=np.full(n, 3e-3)), "lif": lif(n, 5e-3, 1.0),
             "out": nir.Linear(weight=rng.normal(0, 1, (2, n))), "d2": nir.Delay(delay=np.full(2, 2e-3)),
             "output": nir.Output(output_type={"output": I([2])})}
    edges = [("input", "fast"), ("input", "slow"), ("slow", "delay"), ("delay", "lif"), ("fast", "lif"),
             ("lif", "out"), ("out", "d2"), ("d2", "output")]
    g = nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": 1e-3})
    x = spikes_in(3, 20, n_in, 0.4)
    out, rec = torch_ref(g, x)
    pf = build_plan(g, "float")
    assert sorted(d.delay for d in pf.denses) == [0, 2, 3]
    lf = run_lava(pf, x)
    np.testing.assert_array_equal(lf.spikes["lif"], rec["lif"])
    np.testing.assert_allclose(lf.output, out, atol=1e-12)
    pq = build_plan(g, "fixed")
    lq, eq = run_lava(pq, x), emulate(pq, x)
    np.testing.assert_array_equal(lq.spikes["lif"], eq.spikes["lif"])
    np.testing.assert_array_equal(lq.output_raw, eq.output_raw)
    assert rec["lif"].sum() > 20
    g.nodes["delay"] = nir.Delay(delay=np.full(n, 2.5e-3))
    with pytest.raises(NIRError, match="'delay'.*whole number of steps"):
        build_plan(g, "float")
