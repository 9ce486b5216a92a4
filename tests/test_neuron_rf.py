"""The resonate-and-fire neuron (zoo/neurons/rf.py) end to end: its equations, torch cell ==
NIR executor, Lava float == emulator float, Lava fixed == emulator fixed (bit-exact), our step ==
lava.proc.rf's own process models on the same inputs, and e-prop through the generic cell."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from exporters.lava import build_plan, emulate, run_lava
from exporters.nir import from_nir, read, to_nir, write
from zoo.learning.eligibility import EpropGradient
from zoo.models.hypr import RecurrentSNN
from zoo.neurons import registry
from zoo.neurons.cell import DescriptorCell
from zoo.neurons.rf import DESCRIPTOR as RF
from zoo.numerics import FLOAT, LOIHI

D = torch.float64


def _model(seed: int = 0) -> RecurrentSNN:
    torch.manual_seed(seed)
    return RecurrentSNN(4, 12, 3, neuron="rf", w_in_gain=8.0, w_rec_gain=4.0).double().eval()


def _spikes(b: int, t: int, seed: int = 1) -> np.ndarray:
    return (np.random.default_rng(seed).random((b, t, 4)) < 0.2).astype(float)


def test_registry_one_name_and_suggestion():
    assert registry.get("rf") is RF and registry.get("seadlif") is registry.get("se_adlif")
    with pytest.raises(KeyError, match="did you mean 'rf'"):
        registry.get("rff")
    from exporters.nir.extensions import extension_of

    node = RF.nir_node(np.array([100.0]), np.array([0.05]))
    node.metadata["zoo.neuron"] = "seadlif"  # an older spelling in a file still reads
    assert extension_of(node, "cell").name == "se_adlif"


def test_hand_steps():
    """u' = d cos(phi) u - d sin(phi) v + I, v' = d sin(phi) u + d cos(phi) v; spike on u' >= theta
    at the upward zero crossing of v (v' >= 0, v < 0)."""
    dt, omega, tau = 1e-3, np.array([500.0]), np.array([0.05])
    p = RF.coefficients(np, {"omega": omega, "tau": tau, "theta": np.array([0.5])}, dt)
    c, s = np.exp(-dt / tau) * np.cos(omega * dt), np.exp(-dt / tau) * np.sin(omega * dt)
    st = {"v": np.array([1.0]), "im": np.array([-0.01])}
    z = RF.step(np, FLOAT, p, st, np.array([0.2]))
    u, v = c * 1.0 + s * 0.01 + 0.2, s * 1.0 - c * 0.01
    assert np.allclose([st["v"][0], st["im"][0]], [u[0], v[0]], rtol=0, atol=1e-15)
    assert v[0] >= 0 and bool(z[0])  # crossing upward with u >= theta
    z = RF.step(np, FLOAT, p, st, np.array([0.0]))
    assert not bool(z[0])  # v was already >= 0: one spike per crossing
    q, _ = RF.quantize(p, 64.0)
    st = {"v": np.array([6400]), "im": np.array([-64])}
    RF.step(np, LOIHI, q, st, np.array([1280]))
    assert st["v"][0] == (q["cos"][0] * 6400 >> 12) + (q["sin"][0] * 64 >> 12) + 1280


def test_torch_nir_lava_emulator_agree(tmp_path):
    m = _model()
    x = _spikes(2, 120)
    with torch.no_grad():
        y, z = m(torch.from_numpy(x).transpose(0, 1), return_spikes=True)
    g = read(write(tmp_path / "rf.nir", to_nir(m, dt=1e-3)))
    assert g.nodes["cell"].metadata["zoo.neuron"] == "rf"
    ex = from_nir(g)
    with torch.no_grad():
        y2 = ex(torch.from_numpy(x).transpose(0, 1), record=True)
    assert 0.005 < float(z.mean()) < 0.5
    np.testing.assert_array_equal(ex.records["cell"].numpy(), z.numpy())
    np.testing.assert_allclose(y2.numpy(), y.numpy(), atol=1e-12)
    pf, px = build_plan(g, "float"), build_plan(g, "fixed")
    ef, efx = emulate(pf, x), emulate(px, x)
    np.testing.assert_allclose(ef.output, y.transpose(0, 1).numpy(), atol=1e-12)
    lf, lx = run_lava(pf, x), run_lava(px, x)
    np.testing.assert_allclose(lf.output, ef.output, atol=1e-12)
    np.testing.assert_array_equal(lx.output_raw, efx.output_raw)
    np.testing.assert_array_equal(lx.spikes["cell"], efx.spikes["cell"])
    assert (efx.spikes["cell"] == ef.spikes["cell"]).mean() > 0.95  # fixed point tracks float


def _lava_rf(x: np.ndarray, fixed: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, object]:
    """Run lava.proc.rf.RF (real input x (T, n), imaginary input 0); return real, imag, spikes."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.rf.process import RF as LavaRF

    T, n = x.shape
    kw = {"state_exp": 6, "decay_bits": 12} if fixed else {}
    rf = LavaRF(shape=(n,), period=np.linspace(8.0, 30.0, n), alpha=0.03, vth=2.0, **kw)
    src, zero = Source(data=x.T.astype(np.int32 if fixed else float)), Source(data=np.zeros((n, T)))
    sink = Sink(shape=(n,), buffer=T)
    src.s_out.connect(rf.a_real_in)
    zero.s_out.connect(rf.a_imag_in)
    rf.s_out.connect(sink.a_in)
    coef = {"cos": rf.cos_decay.init, "sin": rf.sin_decay.init, "theta": rf.vth.init}  # Lava's own registers
    re, im = np.zeros((T, n)), np.zeros((T, n))
    cfg = Loihi2SimCfg(select_tag="fixed_pt" if fixed else "floating_pt")
    try:
        for t in range(T):
            rf.run(condition=RunSteps(num_steps=1), run_cfg=cfg)
            re[t], im[t] = rf.real.get(), rf.imag.get()
        s = sink.data.get().T
    finally:
        rf.stop()
    return re, im, s, coef


@pytest.mark.parametrize("fixed", [False, True])
def test_step_equals_lava_proc_rf(fixed):
    """Where the semantics coincide (input on the real part only, Lava's coefficients), our step
    reproduces lava.proc.rf's float and fixed process models exactly."""
    T, n = 60, 6
    rng = np.random.default_rng(3)
    x = (rng.random((T, n)) < 0.3) * rng.integers(1, 4, (T, n))
    x = x.astype(float) if not fixed else x
    re, im, s, coef = _lava_rf(x, fixed)
    p = {k: np.asarray(v, np.int64 if fixed else float) for k, v in coef.items()}
    st = {"v": np.zeros(n, np.int64 if fixed else float), "im": np.zeros(n, np.int64 if fixed else float)}
    zs = []
    for t in range(T):
        i = np.left_shift(x[t].astype(np.int64), 6) if fixed else x[t]
        zs.append(RF.step(np, LOIHI if fixed else FLOAT, p, st, i))
        assert np.array_equal(st["v"], re[t]) and np.array_equal(st["im"], im[t]), t
    assert np.array_equal(np.array(zs, dtype=bool), s.astype(bool)) and s.sum() > 0


def test_cell_jacobians_match_autograd():
    torch.manual_seed(1)
    cell = DescriptorCell("rf", 5).double()
    h = torch.randn(2, 5, 3, dtype=D)
    i = torch.randn(2, 5, dtype=D) * 2
    th = tuple(t.detach() for t in cell.effective())
    jac = cell.jacobians(h, i, cell.step(h, i, th), th)
    Ja = torch.autograd.functional.jacobian(lambda hh: cell.step(hh, i, th), h)
    for b in range(2):
        for j in range(5):
            assert torch.allclose(Ja[b, j, :, b, j, :], jac.J[b, j], atol=1e-12)


def test_eprop_online_equals_offline_eprop():
    """The online rule: e-prop through the generic cell equals autograd with detached recurrence."""
    m = _model()
    x = torch.from_numpy(_spikes(3, 40, seed=2))
    y = torch.randint(0, 3, (3, 40))
    y[:, :4] = -1
    loss = EpropGradient(m, lam=None)(x, y)
    ep = {k: p.grad.clone() for k, p in m.named_parameters()}
    m.zero_grad(set_to_none=True)
    from zoo.tasks.seqlabel import masked_nll

    out, z = m(x.transpose(0, 1), detach_recurrent=True, return_spikes=True)
    assert float(z.mean()) > 0.005
    ref_loss = masked_nll(out.transpose(0, 1), y)
    ref_loss.backward()
    assert abs(loss - ref_loss.item()) < 1e-10
    scale = max(p.grad.abs().max().item() for p in m.parameters())
    assert all((ep[k] - p.grad).abs().max().item() < 1e-9 * scale for k, p in m.named_parameters())
    assert ep["cell.omega"].abs().max() > 0  # the rule reaches the neuron parameters


def test_online_eprop_inside_lava():
    """The same rule as plastic Lava processes (exporters.lava.plastic, float64): its gradient
    (weights and the cell's omega, tau) equals torch e-prop, and the Lava run of the weight
    updates equals the emulator and learns."""
    from exporters.lava.plastic.eprop import eprop_layers
    from exporters.lava.plastic.run import Schedule, emulate as plastic_emulate, run_lava as plastic_run_lava

    torch.manual_seed(0)
    m = RecurrentSNN(3, 8, 4, neuron="rf", w_in_gain=8.0, w_rec_gain=4.0).double()
    rng = np.random.default_rng(0)
    x = (rng.random((3, 30, 3)) < 0.4).astype(np.float64)
    y = rng.integers(0, 4, (3, 30))
    y[:, :4] = -1
    layers = eprop_layers(m, fixed=False, lr=0.3, err_scale=1 / 26, learn_cell=True)
    for layer in layers:  # one sample, step by step: accumulated gradient == torch e-prop
        layer.reset()
    for t in range(30):
        h = x[0, t]
        for layer in layers:
            h = layer.forward(h)
        if y[0, t] >= 0:
            g = layers[-1].error(h, int(y[0, t]))
            for layer in reversed(layers):
                g = layer.backward(g)
    EpropGradient(m)(torch.from_numpy(x[:1]), torch.from_numpy(y[:1]))
    got = {**layers[0].grads(), **layers[1].grads()}
    for k, p in m.named_parameters():
        if k != "tau_out":
            ref = p.grad.numpy()
            assert np.abs(got[k] / 26 - ref).max() <= 1e-9 * np.abs(ref).max() + 1e-300, k
    layers = eprop_layers(m, fixed=False, lr=0.3, err_scale=1 / 26)
    sch = Schedule(x, y, np.ones(3, bool), batch_size=1)
    e, lv = plastic_emulate(layers, sch), plastic_run_lava(layers, sch)
    for k in e.params:
        np.testing.assert_allclose(lv.params[k], e.params[k], rtol=0, atol=1e-12)
    assert np.abs(e.params["w_rec"] - m.w_rec.detach().numpy()).max() > 0  # it learned


def test_nirtorch_node_map_runs_the_extension():
    """nirtorch.nir_to_torch with the zoo node map runs the rf extension like the model."""
    import nirtorch

    from exporters.nir.nodemap import run_nirtorch, zoo_node_map

    m = _model()
    x = _spikes(2, 80)
    g = to_nir(m, dt=1e-3)
    out = run_nirtorch(nirtorch.nir_to_torch(g, zoo_node_map(g), dtype=D), torch.from_numpy(x)).numpy()
    with torch.no_grad():
        ref = m(torch.from_numpy(x).transpose(0, 1)).transpose(0, 1).numpy()
    assert np.abs(out - ref).max() <= 1e-12 and np.abs(ref).max() > 0
