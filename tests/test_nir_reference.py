"""The Lava compiler and the torch executor against an independent numpy NIR reference
(:mod:`exporters.nir.reference`) on seeded random graphs of every primitive, Affine biases
included (also on recurrent edges into CubaLIF, as in the NIR paper's braille RNN)."""
from __future__ import annotations

import nir
import numpy as np
import pytest
from nir_graphs import spikes_in, torch_ref

from exporters.lava import build_plan, emulate, run_lava
from exporters.nir.io import NIRError
from exporters.nir.reference import conv2d, simulate

I = np.array


def _neuron(kind: str, n: int, rng, dt: float, shape=None):
    shape = (n,) if shape is None else shape

    def rand(lo, hi):
        return rng.uniform(lo, hi, shape)

    if kind in ("LIF", "LI"):
        tau = rand(2 * dt, 10 * dt)
        args = dict(tau=tau, r=rand(0.5, 1.5) * tau / dt, v_leak=rand(-0.05, 0.1))
        return nir.LI(**args) if kind == "LI" else nir.LIF(**args, v_threshold=rand(0.6, 1.2),
                                                            v_reset=rand(-0.1, 0.1))
    if kind in ("IF", "I"):
        r = rand(0.5, 1.5) / dt
        return nir.I(r=r) if kind == "I" else nir.IF(r=r, v_threshold=rand(0.6, 1.2), v_reset=np.zeros(shape))
    if kind in ("CubaLIF", "CubaLI"):
        tau_syn, tau_mem = rand(1.5 * dt, 5 * dt), rand(2 * dt, 10 * dt)
        args = dict(tau_syn=tau_syn, tau_mem=tau_mem, r=rand(0.5, 1.5) * tau_mem / dt, v_leak=rand(-0.05, 0.1),
                    w_in=rand(0.5, 1.5) * tau_syn / dt)
        return nir.CubaLI(**args) if kind == "CubaLI" else nir.CubaLIF(**args, v_threshold=rand(0.6, 1.2),
                                                                      v_reset=np.zeros(shape))
    if kind == "Threshold":
        return nir.Threshold(threshold=rand(0.2, 0.6))
    raise ValueError(kind)


def dense_graph(seed: int, hidden: str, readout: str, recurrent: str | None, delay: int = 0, dt: float = 1e-3,
                subtract: bool = False) -> nir.NIRGraph:
    """Input -> Scale -> Affine(bias) -> hidden [<- rec] -> (Delay) -> Affine(bias) -> readout -> Output."""
    rng = np.random.default_rng(seed)
    n_in, n, m = 5, 7, 3
    hid = _neuron(hidden, n, rng, dt)
    if subtract and hasattr(hid, "v_threshold"):
        hid.metadata = {"zoo.reset": "subtract"}
    nodes = {"input": nir.Input(input_type={"input": I([n_in])}),
             "scale": nir.Scale(scale=rng.uniform(0.5, 1.5, n_in)),
             "fc1": nir.Affine(weight=rng.normal(0.3, 0.6, (n, n_in)), bias=rng.normal(0.1, 0.15, n)),
             "hid": hid,
             "fc2": nir.Affine(weight=rng.normal(0.2, 0.7, (m, n)), bias=rng.normal(0.05, 0.1, m)),
             "out": _neuron(readout, m, rng, dt),
             "output": nir.Output(output_type={"output": I([m])})}
    edges = [("input", "scale"), ("scale", "fc1"), ("fc1", "hid"), ("out", "output")]
    if recurrent == "affine":
        nodes["rec"] = nir.Affine(weight=rng.normal(-0.1, 0.5, (n, n)), bias=rng.normal(0.0, 0.2, n))
    elif recurrent == "linear":
        nodes["rec"] = nir.Linear(weight=rng.normal(-0.1, 0.5, (n, n)))
    if recurrent:
        edges += [("hid", "rec"), ("rec", "hid")]
    if delay:
        nodes["delay"] = nir.Delay(delay=np.full(n, delay * dt))
        edges += [("hid", "delay"), ("delay", "fc2"), ("fc2", "out")]
    else:
        edges += [("hid", "fc2"), ("fc2", "out")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": dt})


def conv_graph(seed: int, pool: str, conv1d: bool = False, dt: float = 1e-3) -> nir.NIRGraph:
    """Input -> Conv (bias, stride/padding/dilation/groups) -> LIF -> pool -> Flatten -> Affine -> CubaLI."""
    rng = np.random.default_rng(seed)
    if conv1d:
        shape = (2, 9)
        conv = nir.Conv1d(input_shape=9, weight=rng.normal(0.3, 0.5, (4, 2, 3)), stride=2, padding=1, dilation=2,
                          groups=1, bias=rng.normal(0.1, 0.1, 4))
        out_shape = (4, 4)
    else:
        shape = (2, 6, 6)
        conv = nir.Conv2d(input_shape=(6, 6), weight=rng.normal(0.3, 0.5, (4, 2, 3, 3)), stride=1, padding=1,
                          dilation=1, groups=1, bias=rng.normal(0.1, 0.1, 4))
        out_shape = (4, 6, 6)
    nodes = {"input": nir.Input(input_type={"input": I(shape)}), "conv": conv,
             "lif": _neuron("LIF", 0, rng, dt, shape=out_shape)}
    edges = [("input", "conv"), ("conv", "lif")]
    prev, flat_in = "lif", out_shape
    if not conv1d:
        cls = nir.SumPool2d if pool == "sum" else nir.AvgPool2d
        nodes["pool"] = cls(kernel_size=I([2, 2]), stride=I([2, 2]), padding=I([0, 0]))
        nodes["pool"].input_type = {"input": I(out_shape)}
        edges.append(("lif", "pool"))
        prev, flat_in = "pool", (4, 3, 3)
    nodes["flat"] = nir.Flatten(input_type={"input": I(flat_in)}, start_dim=0, end_dim=-1)
    k = int(np.prod(flat_in))
    nodes["fc"] = nir.Affine(weight=rng.normal(0.1, 0.4, (3, k)), bias=rng.normal(0.05, 0.1, 3))
    nodes["ro"] = _neuron("CubaLI", 3, rng, dt)
    nodes["output"] = nir.Output(output_type={"output": I([3])})
    edges += [(prev, "flat"), ("flat", "fc"), ("fc", "ro"), ("ro", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": dt})


def braille_like(seed: int = 0, dt: float = 1e-4) -> nir.NIRGraph:
    """The structure and time constants of the NIR paper's braille RNN (paper/03_rnn,
    braille_noDelay_bias_zero.nir): Affine(bias) -> CubaLIF with a recurrent Affine(bias) ->
    Affine(bias) -> CubaLIF, dt = 1e-4, with random weights."""
    rng = np.random.default_rng(seed)
    n_in, n, m = 12, 38, 7

    def cuba(k, tau_syn, tau_mem, r, w_in):
        f = np.full
        return nir.CubaLIF(tau_syn=f(k, tau_syn), tau_mem=f(k, tau_mem), r=f(k, r), v_leak=f(k, 0.0),
                           v_threshold=f(k, 1.0), v_reset=f(k, 0.0), w_in=f(k, w_in))

    nodes = {"input": nir.Input(input_type={"input": I([n_in])}),
             "fc1": nir.Affine(weight=rng.normal(0.2, 1.2, (n, n_in)), bias=rng.normal(-0.2, 0.4, n)),
             "lif1.lif": cuba(n, 2.2222e-4, 1e-3, 10.0, 2.2222),
             "lif1.w_rec": nir.Affine(weight=rng.normal(-0.3, 1.0, (n, n)), bias=rng.normal(-0.1, 0.4, n)),
             "fc2": nir.Affine(weight=rng.normal(0.0, 1.5, (m, n)), bias=rng.uniform(0.25, 0.36, m)),
             "lif2": cuba(m, 2e-4, 2.2222e-4, 2.2222, 2.0),
             "output": nir.Output(output_type={"output": I([m])})}
    edges = [("lif1.w_rec", "lif1.lif"), ("lif2", "output"), ("fc2", "lif2"), ("input", "fc1"),
             ("lif1.lif", "lif1.w_rec"), ("fc1", "lif1.lif"), ("lif1.lif", "fc2")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": dt})


def _check_against_reference(g: nir.NIRGraph, x: np.ndarray, dt: float) -> dict:
    """Reference == torch executor == compiler float plan (emulator): spikes equal, values to 1e-9."""
    out, rec = simulate(g, x, dt)
    t_out, t_rec = torch_ref(g, x, dt)
    np.testing.assert_allclose(t_out.reshape(out.shape), out, rtol=0, atol=1e-9)
    for name, r in rec.items():
        if name in t_rec:
            np.testing.assert_allclose(t_rec[name].reshape(r.shape), r, rtol=0, atol=1e-9, err_msg=name)
    plan = build_plan(g, "float", dt=dt)
    em = emulate(plan, x)
    for name, spec in plan.neurons.items():
        ref = rec[name].reshape(em.voltages[name].shape)
        if spec.spiking:
            np.testing.assert_array_equal(em.spikes[name], ref, err_msg=name)
        else:
            np.testing.assert_allclose(em.voltages[name], ref, rtol=0, atol=1e-9, err_msg=name)
    np.testing.assert_allclose(em.output.reshape(out.shape), out, rtol=0, atol=1e-9)
    return rec


HIDDEN = ["LIF", "IF", "CubaLIF", "Threshold"]
READOUT = ["LI", "I", "CubaLI", "LIF", "CubaLIF"]


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("hidden", HIDDEN)
def test_random_dense_graphs_every_neuron(hidden, seed):
    dt = 1e-3
    readout = READOUT[(seed + HIDDEN.index(hidden)) % len(READOUT)]
    recurrent = ("affine" if hidden == "CubaLIF" else "linear") if hidden != "Threshold" else None
    g = dense_graph(seed, hidden, readout, recurrent, delay=seed, subtract=bool(seed % 2))
    x = spikes_in(3, 40, 5, 0.4, seed=seed)
    rec = _check_against_reference(g, x, dt)
    if hidden != "Threshold":
        assert 0 < rec["hid"].mean() < 0.9, f"degenerate hidden activity {rec['hid'].mean():.3f}"


@pytest.mark.parametrize("case", [("sum", False), ("avg", False), ("-", True)])
def test_random_conv_pool_graphs(case):
    pool, c1 = case
    g = conv_graph(3, pool, conv1d=c1)
    shape = (2, 9) if c1 else (2, 6, 6)
    x = spikes_in(2, 15, shape, 0.4, seed=1)
    rec = _check_against_reference(g, x, 1e-3)
    assert 0 < rec["lif"].mean() < 0.9


def test_reference_conv_matches_direct_sum():
    """The reference's convolution against a plain loop over output positions (stride 2, dilation 2, groups 2)."""
    rng = np.random.default_rng(1)
    x, w, b = rng.normal(size=(1, 4, 7, 8)), rng.normal(size=(6, 2, 2, 3)), rng.normal(size=6)
    y = conv2d(x, w, b, (2, 1), (1, 2), (2, 1), 2)
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (2, 2)))
    for o in range(6):
        g = o // 3
        for i in range(y.shape[2]):
            for j in range(y.shape[3]):
                patch = xp[0, 2 * g:2 * g + 2, 2 * i:2 * i + 3:2, j:j + 3]
                assert abs(y[0, o, i, j] - ((patch * w[o]).sum() + b[o])) < 1e-12


def test_recurrent_affine_bias_into_cubalif_is_exact():
    """The braille RNN's structure: the recurrent Affine's bias is absent at t = 0 (the back-edge
    reads the previous step) and present afterwards; Lava float reproduces that exactly."""
    g = braille_like()
    x = spikes_in(2, 120, 12, 0.3, seed=4)
    rec = _check_against_reference(g, x, 1e-4)
    assert 0 < rec["lif1.lif"].mean() < 0.9 and 0 < rec["lif2"].mean() < 0.9
    spec = build_plan(g, "float").neurons["lif1.lif"]
    assert np.any(spec.bias_v != 0), "the recurrent bias must be delayed (bias_v = -beta)"
    # the same graph with that bias moved to the feedforward Affine is different at t = 0 only
    g2 = braille_like()
    g2.nodes["fc1"].bias = g2.nodes["fc1"].bias + g2.nodes["lif1.w_rec"].bias
    g2.nodes["lif1.w_rec"].bias = np.zeros(38)
    _, rec2 = simulate(g2, x, 1e-4)
    assert not np.array_equal(rec2["lif1.lif"], rec["lif1.lif"]) or not np.array_equal(rec2["lif2"], rec["lif2"])


@pytest.mark.parametrize("back_edge_first", [False, True])
def test_affine_fed_by_input_and_back_edge_keeps_its_own_bias_at_t0(back_edge_first):
    """Input -> Linear -> N(Affine, bias) -> CubaLIF -> R(Affine, bias) -> N: N's own bias is there
    from t = 0 whatever the order of N's inputs; R's bias only from t = 1."""
    rng, dt, n = np.random.default_rng(7), 1e-3, 6
    nodes = {"input": nir.Input(input_type={"input": I([4])}), "f": nir.Linear(weight=rng.normal(0.5, 0.5, (n, 4))),
             "N": nir.Affine(weight=rng.normal(0.2, 0.4, (n, n)) + np.eye(n), bias=rng.normal(0.1, 0.1, n)),
             "cuba": _neuron("CubaLIF", n, rng, dt),
             "R": nir.Affine(weight=rng.normal(-0.3, 0.4, (n, n)), bias=rng.normal(0.0, 0.3, n)),
             "output": nir.Output(output_type={"output": I([n])})}
    edges = [("input", "f"), ("f", "N"), ("N", "cuba"), ("cuba", "R"), ("R", "N"), ("cuba", "output")]
    if back_edge_first:
        edges = [edges[4]] + edges[:4] + edges[5:]
    g = nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": dt})
    rec = _check_against_reference(g, spikes_in(2, 40, 4, 0.4, seed=1), dt)
    assert 0 < rec["cuba"].mean() < 0.9


def test_recurrent_bias_into_lif_is_refused():
    """A LIF's constant bias cannot be absent at t = 0 only: the compiler says so, naming the node."""
    g = dense_graph(0, "LIF", "LI", "affine")
    with pytest.raises(NIRError, match="'hid'.*recurrent"):
        build_plan(g, "float")


def test_lava_float_equals_reference_and_fixed_is_bit_exact():
    """Real Lava processes on the braille-like graph (recurrent Affine bias into CubaLIF)."""
    g = braille_like(1)
    x = spikes_in(2, 40, 12, 0.3, seed=2)
    out, rec = simulate(g, x, 1e-4)
    lf = run_lava(build_plan(g, "float"), x)
    for name in ("lif1.lif", "lif2"):
        np.testing.assert_array_equal(lf.spikes[name], rec[name], err_msg=name)
    pq = build_plan(g, "fixed")
    lq, eq = run_lava(pq, x), emulate(pq, x)
    for name in ("lif1.lif", "lif2"):
        np.testing.assert_array_equal(lq.spikes[name], eq.spikes[name])
        np.testing.assert_array_equal(lq.voltages[name], eq.voltages[name])


def test_split_weights_lava_fixed_bit_exact_and_closer_to_reference():
    """quantize_plan(split=True): each Dense into a population gets a second 8-bit stage with the
    rounding residual; real Lava fixed point stays bit-exact with the emulator, and the spikes get
    closer to the reference than with plain 8-bit weights (braille-like RNN)."""
    from exporters.lava import compile_plan, quantize_plan

    g = braille_like(2)
    plan = compile_plan(g)
    x = spikes_in(2, 40, 12, 0.3, seed=3)
    sq = quantize_plan(plan, split=True)
    assert [d.name for d in sq.plan.denses if d.name.endswith("+lo")] == [d.name + "+lo" for d in plan.denses]
    assert len(plan.denses) == 3 and all(not d.name.endswith("+lo") for d in plan.denses)  # float plan untouched
    lq, eq = run_lava(sq, x), emulate(sq, x)
    for name in ("lif1.lif", "lif2"):
        np.testing.assert_array_equal(lq.spikes[name], eq.spikes[name])
        np.testing.assert_array_equal(lq.voltages[name], eq.voltages[name])
    xs = spikes_in(4, 300, 12, 0.3, seed=0)
    _, ref = simulate(g, xs, 1e-4)
    plain, split = emulate(quantize_plan(plan), xs), emulate(quantize_plan(plan, split=True), xs)
    plain_err = quantize_plan(plan).report["lif1.lif"].max_abs_weight_error
    assert sq.report["lif1.lif"].max_abs_weight_error < 1e-3 < plain_err
    match = {k: np.mean([(r.spikes[n] == ref[n]).mean() for n in ("lif1.lif", "lif2")]) for k, r in
             (("plain", plain), ("split", split))}
    assert match["split"] > 0.995 and match["split"] > match["plain"], match


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(2, 12))
def test_random_graphs_sweep(seed):
    rng = np.random.default_rng(seed)
    hidden = HIDDEN[seed % len(HIDDEN)]
    recurrent = ("affine" if hidden == "CubaLIF" else "linear") if hidden != "Threshold" else None
    g = dense_graph(seed, hidden, READOUT[int(rng.integers(len(READOUT)))], recurrent, delay=int(rng.integers(3)),
                    subtract=bool(rng.integers(2)))
    _check_against_reference(g, spikes_in(4, 80, 5, 0.4, seed=seed), 1e-3)
    _check_against_reference(braille_like(seed), spikes_in(2, 300, 12, 0.3, seed=seed), 1e-4)
