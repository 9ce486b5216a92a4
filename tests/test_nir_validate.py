"""One validation for every backend (exporters.nir.validate): a graph the Lava compiler refuses
is refused by the torch executor and the emulator too, with the node and parameter named; bad
inputs are refused the same way everywhere; the compiler refuses dense stages above
ZOO_MAX_DENSE_BYTES before allocating them."""
from __future__ import annotations

import os
import time

import nir
import numpy as np
import pytest
import torch

from exporters.lava import build_plan, emulate, run_lava
from exporters.nir import NIRError, from_nir
from exporters.nir.validate import check_graph
from nir_graphs import chain, lif, spikes_in, torch_ref

W = np.ones((3, 3))


def _backends(g) -> list:
    """Every way a graph enters a backend; each must raise NIRError."""
    return [lambda: from_nir(g), lambda: build_plan(g, "float"), lambda: build_plan(g, "fixed")]


def _refused_everywhere(g, match: str) -> None:
    for enter in _backends(g):
        with pytest.raises(NIRError, match=match):
            enter()


def _net(**lif_kw):
    return chain(3, [(W.copy(), None, lif(3, **{"tau": 5e-3, "thr": 1.0, **lif_kw}))])


@pytest.mark.parametrize("node, key", [("n0", "tau"), ("n0", "r"), ("n0", "v_leak"), ("n0", "v_threshold"),
                                       ("n0", "v_reset"), ("fc0", "weight")])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_parameters_are_refused_by_name(node, key, bad):
    g = _net()
    getattr(g.nodes[node], key)[1] = bad
    _refused_everywhere(g, f"'{node}'.*'{key}'.*(NaN|inf)")


def test_affine_bias_nan_and_extension_parameters():
    g = chain(3, [(W.copy(), np.array([0.0, np.nan, 0.0]), lif(3, 5e-3, 1.0))])
    _refused_everywhere(g, "'fc0'.*'bias'.*NaN")
    from exporters.nir.extensions import alif_node

    g = _net()
    g.nodes["n0"] = alif_node(np.full(3, 5e-3), np.full(3, 5.0), np.ones(3), np.array([0.1, np.nan, 0.1]), np.ones(3))
    _refused_everywhere(g, "'n0.adaptation'.*'tau'.*NaN")


@pytest.mark.parametrize("change, match", [
    (lambda g: setattr(g.nodes["n0"], "tau", np.array([5e-3, 0.0, 5e-3])), "'n0'.*'tau' must be > 0"),
    (lambda g: setattr(g.nodes["n0"], "tau", np.array([5e-3, -1e-3, 5e-3])), "'n0'.*'tau' must be > 0"),
    (lambda g: setattr(g.nodes["n0"], "tau", np.full(3, 5e-4)), "'n0'.*'tau'.*shorter than the step"),
    (lambda g: setattr(g.nodes["n0"], "v_threshold", np.array([1.0, 0.0, 1.0])), "'n0'.*'v_threshold' must be > 0"),
    (lambda g: setattr(g.nodes["n0"], "v_threshold", -np.ones(3)), "'n0'.*'v_threshold' must be > 0"),
    (lambda g: setattr(g.nodes["n0"], "v_reset", np.zeros(2)), "'n0'.*'v_reset' has 2 values"),
])
def test_torch_refuses_what_the_compiler_refuses(change, match):
    g = _net()
    change(g)
    _refused_everywhere(g, match)


@pytest.mark.parametrize("delay, match", [(-1e-3, "'d'.*'delay' must be >= 0"), (1.5e-3, "'d'.*whole number of steps"),
                                          ([1e-3, 2e-3, 1e-3], "'d'.*whole number of steps")])
def test_delay_must_be_whole_non_negative_steps(delay, match):
    g = _net()
    g.nodes["d"] = nir.Delay(delay=np.broadcast_to(np.asarray(delay, float), (3,)).copy())
    g.edges = [("input", "fc0"), ("fc0", "d"), ("d", "n0"), ("n0", "output")]
    _refused_everywhere(g, match)


def test_two_inputs_and_edges_of_the_wrong_size():
    g = _net()
    g.nodes["input2"] = nir.Input(input_type={"input": np.array([3])})
    g.edges.append(("input2", "fc0"))
    _refused_everywhere(g, "exactly one Input.*found 2 Input")
    g = _net()
    g.nodes["fc0"] = nir.Linear(weight=np.ones((3, 4)))
    _refused_everywhere(g, r"edge \('input', 'fc0'\): 'input' sends 3 values, 'fc0' expects 4")


def test_cycle_of_linear_nodes_is_refused_naming_its_nodes():
    """input -> a -> b -> a (no neuron in the loop) -> lif: torch runs it as an IIR filter (18 spikes
    here), the compiler used to drop the loop (0 spikes); every backend now refuses it."""
    g = _net()
    g.nodes["a"] = nir.Linear(weight=np.eye(3))
    g.nodes["b"] = nir.Scale(scale=np.full(3, 0.9))
    g.edges = [("input", "a"), ("a", "b"), ("b", "a"), ("a", "fc0"), ("fc0", "n0"), ("n0", "output")]
    _refused_everywhere(g, r"cycle without a neuron \(a -> b\)")
    # the same loop through a neuron is a recurrent layer, and runs
    g.edges = [("input", "a"), ("a", "fc0"), ("fc0", "n0"), ("n0", "b"), ("b", "a"), ("n0", "output")]
    check_graph(g)


def test_flattened_names_must_not_collide():
    inner = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([3])}), "lif": lif(3, 5e-3, 1.0),
                                "output": nir.Output(output_type={"output": np.array([3])})},
                         edges=[("input", "lif"), ("lif", "output")], type_check=False)
    g = _net()
    g.nodes["g"] = inner
    g.nodes["g.lif"] = lif(3, 6e-3, 0.5)
    g.edges = [("input", "fc0"), ("fc0", "g"), ("g", "g.lif"), ("g.lif", "output")]
    _refused_everywhere(g, "flattens to 'g.lif'")
    del g.nodes["g.lif"], g.nodes["n0"]
    g.nodes["top"] = lif(3, 6e-3, 0.5)
    g.edges = [("input", "fc0"), ("fc0", "g"), ("g", "top"), ("top", "output")]
    x = spikes_in(2, 12, 3, 0.6)
    out, _ = torch_ref(g, x)
    np.testing.assert_array_equal(emulate(build_plan(g, "float"), x).output, out)


def test_inputs_are_checked_against_the_graph_input_shape():
    g = _net()
    x = spikes_in(2, 12, 3, 0.5)
    plan = build_plan(g, "fixed")
    ex = from_nir(g)
    bad = {"transposed": x.transpose(0, 2, 1),  # (B, n, T): the right element count, used to run
           "flat 2-D": x.reshape(2, -1), "batch 0": np.zeros((0, 12, 3)), "T = 0": np.zeros((2, 0, 3)),
           "NaN": np.where(x > 0, np.nan, 0.0)}
    for name, xb in bad.items():
        for run in (lambda a: emulate(plan, a), lambda a: ex(torch.from_numpy(np.ascontiguousarray(a)).transpose(0, 1))):
            with pytest.raises(NIRError, match=r"input (has shape|contains)|expected \(|at least one"):
                run(xb)
    import exporters.lava.build  # noqa: F401  (importing Lava is slow; the refusal itself is immediate)

    t0 = time.time()
    with pytest.raises(NIRError, match="at least one sample"):
        run_lava(plan, np.zeros((0, 12, 3)))  # used to hang forever in Lava
    assert time.time() - t0 < 5


def test_dense_stages_above_the_limit_are_refused_before_allocation(monkeypatch):
    """A 64x64 two-channel conv (a small NIR file) stays a kernel (it used to expand to a 9 GB
    identity image); its dense view is refused in well under a second, naming the stage; the
    limit is ZOO_MAX_DENSE_BYTES."""
    conv = nir.Conv2d(input_shape=(64, 64), weight=np.ones((16, 2, 3, 3)) / 18, stride=1, padding=1, dilation=1,
                      groups=1, bias=np.zeros(16))
    n_out = 16 * 64 * 64
    g = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([2, 64, 64])}), "conv": conv,
                            "lif": lif(n_out, 5e-3, 1.0), "output": nir.Output(output_type={"output": np.array([n_out])})},
                     edges=[("input", "conv"), ("conv", "lif"), ("lif", "output")], metadata={"dt": 1e-3},
                     type_check=False)
    t0 = time.time()
    plan = build_plan(g, "float")
    with pytest.raises(NIRError, match=r"node '__input__->lif'.*GiB\), above the limit of 2 GiB \(ZOO_MAX_DENSE_BYTES\)"):
        plan.denses[0].weight  # noqa: B018 (the dense view of the convolution stage)
    assert time.time() - t0 < 5
    wide = chain(100_000, [(np.ones((2, 100_000)) * 1e-3, None, lif(2, 5e-3, 1.0))])
    build_plan(wide, "float")  # the Input's identity map is no longer a 100000 x 100000 matrix
    small = _net()
    build_plan(small, "float")
    monkeypatch.setenv("ZOO_MAX_DENSE_BYTES", "64")  # 3x3 float64 matrices need 72 bytes
    with pytest.raises(NIRError, match=r"3 x 3 float64 matrix \(72 B\), above the limit of 64 B"):
        build_plan(small, "float")
    monkeypatch.setenv("ZOO_MAX_DENSE_BYTES", "lots")
    with pytest.raises(NIRError, match="ZOO_MAX_DENSE_BYTES must be a number"):
        build_plan(small, "float")


def test_quantisation_never_turns_nan_into_integers():
    from exporters.lava.plan import compile_plan
    from exporters.lava.quantize import quantize_plan

    plan = compile_plan(_net())
    plan.denses[0].weight[0, 0] = np.nan  # a plan edited by hand after validation
    with pytest.raises(NIRError, match="'__input__->n0'.*NaN"):
        quantize_plan(plan)
    with pytest.raises(NIRError, match="'n0'.*diverges"):
        quantize_plan(compile_plan(_net()), calibration={"n0": np.inf})


def test_delay_after_an_affine_bias_is_refused_by_the_compiler():
    """The Delay starts empty, so the torch executor sees the delayed bias only after d steps; a
    Lava population's constant bias cannot express that (found by tests/test_fuzz_nir.py)."""
    g = chain(3, [(W.copy(), np.full(3, 0.2), lif(3, 5e-3, 1.0))])
    g.nodes["d"] = nir.Delay(delay=np.full(3, 2e-3))
    g.edges = [("input", "fc0"), ("fc0", "d"), ("d", "n0"), ("n0", "output")]
    from_nir(g)  # torch runs it
    with pytest.raises(NIRError, match="'d'.*Delay after an Affine bias.*first 2 steps"):
        build_plan(g, "float")
    g.edges += [("input", "fc0")]
    _refused_everywhere(g, r"edge \('input', 'fc0'\) appears twice")


def test_nir_write_refuses_directories_and_unwritable_places(tmp_path):
    from exporters.nir import write

    with pytest.raises(NIRError, match="is a directory"):
        write(tmp_path, _net())
    if os.path.isdir("/sys"):  # read-only even for root
        with pytest.raises(NIRError, match="cannot write /sys/x.nir"):
            write("/sys/x.nir", _net())
    assert write(tmp_path / "ok.nir", _net()).is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["ok.nir"]  # no temporary file left behind
