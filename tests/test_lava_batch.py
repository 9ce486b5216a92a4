"""Batched Lava runs (exporters/lava/build.py, procs/batched_dense.py): B samples side by side
in one Lava step give the same bits as the one-sample network (Lava's own Dense, samples end to
end) and as the emulator — float and fixed point, recurrent and delayed stages, custom kinds."""
from __future__ import annotations

import os
import signal
from pathlib import Path

import nir
import numpy as np
import pytest
import torch

from exporters.lava import build_plan, emulate, run_lava
from exporters.lava.build import SHM_PREFIX
from nir_graphs import lif, spikes_in

LAVA_TIMEOUT = 300  # seconds per test; Lava runs are slow on shared cores


@pytest.fixture(autouse=True)
def lava_timeout(request):
    """Fail a test that runs longer than its limit (SIGALRM raises in the main thread, where
    ``lava_session`` tears the Lava run down: no worker or segment is left behind)."""
    limit = LAVA_TIMEOUT * (2 if request.node.get_closest_marker("slow") else 1)

    def on_alarm(signum, frame):
        raise TimeoutError(f"test exceeded {limit} s")
    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(limit)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _same(a, b) -> None:
    """Every record bit-identical: spikes, voltages, raw output."""
    assert sorted(a.spikes) == sorted(b.spikes) and sorted(a.voltages) == sorted(b.voltages)
    for k in b.spikes:
        np.testing.assert_array_equal(a.spikes[k], b.spikes[k], err_msg=f"spikes {k}")
    for k in b.voltages:
        np.testing.assert_array_equal(a.voltages[k], b.voltages[k], err_msg=f"voltages {k}")
    np.testing.assert_array_equal(a.output_raw, b.output_raw)


def recurrent_delay_graph(n_in=4, n=7, n_out=3, seed=0) -> nir.NIRGraph:
    """Input -> LIF (subtractive reset) with a recurrent Linear and a Linear readout delayed by
    2 steps (DelayDense): graded input, binary spikes, recurrence and delay in one network.
    (Two inputs per population: Lava float sums three or more incoming Dense stages in an order
    that varies from run to run, so float runs of such graphs differ in the last bit even
    between two one-sample runs.)"""
    rng = np.random.default_rng(seed)
    nodes = {"input": nir.Input(input_type={"input": np.array([n_in])}),
             "fc": nir.Linear(weight=rng.normal(0.5, 0.6, (n, n_in))),
             "lif": lif(n, 5e-3, 1.0, reset="subtract"),
             "rec": nir.Linear(weight=rng.normal(0.0, 0.4, (n, n))),
             "out": nir.Linear(weight=rng.normal(0, 1, (n_out, n))),
             "delay": nir.Delay(delay=np.full(n_out, 2e-3)),
             "output": nir.Output(output_type={"output": np.array([n_out])})}
    edges = [("input", "fc"), ("fc", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "out"), ("out", "delay"),
             ("delay", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": 1e-3})


@pytest.fixture(scope="module")
def graph_and_inputs():
    g = recurrent_delay_graph()
    return g, spikes_in(7, 15, 4, 0.4, seed=3)  # 7 samples: batches of 3 -> windows 3, 3, 1 (+2 padded)


@pytest.mark.parametrize("precision", ["fixed", "float"])
def test_batched_equals_unbatched_and_emulator(graph_and_inputs, precision):
    g, x = graph_and_inputs
    plan = build_plan(g, precision)
    assert sorted(d.delay for d in (plan.plan if precision == "fixed" else plan).denses) == [0, 0, 2]
    batched = run_lava(plan, x, batch_size=3)
    # fixed: the network of earlier versions (Lava Dense, RingBuffer sinks); float: shared-memory recorders
    single = run_lava(plan, x, batch_size=1, lava_sinks=precision == "fixed")
    assert sorted(p.name for p in Path("/dev/shm").glob(f"{SHM_PREFIX}{os.getpid()}_*")) == []  # recorders unlinked
    emu = emulate(plan, x)
    assert emu.spikes["lif"].sum() > 20 and (emu.spikes["lif"] == 0).sum() > 20  # not all silent / saturated
    assert not np.array_equal(emu.spikes["lif"][0], emu.spikes["lif"][1])  # samples differ: order is tested
    _same(batched, single)
    if precision == "fixed":
        _same(batched, emu)  # the emulator is Lava fixed point's bit-exact twin
    else:  # the float emulator sums in another order (matmul): spikes equal, voltages to 1e-12
        for k in emu.spikes:
            np.testing.assert_array_equal(batched.spikes[k], emu.spikes[k])
        np.testing.assert_allclose(batched.voltages["lif"], emu.voltages["lif"], atol=1e-12)
        np.testing.assert_allclose(batched.output, emu.output, atol=1e-12)


def test_batched_brf_kind_population_bit_exact():
    """A custom population kind (BRF, own process model) with per-neuron parameters broadcast
    over the batch: batched Lava fixed point == emulator (5 samples, batches of 2)."""
    from exporters.nir import to_nir
    from zoo.models.hypr import RecurrentSNN

    torch.manual_seed(0)
    m = RecurrentSNN(4, 8, 3, neuron="brf", w_in_gain=80.0, w_rec_gain=80.0).double().eval()
    g = to_nir(m, dt=0.01)
    x = spikes_in(5, 30, 4, 0.3, seed=4)
    plan = build_plan(g, "fixed")
    lq, eq = run_lava(plan, x, batch_size=2), emulate(plan, x)
    assert eq.spikes["cell"].sum() > 0
    assert len({eq.spikes["cell"][b].tobytes() for b in range(5)}) > 1
    _same(lq, eq)


@pytest.mark.slow
@pytest.mark.parametrize("neuron,dt,gain", [("seadlif", 1.0, 20.0), ("alif", 1.0, 20.0), ("brf", 0.01, 80.0)])
def test_batched_hypr_float_and_fixed_equal_unbatched(neuron, dt, gain):
    from exporters.nir import to_nir
    from zoo.models.hypr import RecurrentSNN

    torch.manual_seed(1)
    m = RecurrentSNN(4, 8, 3, neuron=neuron, w_in_gain=gain, w_rec_gain=gain).double().eval()
    g = to_nir(m, dt=dt)
    x = spikes_in(4, 25, 4, 0.3, seed=5)
    for precision in ("float", "fixed"):
        plan = build_plan(g, precision)
        batched = run_lava(plan, x, batch_size=3)
        _same(batched, run_lava(plan, x, batch_size=1))
        if precision == "fixed":
            _same(batched, emulate(plan, x))


@pytest.mark.slow
def test_batched_gamma_chain_and_sigma_delta_bit_exact():
    """Graded messages (sigma-delta units -> fused LI chains, 16-bit) in a batch."""
    from exporters.nir import to_nir
    from zoo.models.gamma import GammaNet
    from zoo.tasks.delay import load as delay_load

    torch.manual_seed(4)
    model = GammaNet(n_inputs=2, n_hidden=6, n_outputs=7, n_buckets=4, tau_ms=2.0, dt=0.25, theta=0.02,
                     input_gain=3.0, t_ref_ms=1.0).double()
    graph = to_nir(model, dt=0.25e-3)
    x, _ = delay_load("test", n=3, dt=0.25)
    xtr, _ = delay_load("train", n=4, dt=0.25)
    plan = build_plan(graph, "fixed", calibrate=xtr.numpy())
    batched = run_lava(plan, x.numpy(), batch_size=2)
    assert (emulate(plan, x.numpy()).voltages["l0.sd"] != 0).sum() > 0
    _same(batched, emulate(plan, x.numpy()))
    _same(batched, run_lava(plan, x.numpy(), batch_size=1))


def test_default_batch_budget_and_env(graph_and_inputs, monkeypatch):
    from exporters.lava import build as lava_build

    g, _ = graph_and_inputs
    plan = build_plan(g, "fixed")
    monkeypatch.delenv(lava_build.BATCH_ENV, raising=False)
    assert lava_build.default_batch(plan, 7) == 7  # small network: all samples side by side
    monkeypatch.setattr(lava_build, "BATCH_BYTES_DEFAULT", 8 * 150)
    per_sample = 4 + 3 * 7 + 2 * (7 + 7 + 3)
    assert lava_build.default_batch(plan, 1000) == 150 // per_sample == 2
    monkeypatch.setattr(lava_build, "BATCH_BYTES_DEFAULT", 8)
    assert lava_build.default_batch(plan, 1000) == 1  # never below one sample
    monkeypatch.setenv(lava_build.BATCH_ENV, "5")
    assert lava_build.default_batch(plan, 1000) == 5 and lava_build.default_batch(plan, 3) == 3
    monkeypatch.setenv(lava_build.BATCH_ENV, "zero")
    with pytest.raises(ValueError, match="ZOO_LAVA_BATCH"):
        lava_build.default_batch(plan, 3)
    with pytest.raises(ValueError, match="batch_size"):
        run_lava(plan, spikes_in(2, 3, 4), batch_size=0)


def test_records_fall_back_to_lava_sinks_when_shared_memory_is_short(graph_and_inputs, monkeypatch):
    """Recorder segments that would not fit /dev/shm: the run uses Lava's RingBuffer sinks (same bits)."""
    from exporters.lava import build as lava_build

    g, x = graph_and_inputs
    plan = build_plan(g, "fixed")
    assert lava_build._shm_fits(1)
    used = []
    real_build = lava_build.build
    monkeypatch.setattr(lava_build, "_shm_fits", lambda nbytes: False)
    monkeypatch.setattr(lava_build, "build", lambda *a, **kw: used.append(kw["lava_sinks"]) or real_build(*a, **kw))
    _same(run_lava(plan, x[:2], batch_size=2), emulate(plan, x[:2]))
    assert used == [True]
