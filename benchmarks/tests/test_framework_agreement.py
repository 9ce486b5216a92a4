"""Cross-framework agreement: snnTorch 1.0.0 and Norse 1.1.0 NIR exports through our compiler.

For every source graph of ``benchmarks.lava.agreement`` (the same cases that generate
docs/agreement.md): the raw export is wrong in the pinned release (shown), the corrected graph
(``exporters.nir.frameworks``) reproduces the framework's own simulation exactly in the torch
executor, and, on real Lava, Lava float reproduces it (>= 99.9 % of neuron-steps, voltages to
float tolerance) while Lava fixed equals the emulator bit for bit. Cases the importer cannot
represent are refused with an error, and their measured difference is checked to exist.
"""
from __future__ import annotations

import nir
import numpy as np
import pytest
import torch

from benchmarks.lava.agreement import CASES, DT, EXACT, NOT_REPRESENTABLE, inputs, measure
from exporters.nir import NIRError
from exporters.nir.frameworks import SNNTORCH_DT, from_norse, from_snntorch
from nir_graphs import torch_ref  # tests/nir_graphs.py (benchmarks/tests/conftest.py puts tests/ on sys.path)

torch.set_num_threads(1)
LAVA_DEFAULT = ("snntorch-rleaky", "norse-lif")  # recurrent snnTorch + Norse's CubaLIF: real Lava by default


@pytest.fixture(scope="module")
def sources():
    return {}


def _src(sources, name, seed=0):
    if (name, seed) not in sources:
        sources[(name, seed)] = CASES[name](seed)
    return sources[(name, seed)]


@pytest.mark.parametrize("name", EXACT)
def test_corrected_graph_equals_source_framework_in_torch(name, sources):
    """Fast (no Lava): the corrected export is the framework's own discrete dynamics, exactly;
    the raw export is not (the bug each workaround fixes)."""
    src = _src(sources, name)
    x = inputs(src, 3, 40, seed=7)
    res = measure(src, x, lava=False)
    assert 0.01 < res["source_rate"] < 0.6, res["source_rate"]
    assert res["torch_vs_source"] == 1.0
    raw = res["raw_export_vs_source"]
    assert raw is None or raw < 0.999, f"raw export unexpectedly right: {raw}"


@pytest.mark.parametrize("name", NOT_REPRESENTABLE)
def test_unrepresentable_semantics_differ_measurably(name, sources):
    """The documented differences are real (so the doc's rows cannot silently go stale)."""
    src = _src(sources, name)
    res = measure(src, inputs(src, 3, 40, seed=7), lava=False)
    assert res["torch_vs_source"] < 0.999
    if name == "snntorch-leaky-subtract-strong":
        assert res["v_above_thr_after_reset"] > 0.05


def _lava_check(src, seed=0):
    res = measure(src, inputs(src, 3, 30, seed=seed))
    assert res["lava_float_vs_source"] >= 0.999, res
    assert res["lava_float_max_v_diff"] < 1e-6, res
    assert res["emulator_bit_exact"], res
    assert res["lava_fixed_vs_source"] > 0.85, res
    return res


@pytest.mark.parametrize("name", LAVA_DEFAULT)
def test_lava_float_reproduces_source_and_fixed_is_bit_exact(name, sources):
    _lava_check(_src(sources, name))


@pytest.mark.slow
@pytest.mark.parametrize("name", [c for c in EXACT if c not in LAVA_DEFAULT])
def test_lava_float_reproduces_source_all_cases(name, sources):
    _lava_check(_src(sources, name))


# ---- the export bugs, one by one, and their workarounds -----------------------------------------

def test_snntorch_hardcoded_dt_and_lost_subtract_reset():
    src = CASES["snntorch-leaky-subtract"](0)
    lif = src.raw.nodes["1"]
    assert isinstance(lif, nir.LIF)
    beta = 1 - SNNTORCH_DT / np.asarray(lif.tau)  # the export's tau = 1e-4/(1-beta)
    assert np.all((beta > 0.6) & (beta < 1))
    assert np.allclose(lif.v_reset, 0) and "zoo.reset" not in (lif.metadata or {})  # bug: reset lost
    assert "dt" not in (src.raw.metadata or {})
    fixed = src.graph.nodes["1"]
    np.testing.assert_allclose(fixed.tau, DT / (1 - beta))
    np.testing.assert_allclose(fixed.r, lif.r)  # dimensionless, unchanged
    assert fixed.metadata["zoo.reset"] == "subtract" and src.graph.metadata["dt"] == DT
    # the raw graph is right only at snnTorch's hidden dt and with zero reset
    x = inputs(src, 2, 30, seed=1)
    spk, _ = src.run(x)
    _, rec = torch_ref(src.graph, x)
    np.testing.assert_array_equal(rec["1"], spk["1"])
    # run as written at the model's dt, the raw export's tau is shorter than the step: refused
    # by the validation every backend shares (it used to run, silently wrong)
    with pytest.raises(NIRError, match="'1'.*'tau'.*shorter than the step"):
        torch_ref(src.raw, x, dt=DT)


def test_snntorch_dt_is_explicit_and_any_dt_gives_the_same_dynamics():
    src = CASES["snntorch-leaky-zero"](1)
    with pytest.raises(NIRError, match="dt"):
        from_snntorch(src.raw, dt=None)
    x = inputs(src, 2, 30, seed=2)
    a, _ = torch_ref(from_snntorch(src.raw, dt=1e-3, reset="zero"), x)
    b, _ = torch_ref(from_snntorch(src.raw, dt=0.5, reset="zero"), x)
    np.testing.assert_array_equal(a, b)


def test_snntorch_reset_delay_subtract_and_synaptic_are_refused():
    src = CASES["snntorch-leaky-default"](0)
    with pytest.raises(NIRError, match="'1'.*reset_delay=True"):
        from_snntorch(src.raw, dt=DT, reset="subtract", reset_delay=True)
    # zero reset with reset_delay=True: same spikes as immediate reset -> accepted
    assert from_snntorch(src.raw, dt=DT, reset="zero", reset_delay=True).nodes["1"].metadata["zoo.reset"] == "zero"
    syn = CASES["snntorch-synaptic"](0)
    with pytest.raises(NIRError, match="Synaptic.*reset_delay"):
        from_snntorch(syn.raw, dt=DT, reset="zero", reset_delay=True)


def test_snntorch_leaky_zero_reset_delay_spikes_match():
    """Zero reset, snnTorch's default reset_delay=True: accepted because the spikes are equal."""
    import snntorch as snn
    from torch import nn

    from benchmarks.lava.agreement import _init, _snn_case

    layers = [nn.Linear(10, 16), snn.Leaky(beta=torch.full((16,), 0.8), threshold=torch.ones(16),
                                            reset_mechanism="zero", init_hidden=True),
              nn.Linear(16, 5), snn.Leaky(beta=torch.full((5,), 0.9), threshold=torch.ones(5),
                                          reset_mechanism="zero", init_hidden=True)]
    _init(layers, 0, 1.0)
    src = _snn_case("delay-zero", "Leaky", layers, (10,), "zero", reset_delay=True)
    res = measure(src, inputs(src, 3, 40, seed=3), lava=False)
    assert res["source_rate"] > 0.02 and res["torch_vs_source"] == 1.0


def test_snntorch_beta_one_is_imported_as_if():
    import snntorch as snn
    from torch import nn

    from benchmarks.lava.agreement import _init, _snn_case

    layers = [nn.Linear(10, 6), snn.Leaky(beta=torch.ones(6), threshold=torch.full((6,), 2.0), reset_mechanism="zero",
                                           reset_delay=False, init_hidden=True)]
    _init(layers, 0)
    with torch.no_grad():
        layers[0].weight.sub_(layers[0].weight.mean())  # zero-mean drive for a pure integrator
    src = _snn_case("if", "Leaky(beta=1)", layers, (10,), "zero")
    assert np.all(np.isinf(src.raw.nodes["1"].tau))  # the raw export: tau = 1e-4/0
    node = src.graph.nodes["1"]
    assert isinstance(node, nir.IF) and np.allclose(node.r, 1 / DT)
    res = measure(src, inputs(src, 3, 40, seed=4), lava=False)
    assert res["source_rate"] > 0.01 and res["torch_vs_source"] == 1.0


def test_norse_export_bugs_and_workaround():
    lifbox, iaf, lif = CASES["norse-lifbox"](0), CASES["norse-iaf"](0), CASES["norse-lif"](0)
    raw, fixed = lifbox.raw.nodes["1"], lifbox.graph.nodes["1"]
    tau_true = np.asarray(fixed.tau)
    assert np.all((tau_true > 4.9e-3) & (tau_true < 1.6e-2))  # 1/tau_mem_inv of the case
    np.testing.assert_allclose(np.asarray(raw.tau), DT * tau_true)  # the bug: dt/tau_mem_inv
    assert np.asarray(lifbox.raw.nodes["3"].tau).shape == ()  # scalar: no layer size
    assert fixed.tau.shape == (16,) and lifbox.graph.nodes["3"].tau.shape == (5,)
    assert tuple(lifbox.raw.nodes["input"].input_type["input"]) == (1, 10)  # batch dim in the type
    assert tuple(lifbox.graph.nodes["input"].input_type["input"]) == (10,)
    assert np.allclose(iaf.raw.nodes["1"].r, 1.0) and np.allclose(iaf.graph.nodes["1"].r, 1 / DT)
    c_raw, c_fix = lif.raw.nodes["1"], lif.graph.nodes["1"]
    assert np.allclose(c_raw.w_in, 1.0)
    np.testing.assert_allclose(c_fix.w_in, c_fix.tau_syn / DT)
    assert lif.graph.metadata["dt"] == DT
    with pytest.raises(NIRError, match="dt"):
        from_norse(lif.raw, dt=0)


def test_norse_export_dt_argument():
    """Norse users can export with dt=1.0 (tau then comes out right); from_norse takes it explicitly."""
    import norse.torch as norse

    from norse.torch.functional.lif_box import LIFBoxParameters
    from torch import nn

    p = LIFBoxParameters(tau_mem_inv=torch.full((4,), 1 / 7e-3, dtype=torch.float64),
                         v_th=torch.full((4,), 0.1, dtype=torch.float64), v_leak=torch.zeros(4, dtype=torch.float64),
                         v_reset=torch.zeros(4, dtype=torch.float64))
    model = norse.SequentialState(nn.Linear(3, 4), norse.LIFBoxCell(p, dt=DT)).double()
    a = from_norse(norse.to_nir(model, torch.zeros(1, 3, dtype=torch.float64), dt=DT), dt=DT)
    b = from_norse(norse.to_nir(model, torch.zeros(1, 3, dtype=torch.float64), dt=1.0), dt=DT, export_dt=1.0)
    np.testing.assert_allclose(a.nodes["1"].tau, 7e-3)
    np.testing.assert_allclose(b.nodes["1"].tau, 7e-3)


def test_norse_li_readout_voltage_on_lava_float():
    """LIBoxCell readout (tau fixed like LIF): its voltage is the graph output, equal in the torch
    executor and Lava float to Norse's own state; the raw export's voltage is not."""
    import norse.torch as norse
    from norse.torch.functional.leaky_integrator_box import LIBoxParameters
    from norse.torch.functional.lif_box import LIFBoxParameters
    from torch import nn

    from benchmarks.lava.agreement import _init
    from exporters.lava import build_plan, run_lava

    f64 = dict(dtype=torch.float64)
    p1 = LIFBoxParameters(tau_mem_inv=torch.linspace(100, 200, 12, **f64), v_th=torch.full((12,), 0.12, **f64),
                          v_leak=torch.zeros(12, **f64), v_reset=torch.zeros(12, **f64))
    p2 = LIBoxParameters(tau_mem_inv=torch.full((3,), 1 / 6e-3, **f64), v_leak=torch.zeros(3, **f64))
    layers = [nn.Linear(10, 12), norse.LIFBoxCell(p1, dt=DT), nn.Linear(12, 3), norse.LIBoxCell(p2, dt=DT)]
    _init(layers, 0)
    model = norse.SequentialState(*layers).double()
    raw = norse.to_nir(model, torch.zeros(1, 10, **f64), dt=DT)
    graph = from_norse(raw, dt=DT)
    assert isinstance(graph.nodes["3"], nir.LI)
    np.testing.assert_allclose(graph.nodes["3"].tau, 6e-3)
    x = np.random.default_rng(0).random((2, 30, 10)) < 0.3
    x = x.astype(np.float64)
    with torch.no_grad():
        state, vs = None, []
        for t in range(30):
            y, state = model(torch.from_numpy(x[:, t]), state)
            vs.append(y)
    ref = torch.stack(vs, 1).numpy()
    assert np.abs(ref).max() > 0.05
    ours, _ = torch_ref(graph, x)
    np.testing.assert_allclose(ours, ref, atol=1e-12)
    with pytest.raises(NIRError, match="'tau'.*shorter than the step"):  # the raw export: tau = dt*tau_true
        torch_ref(raw, x, dt=DT)
    lf = run_lava(build_plan(graph, "float"), x)
    np.testing.assert_allclose(lf.output, ref, atol=1e-9)
