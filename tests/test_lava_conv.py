"""Convolutions stay convolutions (issue 20, item 1): kernels in the plan, ``BatchedConv`` in Lava,
the emulator bit-exact with the Lava fixed-point run, no dense matrix at compile time, footprints
counting kernel weights, and shipped conv models unchanged (equal, bit for bit, to the dense
view of the same plan)."""
from __future__ import annotations

import time
import tracemalloc
from dataclasses import replace

import nir
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from exporters.lava.conv import ConvOp, conv_op
from exporters.lava.emulator import emulate
from exporters.lava.plan import ConvSpec, DenseSpec, compile_plan
from exporters.lava.quantize import quantize_plan
from exporters.nir.reference import simulate

I = np.array


def if_pop(shape, thr=1.0):
    return nir.IF(r=np.ones(shape), v_threshold=np.full(shape, thr), v_reset=np.zeros(shape))


def small_cnn(seed: int = 0, hw: int = 12) -> nir.NIRGraph:
    """The NIR paper's N-MNIST CNN in miniature (Sinabs export style: IF with r = 1, dt = 1):
    conv (stride 2, padding 1) -> IF -> grouped conv -> IF -> SumPool -> dilated conv -> IF ->
    AvgPool -> Flatten -> Affine -> IF."""
    rng = np.random.default_rng(seed)
    h = (hw + 2 - 3) // 2 + 1
    nodes = {
        "input": nir.Input(input_type={"input": I([2, hw, hw])}),
        "c0": nir.Conv2d(input_shape=(hw, hw), weight=rng.normal(0.4, 0.5, (4, 2, 3, 3)), stride=2, padding=1,
                         dilation=1, groups=1, bias=rng.normal(0, 0.05, 4)),
        "n0": if_pop((4, h, h)),
        "c1": nir.Conv2d(input_shape=(h, h), weight=rng.normal(0.3, 0.5, (4, 2, 3, 3)), stride=1, padding=1,
                         dilation=1, groups=2, bias=np.zeros(4)),
        "n1": if_pop((4, h, h)),
        "p1": nir.SumPool2d(kernel_size=I([2, 2]), stride=I([2, 2]), padding=I([0, 0])),
        "c2": nir.Conv2d(input_shape=(h // 2, h // 2), weight=rng.normal(0.2, 0.4, (6, 4, 2, 2)), stride=1,
                         padding=1, dilation=2, groups=1, bias=np.zeros(6)),
        "n2": if_pop((6, h // 2, h // 2)),
        "p2": nir.AvgPool2d(kernel_size=I([3, 3]), stride=I([3, 3]), padding=I([0, 0])),
        "flat": nir.Flatten(input_type={"input": I([6, 1, 1])}, start_dim=0, end_dim=-1),
        "fc": nir.Affine(weight=rng.normal(0.3, 0.6, (5, 6)), bias=np.zeros(5)),
        "n3": if_pop((5,)),
        "output": nir.Output(output_type={"output": I([5])}),
    }
    nodes["c1"].input_type = {"input": I([4, h, h])}  # nir infers C_in = weight.shape[1], ignoring groups
    order = ["input", "c0", "n0", "c1", "n1", "p1", "c2", "n2", "p2", "flat", "fc", "n3", "output"]
    return nir.NIRGraph(nodes=nodes, edges=list(zip(order[:-1], order[1:])), metadata={"dt": 1.0})


def spikes(batch, steps, shape, p=0.3, seed=1):
    return (np.random.default_rng(seed).random((batch, steps, *shape)) < p).astype(np.float64)


@pytest.mark.parametrize("stride,padding,dilation,groups", [(1, 0, 1, 1), (2, 1, 1, 2), (1, 2, 2, 4), (3, 1, 2, 1)])
def test_conv_op_matches_torch(stride, padding, dilation, groups):
    rng = np.random.default_rng(stride + 10 * padding)
    w = rng.normal(size=(8, 4 // groups, 3, 3))
    node = nir.Conv2d(input_shape=(9, 7), weight=w, stride=stride, padding=padding, dilation=dilation, groups=groups,
                      bias=np.zeros(8))
    op, _ = conv_op("c", node, (4, 9, 7))
    x = rng.normal(size=(3, 4, 9, 7))
    ref = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), stride=stride, padding=padding, dilation=dilation,
                   groups=groups).numpy()
    np.testing.assert_allclose(op.apply(x.reshape(3, -1)), ref.reshape(3, -1), atol=1e-12)
    xi = rng.integers(0, 2, (3, op.n_in))
    wi = rng.integers(-256, 255, w.shape)
    exact = op.with_weight(wi).apply(xi)
    assert exact.dtype == np.int64
    np.testing.assert_array_equal(exact, op.with_weight(wi.astype(float)).apply(xi.astype(float)))


def test_conv1d_and_pools_match_torch():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(3, 2, 3))
    op, b = conv_op("c", nir.Conv1d(input_shape=11, weight=w, stride=2, padding=1, dilation=1, groups=1,
                                    bias=I([1.0, 2.0, 3.0])), (2, 11))
    x = rng.normal(size=(2, 2, 11))
    ref = F.conv1d(torch.from_numpy(x), torch.from_numpy(w), torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64),
                   stride=2, padding=1).numpy()
    np.testing.assert_allclose(op.apply(x.reshape(2, -1)) + b, ref.reshape(2, -1), atol=1e-12)
    x2 = torch.from_numpy(rng.normal(size=(2, 3, 6, 6)))
    avg, _ = conv_op("p", nir.AvgPool2d(kernel_size=I([2, 2]), stride=I([2, 2]), padding=I([1, 1])), (3, 6, 6))
    summed, _ = conv_op("p", nir.SumPool2d(kernel_size=I([3, 3]), stride=I([2, 2]), padding=I([0, 0])), (3, 6, 6))
    np.testing.assert_allclose(avg.apply(x2.reshape(2, -1).numpy()),
                               F.avg_pool2d(x2, 2, 2, 1, count_include_pad=True).reshape(2, -1).numpy(), atol=1e-12)
    np.testing.assert_allclose(summed.apply(x2.reshape(2, -1).numpy()),
                               9 * F.avg_pool2d(x2, 3, 2).reshape(2, -1).numpy(), atol=1e-12)
    assert avg.uniform and summed.uniform


def test_small_cnn_plan_keeps_kernels_and_matches_the_float_reference():
    g = small_cnn()
    plan = compile_plan(g)
    assert {d.name: type(d).__name__ for d in plan.denses} == {
        "__input__->n0": "ConvSpec", "n0->n1": "ConvSpec", "n1->n2": "ConvSpec", "n2->n3": "ConvSpec"}
    chain = next(d for d in plan.denses if d.name == "n1->n2")
    assert len(chain.ops) == 2 and np.all(chain.ops[0].weight == 1)  # SumPool sum, then the dilated conv
    x = spikes(3, 12, (2, 12, 12))
    res = emulate(plan, x)
    _, rec = simulate(g, x, 1.0)
    for n in ("n0", "n1", "n2", "n3"):
        np.testing.assert_array_equal(res.spikes[n], rec[n].reshape(res.spikes[n].shape))
    assert all(res.spikes[n].any() for n in ("n0", "n1", "n2", "n3"))  # activity reaches every layer


@pytest.fixture(scope="module")
def cnn_runs():
    """Emulator and Lava runs of the small CNN, float and fixed, batched and one sample per step."""
    from exporters.lava.build import run_lava

    g = small_cnn()
    plan = compile_plan(g)
    fixed = quantize_plan(plan)
    x = spikes(3, 10, (2, 12, 12))
    return {"x": x, "plan": plan, "fixed": fixed,
            "emu_fixed": emulate(fixed, x), "emu_float": emulate(plan, x),
            "lava_fixed": run_lava(fixed, x, batch_size=3), "lava_fixed_1": run_lava(fixed, x, batch_size=1),
            "lava_float": run_lava(plan, x, batch_size=3)}


def test_lava_fixed_conv_is_bit_exact_with_the_emulator(cnn_runs):
    emu = cnn_runs["emu_fixed"]
    for key in ("lava_fixed", "lava_fixed_1"):
        run = cnn_runs[key]
        for n in emu.spikes:
            np.testing.assert_array_equal(run.spikes[n], emu.spikes[n])
            np.testing.assert_array_equal(run.voltages[n], emu.voltages[n])
        np.testing.assert_array_equal(run.output_raw, emu.output_raw)
    assert sum(int(emu.spikes[n].sum()) for n in emu.spikes) > 0


def test_lava_float_conv_is_close_to_the_emulator(cnn_runs):
    emu, run = cnn_runs["emu_float"], cnn_runs["lava_float"]
    for n in emu.spikes:
        np.testing.assert_array_equal(run.spikes[n], emu.spikes[n])
        np.testing.assert_allclose(run.voltages[n], emu.voltages[n], atol=1e-9)


def test_conv_kernels_are_quantised_per_layer_and_footprint_counts_them():
    from zoo.hardware import deployment
    from zoo.metrics import WEIGHT_EXP_BYTES, fixed_footprint

    plan = compile_plan(small_cnn())
    fixed = quantize_plan(plan)
    for d in plan.denses:
        w = fixed.weights[d.name]
        if isinstance(d, ConvSpec):
            assert w.shape == getattr(d.ops[-1], "weight", d.ops[-1]).shape  # the last kernel (or the fc after a pool)
        assert w.dtype == np.int64 and np.abs(w).max() <= 256
    kernel_bytes = sum(np.size(w) for w in fixed.weights.values()) + WEIGHT_EXP_BYTES * len(fixed.weights)
    assert fixed_footprint(fixed)["weights"] == kernel_bytes == 4 * 2 * 9 + 4 * 2 * 9 + 6 * 4 * 4 + 5 * 6 + 4
    rows = {r["population"]: r for r in deployment(fixed)["populations"]}
    assert rows["n0"]["synaptic_memory_bits"] == 8 * (4 * 2 * 9) + 8
    assert rows["n2"]["fan_in_max"] <= 4 * 4 * 4  # 4 channels x 4 taps x a 2x2 SumPool window
    dense = replace(plan, denses=[DenseSpec(d.name, d.src, d.dst, d.weight, d.recurrent, d.signal, d.delay)
                                  for d in plan.denses])
    assert {r["population"]: r["fan_in_max"] for r in deployment(quantize_plan(dense))["populations"]} == \
        {n: r["fan_in_max"] for n, r in rows.items()}


def test_conv_plan_never_builds_a_dense_matrix():
    """A 128x128 two-channel conv into 16 channels: the dense path needed a 262144 x 32768 matrix
    (68 GB); the plan holds the 288-value kernel, compiles in well under a second with little memory."""
    w = np.random.default_rng(0).normal(0.2, 0.3, (16, 2, 3, 3))
    g = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": I([2, 128, 128])}),
                            "conv": nir.Conv2d(input_shape=(128, 128), weight=w, stride=1, padding=1, dilation=1,
                                               groups=1, bias=np.zeros(16)),
                            "n": if_pop((16, 128, 128)),
                            "output": nir.Output(output_type={"output": I([16, 128, 128])})},
                     edges=[("input", "conv"), ("conv", "n"), ("n", "output")], metadata={"dt": 1.0})
    tracemalloc.start()
    t0 = time.time()
    plan = compile_plan(g)
    fixed = quantize_plan(plan)
    seconds = time.time() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert isinstance(plan.denses[0], ConvSpec) and fixed.weights["__input__->n"].shape == (16, 2, 3, 3)
    assert seconds < 5 and peak < 64 * 2 ** 20, (seconds, peak)
    res = emulate(fixed, spikes(1, 2, (2, 128, 128), p=0.5))
    assert res.spikes["n"].shape == (1, 2, 16 * 128 * 128)


def test_conv_stages_equal_their_dense_view_bit_for_bit():
    """The shipped conv model (stop-digits-conv) and the small CNN: every convolution stage replaced by
    its dense matrix (the compiler's earlier output) gives the same fixed-point spikes, voltages and
    outputs bit for bit (same 8-bit weights, same exponents), and float runs equal to rounding."""
    from zoo.evaluate import export_graph

    for g in (export_graph("stop-digits-conv"), small_cnn()):
        plan = compile_plan(g)
        assert any(isinstance(d, ConvSpec) for d in plan.denses)
        dense = replace(plan, denses=[DenseSpec(d.name, d.src, d.dst, d.weight, d.recurrent, d.signal, d.delay)
                                      for d in plan.denses])
        rng = np.random.default_rng(3)
        x = np.round(rng.random((16, 6, *plan.input_shape)) * 8) / 8
        fa, fb = quantize_plan(plan, input_frac_bits=3), quantize_plan(dense, input_frac_bits=3)
        assert [fa.weight_exp[d.name] for d in plan.denses] == [fb.weight_exp[d.name] for d in plan.denses]
        ra, rb = emulate(fa, x), emulate(fb, x)
        np.testing.assert_array_equal(ra.output_raw, rb.output_raw)
        for n in ra.voltages:
            np.testing.assert_array_equal(ra.voltages[n], rb.voltages[n])
        ra, rb = emulate(plan, x), emulate(dense, x)
        np.testing.assert_allclose(ra.output, rb.output, atol=1e-9)
        for n in ra.spikes:
            np.testing.assert_array_equal(ra.spikes[n], rb.spikes[n])


def test_conv_op_refuses_string_padding_and_bad_groups():
    from exporters.nir.io import NIRError

    with pytest.raises(NIRError, match="node 'c'.*padding 'same'"):
        conv_op("c", nir.Conv2d(input_shape=(4, 4), weight=np.ones((2, 1, 3, 3)), stride=1, padding="same",
                                dilation=1, groups=1, bias=np.zeros(2)), (1, 4, 4))
    with pytest.raises(NIRError, match="node 'c'.*groups=2"):
        conv_op("c", nir.Conv2d(input_shape=(4, 4), weight=np.ones((2, 1, 3, 3)), stride=1, padding=0,
                                dilation=1, groups=2, bias=np.zeros(2)), (3, 4, 4))
    assert isinstance(conv_op("c", nir.Conv2d(input_shape=(4, 4), weight=np.ones((2, 1, 3, 3)), stride=1, padding=0,
                                              dilation=1, groups=1, bias=np.zeros(2)), (1, 4, 4))[0], ConvOp)
