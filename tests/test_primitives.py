"""Every NIR primitive the Lava compiler maps, on every backend.

Each graph runs through the torch executor (``exporters.nir.from_nir``), the float emulator,
real Lava float, real Lava fixed point and the fixed-point emulator:
  Lava float == torch (spikes exactly, graded outputs to 1e-6) == float emulator (voltages 1e-9);
  Lava fixed == fixed emulator, bit for bit (spikes, every population's voltage, output).
Primitives are grouped into three graphs to keep the number of Lava runs (3-5 s each) low:
  conv2d:  Conv2d (stride 2, padding 1) -> LIF (zero reset, v_leak != 0, v_reset != 0)
           -> SumPool2d -> Flatten -> Affine -> IF (subtract) -> Linear -> LI readout
  conv1d:  Conv1d (stride 2, padding 1, bias) -> CubaLIF (subtract) -> Flatten -> Scale
           -> Affine (bias) -> Threshold -> Linear -> CubaLI readout
  nested:  AvgPool2d -> Flatten -> {Linear -> LIF, Linear -> CubaLIF (Affine bias, zero reset
           to v_reset != 0)} -> fan-in of two Linear paths -> nested NIRGraph holding a LIF
           with a recurrent Linear (cycle) -> Linear -> I readout
Independent hand-computed references check the executor's equations on a few steps; a slow
hypothesis test draws random conv/pool/neuron graphs; an xfail documents the fixed-point
CubaLIF current headroom limit.
"""
from __future__ import annotations

import nir
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exporters.lava import build_plan, emulate, run_lava
from nir_graphs import I, lif, spikes_in, torch_ref

DT = 1e-3


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def conv2d_graph(seed: int = 0) -> nir.NIRGraph:
    rng = _rng(seed)
    shp = (2, 4, 4)
    tau = rng.uniform(3e-3, 1e-2, shp)
    tau_li = np.full(3, 6e-3)
    r_if = rng.uniform(800, 1200, 5)
    nodes = {
        "input": nir.Input(input_type={"input": I([1, 8, 8])}),
        "conv": nir.Conv2d(input_shape=(8, 8), weight=rng.normal(0.3, 0.4, (2, 1, 3, 3)), stride=(2, 2),
                           padding=(1, 1), dilation=(1, 1), groups=1, bias=np.array([0.05, -0.05])),
        "lif": nir.LIF(tau=tau, r=tau / DT, v_leak=rng.uniform(0.05, 0.2, shp), v_threshold=rng.uniform(0.8, 1.2, shp),
                       v_reset=np.full(shp, -0.2), metadata={"zoo.reset": "zero"}),
        "pool": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        "flat": nir.Flatten(input_type={"input": I([2, 2, 2])}, start_dim=0, end_dim=-1),
        "fc": nir.Affine(weight=rng.normal(0.05, 0.3, (5, 8)), bias=rng.normal(0, 0.05, 5)),
        "if": nir.IF(r=r_if, v_threshold=rng.uniform(0.8, 1.2, 5), v_reset=np.zeros(5),
                     metadata={"zoo.reset": "subtract"}),
        "ro": nir.Linear(weight=rng.normal(0, 1, (3, 5))),
        "li": nir.LI(tau=tau_li, r=tau_li / DT, v_leak=np.array([0.0, 0.1, -0.1])),
        "output": nir.Output(output_type={"output": I([3])}),
    }
    chain = ["input", "conv", "lif", "pool", "flat", "fc", "if", "ro", "li", "output"]
    return nir.NIRGraph(nodes=nodes, edges=list(zip(chain[:-1], chain[1:])), metadata={"dt": DT})


def conv1d_graph(seed: int = 1) -> nir.NIRGraph:
    rng = _rng(seed)
    shp = (3, 6)
    ts, tm = rng.uniform(2e-3, 6e-3, shp), rng.uniform(4e-3, 1.2e-2, shp)
    ts2, tm2 = np.full(4, 3e-3), np.full(4, 8e-3)
    nodes = {
        "input": nir.Input(input_type={"input": I([2, 12])}),
        "conv": nir.Conv1d(input_shape=12, weight=rng.normal(0.1, 0.3, (3, 2, 3)), stride=2, padding=1, dilation=1,
                           groups=1, bias=np.array([0.1, 0.0, -0.1])),
        "cuba": nir.CubaLIF(tau_syn=ts, tau_mem=tm, r=tm / DT, v_leak=np.zeros(shp), v_threshold=np.full(shp, 0.9),
                            v_reset=np.zeros(shp), w_in=ts / DT, metadata={"zoo.reset": "subtract"}),
        "flat": nir.Flatten(input_type={"input": I(list(shp))}, start_dim=0, end_dim=-1),
        "scale": nir.Scale(scale=rng.uniform(0.5, 1.5, 18)),
        "fc": nir.Affine(weight=rng.normal(0.0, 0.3, (6, 18)), bias=rng.normal(0.05, 0.1, 6)),
        "thr": nir.Threshold(threshold=rng.uniform(0.3, 0.8, 6)),
        "ro": nir.Linear(weight=rng.normal(0, 1, (4, 6))),
        "cubali": nir.CubaLI(tau_syn=ts2, tau_mem=tm2, r=tm2 / DT, v_leak=np.zeros(4), w_in=ts2 / DT),
        "output": nir.Output(output_type={"output": I([4])}),
    }
    chain = ["input", "conv", "cuba", "flat", "scale", "fc", "thr", "ro", "cubali", "output"]
    return nir.NIRGraph(nodes=nodes, edges=list(zip(chain[:-1], chain[1:])), metadata={"dt": DT})


def nested_graph(seed: int = 2) -> nir.NIRGraph:
    rng = _rng(seed)
    n = 7
    ts, tm = np.full(5, 3e-3), rng.uniform(4e-3, 1e-2, 5)
    rnn = nir.NIRGraph(
        nodes={"input": nir.Input(input_type={"input": I([n])}),
               "lif": lif(n, rng.uniform(4e-3, 1e-2, n), rng.uniform(0.8, 1.2, n), reset="subtract"),
               "rec": nir.Linear(weight=rng.normal(0, 0.5, (n, n))),
               "output": nir.Output(output_type={"output": I([n])})},
        edges=[("input", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "output")])
    nodes = {
        "input": nir.Input(input_type={"input": I([1, 4, 4])}),
        "pool": nir.AvgPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        "flat": nir.Flatten(input_type={"input": I([1, 2, 2])}, start_dim=0, end_dim=-1),
        "la": nir.Linear(weight=rng.normal(0.5, 0.8, (6, 4))),
        "pa": lif(6, rng.uniform(3e-3, 1e-2, 6), 0.7, reset="subtract"),
        "lb": nir.Affine(weight=rng.normal(0.2, 0.3, (5, 4)), bias=np.full(5, 0.05)),
        "pb": nir.CubaLIF(tau_syn=ts, tau_mem=tm, r=tm / DT, v_leak=np.zeros(5), v_threshold=np.full(5, 0.6),
                          v_reset=np.full(5, 0.1), w_in=ts / DT, metadata={"zoo.reset": "zero"}),
        "ma": nir.Linear(weight=rng.normal(0.1, 0.5, (n, 6))),
        "mb": nir.Linear(weight=rng.normal(0.1, 0.5, (n, 5))),
        "rnn": rnn,
        "ro": nir.Linear(weight=rng.normal(0, 1, (3, n))),
        "integ": nir.I(r=np.array([100.0, 200.0, 50.0])),
        "output": nir.Output(output_type={"output": I([3])}),
    }
    edges = [("input", "pool"), ("pool", "flat"), ("flat", "la"), ("la", "pa"), ("flat", "lb"), ("lb", "pb"),
             ("pa", "ma"), ("pb", "mb"), ("ma", "rnn"), ("mb", "rnn"), ("rnn", "ro"), ("ro", "integ"),
             ("integ", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": DT})


GRAPHS = {
    "conv2d": (conv2d_graph, (1, 8, 8), {"lif": "LIF", "if": "IF", "li": "LI"}, 3),
    "conv1d": (conv1d_graph, (2, 12), {"cuba": "CubaLIF", "thr": "Threshold", "cubali": "CubaLI"}, 3),
    "nested": (nested_graph, (1, 4, 4), {"pa": "LIF", "pb": "CubaLIF", "rnn.lif": "LIF", "integ": "I"}, 3),
}


def check_all_backends(graph: nir.NIRGraph, x: np.ndarray, kinds: dict[str, str], latency: int) -> dict:
    """The agreement contract of this file; returns the results for further checks."""
    out, rec = torch_ref(graph, x)
    pf = build_plan(graph, "float")
    assert {k: pf.neurons[k].kind for k in kinds} == kinds
    assert pf.latency == latency
    ef, lf = emulate(pf, x), run_lava(pf, x)
    spiking = [k for k in kinds if pf.neurons[k].spiking]
    for k in spiking:
        assert 0 < rec[k].sum() < 0.9 * rec[k].size, f"{k}: degenerate activity {rec[k].mean():.3f}"
        np.testing.assert_array_equal(lf.spikes[k], rec[k].reshape(lf.spikes[k].shape), err_msg=k)
        np.testing.assert_array_equal(ef.spikes[k], lf.spikes[k], err_msg=k)
    for k in kinds:
        np.testing.assert_allclose(lf.voltages[k], ef.voltages[k], atol=1e-9, err_msg=k)
    assert np.abs(out).max() > 0
    np.testing.assert_allclose(lf.output, out, atol=1e-6)
    pq = build_plan(graph, "fixed")
    eq, lq = emulate(pq, x), run_lava(pq, x)
    for k in spiking:
        np.testing.assert_array_equal(lq.spikes[k], eq.spikes[k], err_msg=k)
    for k in kinds:
        assert np.abs(eq.voltages[k]).max() > 0
        np.testing.assert_array_equal(lq.voltages[k], eq.voltages[k], err_msg=k)
    np.testing.assert_array_equal(lq.output_raw, eq.output_raw)
    match = np.mean([(eq.spikes[k] == rec[k].reshape(eq.spikes[k].shape)).mean() for k in spiking])
    return {"torch": out, "records": rec, "float": lf, "fixed": lq, "fixed_spike_match": match}


@pytest.mark.parametrize("name", list(GRAPHS))
def test_primitive_graph_all_backends(name):
    build, in_shape, kinds, latency = GRAPHS[name]
    x = spikes_in(2, 25, in_shape, 0.4, seed=len(name))
    res = check_all_backends(build(), x, kinds, latency)
    assert res["fixed_spike_match"] > 0.85  # fixed point stays close to the float reference


def test_nested_graph_is_inlined_with_one_input_and_output():
    """Before the fix in exporters/nir/graph.py a nested graph's own Input/Output nodes were
    kept as extra Inputs/Outputs: the executor refused the graph ('exactly one Output') and fed
    the global input into the subgraph; the compiler refused it too."""
    g = nested_graph()
    plan = build_plan(g, "float")
    assert plan.mapping["rnn.input"] == plan.mapping["rnn.output"] == "fused into a Dense or convolution stage"
    assert any(d.recurrent and d.dst == "rnn.lif" for d in plan.denses)
    x = spikes_in(1, 6, (1, 4, 4), 0.5)
    _, rec = torch_ref(g, x)
    np.testing.assert_array_equal(rec["rnn.input"], rec["ma"] + rec["mb"])  # fan-in, not the graph input


# ---- hand-computed steps: the executor's equations, independent of the compiler -------------

def _one_neuron_graph(neuron: nir.NIRNode, n: int) -> nir.NIRGraph:
    nodes = {"input": nir.Input(input_type={"input": I([n])}), "neuron": neuron,
             "output": nir.Output(output_type={"output": I([n])})}
    return nir.NIRGraph(nodes=nodes, edges=[("input", "neuron"), ("neuron", "output")], metadata={"dt": DT})


def test_lif_hand_computed_with_leak_reset_and_strict_threshold():
    # tau = 4 ms, dt = 1 ms -> v <- v + 0.25*(v_leak - v + r*I); r = 2, v_leak = 0.4
    g = _one_neuron_graph(lif(1, 4e-3, 1.0, r=2.0, v_leak=0.4, v_reset=-0.5), 1)
    x = np.array([[[1.0], [1.0], [0.0], [0.0]]])
    v, hand = 0.0, []
    for v_exp, s_exp in ((0.6, 0), (1.05, 1), (-0.5 + 0.25 * (0.4 + 0.5), 0), (None, 0)):
        v = v + 0.25 * (0.4 - v + 2 * x[0, len(hand), 0])
        s = float(v > 1.0)
        if v_exp is not None:
            assert v == pytest.approx(v_exp) and s == s_exp
        v = -0.5 if s else v
        hand.append(s)
    out, _ = torch_ref(g, x)
    np.testing.assert_array_equal(out[0, :, 0], hand)
    # strict threshold: v exactly at threshold does not spike
    g = _one_neuron_graph(nir.IF(r=np.array([1e3]), v_threshold=np.array([1.0]), v_reset=np.zeros(1)), 1)
    out, _ = torch_ref(g, np.array([[[0.5], [0.5], [1e-9]]]))
    np.testing.assert_array_equal(out[0, :, 0], [0, 0, 1])


def test_cubalif_and_subtract_reset_hand_computed():
    # tau_syn = 2 ms, tau_mem = 4 ms, dt = 1 ms, w_in = 2, r = 4:
    # i <- i + 0.5*(2*I - i);  v <- v + 0.25*(4*i - v);  spike v > 0.9, v -= 0.9
    node = nir.CubaLIF(tau_syn=np.array([2e-3]), tau_mem=np.array([4e-3]), r=np.array([4.0]), v_leak=np.zeros(1),
                       v_threshold=np.array([0.9]), v_reset=np.zeros(1), w_in=np.array([2.0]),
                       metadata={"zoo.reset": "subtract"})
    x = np.array([[[0.5], [0.0], [0.0]]])
    out, _ = torch_ref(_one_neuron_graph(node, 1), x)
    # t0: i = 0.5, v = 0.5 (no spike); t1: i = 0.25, v = 0.375+0.25 = 0.625; t2: i = 0.125, v = 0.59375
    np.testing.assert_array_equal(out[0, :, 0], [0, 0, 0])
    x = np.array([[[1.0], [0.0]]])
    out, _ = torch_ref(_one_neuron_graph(node, 1), x)
    # t0: i = 1, v = 1.0 > 0.9 -> spike, v = 0.1; t1: i = 0.5, v = 0.075 + 0.5 = 0.575
    np.testing.assert_array_equal(out[0, :, 0], [1, 0])
    li = nir.CubaLI(tau_syn=np.array([2e-3]), tau_mem=np.array([4e-3]), r=np.array([4.0]), v_leak=np.zeros(1),
                    w_in=np.array([2.0]))
    out, _ = torch_ref(_one_neuron_graph(li, 1), x)
    np.testing.assert_allclose(out[0, :, 0], [1.0, 1.25])  # no reset: v = 1 + 0.25*(4*0.5 - 1)


def test_conv_and_pool_primitives_match_torch_ops():
    """Executor conv/pool (and the compiler's fused matrices) against torch.nn.functional directly."""
    g = conv2d_graph()
    x = spikes_in(1, 1, (1, 8, 8), 0.5, seed=3)
    _, rec = torch_ref(g, x)
    node = g.nodes["conv"]
    ref = torch.nn.functional.conv2d(torch.from_numpy(x[:, 0]), torch.from_numpy(np.asarray(node.weight)),
                                     torch.from_numpy(np.asarray(node.bias)), stride=2, padding=1)
    np.testing.assert_allclose(rec["conv"][:, 0], ref.numpy(), atol=1e-12)
    pooled = rec["lif"][:, 0].reshape(1, 2, 2, 2, 2, 2).sum(axis=(3, 5))
    np.testing.assert_allclose(rec["pool"][:, 0], pooled)
    plan = build_plan(g, "float")
    d = next(d for d in plan.denses if d.dst == "if")
    w_fc = np.asarray(g.nodes["fc"].weight)
    pool = np.zeros((8, 32))  # SumPool2d(2) on (2, 4, 4), C-order flattening
    for c, i, j, a, b in np.ndindex(2, 2, 2, 2, 2):
        pool[c * 4 + i * 2 + j, c * 16 + (2 * i + a) * 4 + 2 * j + b] = 1
    dense_ref = w_fc @ pool
    np.testing.assert_allclose(d.weight, np.asarray(g.nodes["if"].r)[:, None] * DT * dense_ref, atol=1e-12)


def test_pooling_accepts_integer_sizes():
    """snnTorch 1.0.0 writes AvgPool2d kernel_size/stride as plain ints; before the fix in
    exporters/nir/executor.py the executor (and the compiler, which reuses it) raised TypeError."""
    x = spikes_in(1, 3, (1, 4, 4), 0.5, seed=5)
    outs = []
    for pool in (nir.AvgPool2d(kernel_size=2, stride=2, padding=0),
                 nir.AvgPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0]))):
        nodes = {"input": nir.Input(input_type={"input": I([1, 4, 4])}), "pool": pool,
                 "flat": nir.Flatten(input_type={"input": I([1, 2, 2])}, start_dim=0, end_dim=-1),
                 "fc": nir.Linear(weight=np.eye(4)), "n": lif(4, 5e-3, 0.3),
                 "output": nir.Output(output_type={"output": I([4])})}
        chain = ["input", "pool", "flat", "fc", "n", "output"]
        g = nir.NIRGraph(nodes=nodes, edges=list(zip(chain[:-1], chain[1:])), metadata={"dt": DT})
        out, rec = torch_ref(g, x)
        np.testing.assert_allclose(rec["pool"][0, 0, 0], x[0, 0, 0].reshape(2, 2, 2, 2).mean(axis=(1, 3)))
        outs.append((out, build_plan(g, "float").denses[0].weight))
    np.testing.assert_array_equal(outs[0][0], outs[1][0])
    np.testing.assert_array_equal(outs[0][1], outs[1][1])


def _driven_cuba(weight_scale: float) -> nir.NIRGraph:
    rng = _rng(2)
    ts, tm = np.full(5, 3e-3), rng.uniform(4e-3, 1e-2, 5)
    nodes = {"input": nir.Input(input_type={"input": I([4])}),
             "lb": nir.Affine(weight=weight_scale * rng.normal(1.0, 0.8, (5, 4)), bias=np.full(5, 0.05)),
             "pb": nir.CubaLIF(tau_syn=ts, tau_mem=tm, r=tm / DT, v_leak=np.zeros(5), v_threshold=np.full(5, 0.6),
                               v_reset=np.full(5, 0.1), w_in=ts / DT, metadata={"zoo.reset": "zero"}),
             "output": nir.Output(output_type={"output": I([5])})}
    return nir.NIRGraph(nodes=nodes, edges=[("input", "lb"), ("lb", "pb"), ("pb", "output")], metadata={"dt": DT})


@pytest.mark.parametrize("weight_scale", [0.3, pytest.param(1.0, marks=pytest.mark.xfail(
    strict=True, reason="known limit: quantize.py budgets 24-bit headroom for v (threshold) but not for the "
                        "CubaLIF current u; a float current of ~11 (threshold 0.6) wraps around in Lava and the emulator"))])
def test_cubalif_fixed_point_current_headroom(weight_scale):
    """Fixed point vs float for a strongly driven CubaLIF (emulator = Lava bit for bit, tested above).
    At weight scale 1 the float current reaches ~11 (x S*64 > 2^23): Lava's u wraps, spikes diverge."""
    g = _driven_cuba(weight_scale)
    x = spikes_in(2, 40, 4, 0.4, seed=2)
    _, rec = torch_ref(g, x)
    eq = emulate(build_plan(g, "fixed"), x)
    assert (eq.spikes["pb"] == rec["pb"]).mean() > 0.99


@pytest.mark.slow
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), stride=st.sampled_from([1, 2]), padding=st.sampled_from([0, 1]),
       kernel=st.sampled_from([2, 3]), pool=st.sampled_from(["sum", "avg"]), reset=st.sampled_from(["zero", "subtract"]),
       kind=st.sampled_from(["LIF", "IF", "CubaLIF"]))
def test_random_conv_graphs_all_backends(seed, stride, padding, kernel, pool, reset, kind):
    """Random Conv2d -> neuron -> pool -> Flatten -> Affine -> LIF graphs (hypothesis)."""
    rng = _rng(seed)
    side = 6
    out_side = (side + 2 * padding - kernel) // stride + 1
    if out_side < 2:
        return
    shp = (2, out_side, out_side)
    thr = rng.uniform(0.5, 1.2, shp)
    if kind == "LIF":
        tau = rng.uniform(2e-3, 1e-2, shp)
        neuron = nir.LIF(tau=tau, r=tau / DT, v_leak=np.zeros(shp), v_threshold=thr, v_reset=np.zeros(shp),
                         metadata={"zoo.reset": reset})
    elif kind == "IF":
        neuron = nir.IF(r=np.full(shp, 1 / DT), v_threshold=thr, v_reset=np.zeros(shp), metadata={"zoo.reset": reset})
    else:
        ts, tm = rng.uniform(2e-3, 5e-3, shp), rng.uniform(3e-3, 1e-2, shp)
        neuron = nir.CubaLIF(tau_syn=ts, tau_mem=tm, r=tm / DT, v_leak=np.zeros(shp), v_threshold=thr,
                             v_reset=np.zeros(shp), w_in=ts / DT, metadata={"zoo.reset": reset})
    p = out_side // 2
    pool_node = (nir.SumPool2d if pool == "sum" else nir.AvgPool2d)(
        kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0]))
    n_flat = 2 * p * p
    nodes = {"input": nir.Input(input_type={"input": I([1, side, side])}),
             "conv": nir.Conv2d(input_shape=(side, side), weight=rng.normal(0.3, 0.5, (2, 1, kernel, kernel)),
                                stride=(stride, stride), padding=(padding, padding), dilation=(1, 1), groups=1,
                                bias=rng.normal(0, 0.05, 2)),
             "n0": neuron, "pool": pool_node,
             "flat": nir.Flatten(input_type={"input": I([2, p, p])}, start_dim=0, end_dim=-1),
             "fc": nir.Affine(weight=rng.normal(0.2, 0.6, (3, n_flat)), bias=rng.normal(0, 0.05, 3)),
             "n1": lif(3, 5e-3, 0.8, reset),
             "output": nir.Output(output_type={"output": I([3])})}
    chain = ["input", "conv", "n0", "pool", "flat", "fc", "n1", "output"]
    g = nir.NIRGraph(nodes=nodes, edges=list(zip(chain[:-1], chain[1:])), metadata={"dt": DT})
    x = spikes_in(2, 15, (1, side, side), 0.4, seed=seed)
    out, rec = torch_ref(g, x)
    pf, pq = build_plan(g, "float"), build_plan(g, "fixed")
    lf = run_lava(pf, x)
    for k in ("n0", "n1"):
        np.testing.assert_array_equal(lf.spikes[k], rec[k].reshape(lf.spikes[k].shape))
    np.testing.assert_array_equal(lf.output, out)
    eq, lq = emulate(pq, x), run_lava(pq, x)
    for k in ("n0", "n1"):
        np.testing.assert_array_equal(lq.spikes[k], eq.spikes[k])
        np.testing.assert_array_equal(lq.voltages[k], eq.voltages[k])


def test_cubalif_current_headroom_with_calibration():
    """The calibrated quantiser (a float run on other inputs bounds |u|, |v|) leaves the
    CubaLIF current room in 24 bits: the strongly driven case above agrees again."""
    g = _driven_cuba(1.0)
    x = spikes_in(2, 40, 4, 0.4, seed=2)
    _, rec = torch_ref(g, x)
    plan = build_plan(g, "fixed", calibrate=spikes_in(4, 40, 4, 0.4, seed=7))
    assert any("calibrated state range" in n for n in plan.report["pb"].notes)
    eq = emulate(plan, x)
    assert (eq.spikes["pb"] == rec["pb"]).mean() > 0.99
