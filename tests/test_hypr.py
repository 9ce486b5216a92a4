"""HYPR paper: BRF / SE-adLIF / ALIF neurons, online e-prop and HYPR (issue 6)."""
from __future__ import annotations

import math

import pytest
import torch

from zoo.learning.eligibility import EpropGradient
from zoo.models.hypr import RecurrentSNN
from zoo.neurons.alif import ALIFCell
from zoo.neurons.brf import BRFCell, BRFParameters, brf_step, sustain_osc
from zoo.neurons.se_adlif import SEAdLIFCell, SEAdLIFParameters, se_adlif_step
from zoo.neurons.surrogate import double_gaussian_grad
from zoo.tasks.seqlabel import masked_nll

torch.set_num_threads(1)
D = torch.float64
GAIN = {"brf": 80.0, "seadlif": 40.0, "alif": 40.0}


# --------------------------------------------------------------------------- neuron equations
def test_brf_hand_step():
    p = BRFParameters(torch.tensor([4.0], dtype=D), torch.tensor([0.5], dtype=D), 1.0, 0.01)
    h = torch.zeros(1, 1, 3, dtype=D)
    h1 = brf_step(h, torch.tensor([[2.0]], dtype=D), p)  # u = dt*I = 0.02
    assert torch.allclose(h1[0, 0], torch.tensor([0.02, 0.0, 0.0], dtype=D))
    h2 = brf_step(h1, torch.tensor([[0.0]], dtype=D), p)
    pw = (-1 + math.sqrt(1 - 0.04 ** 2)) / 0.01
    b = pw - 0.5
    assert abs(h2[0, 0, 0].item() - (0.02 + 0.01 * b * 0.02)) < 1e-15
    assert abs(h2[0, 0, 1].item() - 0.01 * 4.0 * 0.02) < 1e-15  # v uses the OLD u
    assert abs(sustain_osc(torch.tensor(4.0, dtype=D), 0.01).item() - pw) < 1e-15


def test_brf_spike_strict_and_refractory():
    cell = BRFCell(1).double()
    th = (torch.tensor([4.0], dtype=D), torch.tensor([0.5], dtype=D))
    at = torch.tensor([[[1.0, 0.0, 0.0]]], dtype=D)  # u - theta - q = 0 -> no spike (strict >)
    assert cell.spike(at, th).item() == 0.0
    above = torch.tensor([[[1.0 + 1e-9, 0.0, 0.0]]], dtype=D)
    assert cell.spike(above, th).item() == 1.0
    h = cell.step(above, torch.zeros(1, 1, dtype=D), th)
    assert h[0, 0, 2].item() == 1.0  # q[t-1] = 0.9*0 + z = 1
    b = sustain_osc(th[0], 0.01).item() - 0.5 - 1.0  # damping includes q
    assert abs(h[0, 0, 0].item() - (above[0, 0, 0].item() * (1 + 0.01 * b))) < 1e-12
    h2 = cell.step(h, torch.zeros(1, 1, dtype=D), th)
    z1 = float(h[0, 0, 0] - 1.0 - h[0, 0, 2] > 0)
    assert abs(h2[0, 0, 2].item() - (0.9 * 1.0 + z1)) < 1e-15


def test_se_adlif_hand_step():
    p = SEAdLIFParameters(*(torch.tensor([v], dtype=D) for v in (0.9, 0.99, 0.5, 1.0)), q=120.0, theta=1.0)
    h = torch.zeros(1, 1, 2, dtype=D)
    h1 = se_adlif_step(h, torch.tensor([[5.0]], dtype=D), p)
    assert abs(h1[0, 0, 0].item() - 0.5) < 1e-12  # v = 0.1*5
    assert abs(h1[0, 0, 1].item() - 0.01 * 120 * 0.5 * 0.5) < 1e-12  # w uses the new u
    h2 = se_adlif_step(h1, torch.tensor([[15.0]], dtype=D), p)  # v = 0.9*0.5 + 0.1*(15 - 0.3) = 1.92 -> spike
    v2 = 0.9 * 0.5 + 0.1 * (15.0 - 0.3)
    assert abs(h2[0, 0, 0].item() - v2) < 1e-12
    w2 = 0.99 * 0.3 + 0.01 * 120 * (0.5 * 0.0 + 1.0 * 1.0)  # reset u = 0, z = 1
    assert abs(h2[0, 0, 1].item() - w2) < 1e-12
    h3 = se_adlif_step(h2, torch.tensor([[0.0]], dtype=D), p)  # starts from the reset u = 0
    assert abs(h3[0, 0, 0].item() - 0.1 * (0.0 - w2)) < 1e-12


def test_double_gaussian_shape():
    x = torch.tensor([0.0, 3.0], dtype=D)
    g = double_gaussian_grad(x)
    assert g[0] > 0 and g[1] < 0  # negative side lobes


@pytest.mark.parametrize("cls", [BRFCell, SEAdLIFCell, ALIFCell])
def test_local_jacobians_match_autograd(cls):
    torch.manual_seed(1)
    n = 7
    cell = cls(n).double()
    S = cell.state_size
    h = torch.randn(2, n, S, dtype=D) * 0.6 + 0.9  # some neurons above threshold
    i = torch.randn(2, n, dtype=D) * 3
    th = tuple(t.detach() for t in cell.effective())
    hn = cell.step(h, i, th)
    jac = cell.jacobians(h, i, hn, th)
    Ja = torch.autograd.functional.jacobian(lambda hh: cell.step(hh, i, th), h)
    bi = torch.autograd.functional.jacobian(lambda ii: cell.step(h, ii, th), i)
    ps = torch.autograd.functional.jacobian(lambda hh: cell.spike(hh, th), hn)
    for b in range(2):
        for j in range(n):
            assert torch.allclose(Ja[b, j, :, b, j, :], jac.J[b, j], atol=1e-12)
            assert torch.allclose(bi[b, j, :, b, j], jac.b[b, j], atol=1e-12)
            assert torch.allclose(ps[b, j, b, j, :], jac.psi[b, j], atol=1e-12)
    for k in range(len(th)):
        ck = torch.autograd.functional.jacobian(lambda t: cell.step(h, i, th[:k] + (t,) + th[k + 1:]), th[k])
        for b in range(2):
            for j in range(n):
                assert torch.allclose(ck[b, j, :, j], jac.c[b, j, :, k], atol=1e-12)
    # the surrogate is actually exercised (otherwise the reset-path terms go untested)
    assert (jac.psi.abs() > 1e-3).any()


# --------------------------------------------------------------------------- learning rules
def _problem(neuron: str, T: int = 30, B: int = 3, seed: int = 0):
    torch.manual_seed(seed)
    m = RecurrentSNN(3, 8, 4, neuron=neuron, w_in_gain=GAIN[neuron], w_rec_gain=GAIN[neuron] / 2).double()
    x = (torch.rand(B, T, 3) < 0.4).double()
    y = torch.randint(0, 4, (B, T))
    y[:, :4] = -1  # unlabelled steps are ignored
    return m, x, y


def _grads(m):
    g = {k: p.grad.clone() for k, p in m.named_parameters()}
    m.zero_grad(set_to_none=True)
    return g


def _offline(m, x, y, detach):
    out, z = m(x.transpose(0, 1), detach_recurrent=detach, return_spikes=True)
    masked_nll(out.transpose(0, 1), y).backward()
    return _grads(m), z


def _maxdiff(a, b):
    return max((a[k] - b[k]).abs().max().item() for k in a)


@pytest.mark.parametrize("neuron", ["brf", "seadlif", "alif"])
def test_eprop_online_equals_offline_eprop(neuron):
    m, x, y = _problem(neuron)
    ref, z = _offline(m, x, y, detach=True)
    assert z.mean() > 0.01, "test needs spiking activity"
    loss = EpropGradient(m, lam=None)(x, y)
    ep = _grads(m)
    assert abs(loss - masked_nll(m(x.transpose(0, 1)).transpose(0, 1), y).item()) < 1e-10
    scale = max(v.abs().max().item() for v in ref.values())
    assert _maxdiff(ep, ref) < 1e-9 * scale
    bptt, _ = _offline(m, x, y, detach=False)  # e-prop is an approximation: it must differ from BPTT
    assert (bptt["w_in"] - ep["w_in"]).abs().max() > 1e-6 * scale


@pytest.mark.parametrize("neuron", ["brf", "seadlif", "alif"])
@pytest.mark.parametrize("lam", [1, 3, 8, 30])
def test_hypr_equals_online_eprop(neuron, lam):
    m, x, y = _problem(neuron)
    EpropGradient(m, lam=None)(x, y)
    ep = _grads(m)
    EpropGradient(m, lam=lam)(x, y)
    hy = _grads(m)
    assert _maxdiff(hy, ep) < 1e-6
    scale = max(v.abs().max().item() for v in ep.values())
    assert _maxdiff(hy, ep) < 1e-9 * scale


@pytest.mark.parametrize("neuron", ["brf", "seadlif", "alif"])
def test_hypr_full_length_equals_offline_eprop(neuron):
    m, x, y = _problem(neuron, T=25)
    ref, _ = _offline(m, x, y, detach=True)
    EpropGradient(m, lam=25)(x, y)
    assert _maxdiff(_grads(m), ref) < 1e-6


def test_learners_registered_and_step():
    from zoo.learning import make_learner
    from zoo.tasks import bsd

    task = bsd.TASK
    m, x, y = _problem("brf", T=20)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    for rule, kw in (("hypr", {"lam": 7}), ("eprop", {})):
        learner = make_learner(rule, m, task, lr=1e-2, total_steps=10, **kw)
        out = learner.step((x, y))
        assert math.isfinite(out["loss"])
        assert "optimizer" in learner.state_dict()
    after = m.state_dict()
    assert all(not torch.equal(before[k], after[k]) for k in ("w_in", "w_rec", "w_out", "cell.omega"))


# --------------------------------------------------------------------------- tasks & registry
def test_ecg_loader():
    from zoo.tasks import ecg

    assert ecg.available(), "ECG-QTDB ships inside the package (zoo/data/ecg-qtdb)"
    x, y = ecg.load("test", n=5)
    assert x.shape == (5, 1300, 4) and y.shape == (5, 1300)
    assert set(torch.unique(x).tolist()) <= {0.0, 1.0}
    assert y.min() >= -1 and y.max() <= 5


def test_ecg_missing_dir_is_clear(tmp_path):
    from zoo.registry import ZooError
    from zoo.tasks import ecg

    assert not ecg.available(tmp_path)
    with pytest.raises(ZooError):
        ecg.load("train", data_dir=str(tmp_path))


def test_registered_models_build():
    from zoo.registry import get_entry

    for name in ("hypr-brf-ecg", "hypr-seadlif-ecg", "hypr-brf-bsd"):
        e = get_entry(name)
        m = e.builder()
        assert {"w_in", "w_rec", "w_out", "b_out", "tau_out"} <= set(m.state_dict())


def test_bsd_deterministic_and_shaped():
    from zoo.tasks import bsd

    x1, y1 = bsd.load("train", n=8)
    x2, y2 = bsd.load("train", n=8)
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert x1.shape == (8, 200, 10) and y1.shape == (8, 200)
    assert (y1[:, :180] == -1).all() and (y1[:, 180:] >= 0).all()
    xt, _ = bsd.load("test", n=8)
    assert not torch.equal(x1, xt)
    assert len({tuple(s) for s in bsd.CLASS_SEQS}) == 20


def test_pixel_digits():
    from zoo.tasks import pixel_digits

    x, y = pixel_digits.load("train", n=4)
    xp, _ = pixel_digits.load_permuted("train", n=4)
    assert x.shape == (4, 72, 1) and y.shape == (4, 72)
    assert torch.allclose(x.sum(1), xp.sum(1)) and not torch.equal(x, xp)
    xr, yr = pixel_digits.load_rows("train", n=4)
    assert xr.shape == (4, 9, 8) and yr.shape == (4, 9)
    assert torch.equal(xr[:, :8].reshape(4, 64), x[:, :64, 0]) and (xr[:, 8] == 0).all()
    assert (yr[:, :3] == -1).all() and (yr[:, 3:] == y[:, -1:]).all()


@pytest.mark.parametrize("name", ["hypr-brf-ecg", "hypr-seadlif-ecg", "hypr-brf-bsd"])
def test_shipped_weights_load(name):
    from zoo.registry import get_entry, get_model

    w = get_entry(name).weights
    if w is None:
        pytest.skip(f"{name}: no shipped weights")
    m = get_model(name)  # SHA-256 verified
    assert m.w_rec.shape == (36, 36)
    assert w.metrics.get("test_accuracy", 0) > 0


@pytest.mark.slow
@pytest.mark.parametrize("name", ["hypr-brf-ecg", "hypr-seadlif-ecg", "hypr-brf-bsd"])
def test_shipped_weights_reproduce_metric(name):
    from zoo.registry import get_entry, get_model
    from zoo.train import evaluate_torch

    w = get_entry(name).weights
    if w is None:
        pytest.skip(f"{name}: no shipped weights")
    task = dict(w.meta["task"])
    tname = task.pop("name")
    acc = evaluate_torch(get_model(name), tname, task)
    assert abs(acc - w.metrics["test_accuracy"]) < 1e-6
