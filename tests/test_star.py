"""STAR-SNN: neuron equations on hand-computed steps, SPSG vs plain surrogate gradients,
TBPTT against autograd, tasks, registry and shipped weights."""
from __future__ import annotations

import math

import pytest
import torch

from zoo.learning import make_learner
from zoo.learning.bptt import BPTT
from zoo.models.star import STARRSNN
from zoo.neurons.star_alif import STARALIFParameters, STARALIFState, star_alif_step, zero_state
from zoo.neurons.surrogate import fast_sigmoid_grad
from zoo.tasks import get_task

torch.set_num_threads(1)


def _hand_case(spsg: bool, slope: float = 10.0):
    # neuron: 0 below adaptive threshold, 1 spikes, 2 v == th exactly (strict: no spike),
    #         3 would spike at th0 but the adaptive threshold holds it
    p = STARALIFParameters(alpha=torch.tensor([0.5, 0.75, 0.5, 0.5]), v_threshold=torch.ones(4),
                           beta=torch.tensor([0.5, 0.5, 0.5, 1.0]), rho=torch.full((4,), 0.8),
                           slope=slope, spsg=spsg)
    state = STARALIFState(u=torch.tensor([[0.4, 1.0, 0.5, 1.0]]), a=torch.tensor([[0.5, 0.0, 0.0, 1.0]]),
                          s=torch.zeros(1, 4))
    current = torch.tensor([[0.9, 0.5, 0.75, 1.2]])
    return p, state, current


@pytest.mark.parametrize("spsg", [False, True])
def test_neuron_hand_computed_step(spsg):
    p, state, current = _hand_case(spsg)
    s, new = star_alif_step(current, state, p)
    # th = 1 + beta*a = [1.25, 1, 1, 2]; v = alpha*u + I = [1.1, 1.25, 1.0, 1.7]
    torch.testing.assert_close(s, torch.tensor([[0.0, 1.0, 0.0, 0.0]]))
    torch.testing.assert_close(new.u, torch.tensor([[1.1, 0.25, 1.0, 1.7]]))  # soft reset: 1.25 - 1
    torch.testing.assert_close(new.a, torch.tensor([[0.4, 0.2, 0.0, 0.8]]))  # rho*a + (1-rho)*s
    torch.testing.assert_close(new.s, s)


def test_neuron_two_steps_adaptation_raises_threshold():
    p = STARALIFParameters(alpha=torch.tensor([0.5]), v_threshold=torch.ones(1), beta=torch.tensor([2.0]),
                           rho=torch.tensor([0.5]))
    st = zero_state(1, 1)
    s1, st = star_alif_step(torch.tensor([[1.5]]), st, p)  # v=1.5 > 1: spike, u=0.5, a=0.5
    assert s1.item() == 1.0 and st.u.item() == pytest.approx(0.5) and st.a.item() == pytest.approx(0.5)
    s2, st = star_alif_step(torch.tensor([[1.5]]), st, p)  # th=1+2*0.5=2; v=0.25+1.5=1.75 < 2
    assert s2.item() == 0.0 and st.u.item() == pytest.approx(1.75) and st.a.item() == pytest.approx(0.25)


def _jac_diag(spsg: bool, wrt: str):
    p, state, current = _hand_case(spsg)
    current = current.clone().requires_grad_(True)
    beta = p.beta.clone().requires_grad_(True)
    p = p._replace(beta=beta)
    s, new = star_alif_step(current, state, p)
    x = {"current": current, "beta": beta}[wrt]
    out = {}
    for name, y in (("s", s), ("u", new.u), ("a", new.a)):
        if not y.requires_grad:  # no path from x at all
            out[name] = torch.zeros_like(x).reshape(-1)
            continue
        (g,) = torch.autograd.grad(y.sum(), x, retain_graph=True, allow_unused=True)
        out[name] = torch.zeros_like(x) if g is None else g.reshape(-1)
    return out


def test_spsg_differs_from_plain_exactly_on_blocked_paths():
    p, state, current = _hand_case(False)
    th = p.v_threshold + p.beta * state.a[0]
    v = p.alpha * state.u[0] + current[0]
    s = (v > th).float()
    sg = fast_sigmoid_grad(v - th, 10.0)
    plain, spsg = _jac_diag(False, "current"), _jac_diag(True, "current")
    # generation path identical: ds/dI = SG'(v - th)
    torch.testing.assert_close(plain["s"], sg)
    torch.testing.assert_close(spsg["s"], sg)
    # reset path: plain du/dI = 1 - th*SG'; SPSG blocks it: du/dI = 1
    torch.testing.assert_close(plain["u"], 1.0 - th * sg)
    torch.testing.assert_close(spsg["u"], torch.ones(4))
    # adaptation path: plain da/dI = (1 - rho)*SG'; SPSG: 0
    torch.testing.assert_close(plain["a"], (1 - p.rho) * sg)
    torch.testing.assert_close(spsg["a"], torch.zeros(4))
    # threshold parameter beta: generation path same, reset path keeps only the value term -a*s
    a = state.a[0]
    pb, sb = _jac_diag(False, "beta"), _jac_diag(True, "beta")
    torch.testing.assert_close(pb["s"], -a * sg)
    torch.testing.assert_close(sb["s"], -a * sg)
    torch.testing.assert_close(pb["u"], -a * s + th * a * sg)
    torch.testing.assert_close(sb["u"], -a * s)
    # forward values are identical
    p2, st2, c2 = _hand_case(True)
    o1, n1 = star_alif_step(current, state, p)
    o2, n2 = star_alif_step(c2, st2, p2)
    for x, y in zip((o1, *n1), (o2, *n2)):
        torch.testing.assert_close(x, y)


def _tiny(variant: str, seed: int = 0) -> STARRSNN:
    torch.manual_seed(seed)
    m = STARRSNN(n_inputs=2, n_hidden=6, n_outputs=2, variant=variant, input_scale=3.0, rec_scale=1.5)
    return m


def _batch(seed: int = 1, T: int = 7, B: int = 3):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, T, 2, generator=g), torch.randn(B, T, 2, generator=g)


def _sgd_delta(model, rule, **kw):
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    learner = make_learner(rule, model, get_task("mackey_glass"), optimizer="sgd", lr=1.0, **kw)
    learner.step(_batch())
    return {k: before[k] - v.detach() for k, v in model.named_parameters()}


@pytest.mark.parametrize("variant", ["plain", "star"])
def test_tbptt_k1_equals_autograd_with_detached_state(variant):
    model = _tiny(variant)
    ref = _tiny(variant)
    x, y = _batch()
    # reference: explicit per-step loop, state detached before every step, loss = mean MSE
    T = x.shape[1]
    state = zero_state(x.shape[0], 6)
    total = 0.0
    for t in range(T):
        state = STARALIFState(*(s.detach() for s in state))
        cur = ref.fc_in(x[:, t]) + ref.rec(state.s)
        _, state = star_alif_step(cur, state, ref.cell.parameters_tuple())
        out = ref.readout(state.u)
        total = total + torch.mean((out - y[:, t]) ** 2) / T
    total.backward()
    delta = _sgd_delta(model, "tbptt", K=1, update_every=None)
    nonzero = 0
    for name, p in ref.named_parameters():
        if not p.requires_grad:
            continue
        torch.testing.assert_close(delta[name], p.grad, rtol=1e-5, atol=1e-6)
        nonzero += int(p.grad.abs().sum() > 0)
    assert nonzero >= 4


@pytest.mark.parametrize("variant", ["plain", "star"])
def test_tbptt_k_equals_T_is_bptt_and_k1_differs(variant):
    d_full = _sgd_delta(_tiny(variant), "bptt")
    d_kT = _sgd_delta(_tiny(variant), "tbptt", K=7, update_every=None)
    d_k3 = _sgd_delta(_tiny(variant), "tbptt", K=3, update_every=None)
    for k in d_full:
        torch.testing.assert_close(d_kT[k], d_full[k], rtol=1e-5, atol=1e-6)
    assert max(float((d_k3[k] - d_full[k]).abs().max()) for k in d_full) > 1e-4


def test_li_readout_hand_computed():
    m = STARRSNN(n_inputs=1, n_hidden=2, n_outputs=1, variant="plain", readout="li", tau_out=2.0)
    with torch.no_grad():
        m.fc_in.weight.copy_(torch.tensor([[2.0], [0.5]]))
        m.fc_in.bias.zero_()
        m.rec.weight.zero_()
        m.readout.weight.copy_(torch.tensor([[1.0, 3.0]]))
        m.readout.bias.fill_(0.25)
    kappa = math.exp(-0.5)
    y = m(torch.ones(2, 1, 1))[:, 0, 0]
    # step 1: v = [2, 0.5] -> s = [1, 0]; o = 0 + 1 + 0.25
    # step 2: u = [2-1, 0.5]; v = alpha*u + [2, 0.5], alpha = exp(-1/5) -> [2.82, 0.91] -> s = [1, 0]
    #         o = kappa*1.25 + 1 + 0.25
    torch.testing.assert_close(y, torch.tensor([1.25, kappa * 1.25 + 1.25]))


def test_tbptt_update_every_step_changes_weights_T_times():
    model = _tiny("star")
    learner = make_learner("tbptt", model, get_task("mackey_glass"), K=1, update_every=1, optimizer="sgd", lr=0.0)
    calls = []
    orig = learner.optimizer.step
    learner.optimizer.step = lambda *a, **k: (calls.append(1), orig(*a, **k))
    learner.step(_batch(T=9))
    assert len(calls) == 9


@pytest.mark.parametrize("name", ["mackey_glass", "lorenz"])
def test_forecasting_tasks_deterministic_and_shifted(name):
    task = get_task(name)
    x, y = task.load("train", steps=50)
    x2, _ = task.load("train", steps=50)
    assert torch.equal(x, x2)
    torch.testing.assert_close(y[:, :-1], x[:, 1:])  # one-step target = next input
    x3, y3 = task.load("test", steps=50, horizon=5)
    torch.testing.assert_close(y3[:, :-5], x3[:, 5:])
    assert abs(float(x.mean())) < 0.1 and abs(float(x.std()) - 1) < 0.1
    assert task.metric(x, y) > 0.05 and not task.higher_is_better  # persistence is imperfect


def test_mackey_glass_series_range():
    from zoo.tasks.mackey_glass import series
    s = series()
    assert s.shape == (6000, 1) and 0.2 < s.min() < 0.5 and 1.2 < s.max() < 1.45


def test_gestures_events_polarity_and_balance():
    task = get_task("gestures")
    x, y = task.load("train", n=400)
    assert x.shape == (400, 30, 512) and set(torch.unique(x).tolist()) <= {0.0, 1.0}
    assert torch.equal(x, task.load("train", n=400)[0])
    assert torch.bincount(y, minlength=8).min() >= 40
    cols = torch.arange(16.0).repeat(16)  # channel -> column
    on, off = x[..., :256], x[..., 256:]
    right = y == 0  # bar moving right: ON events lead (larger column) OFF events
    c_on = (on[right] * cols).sum() / on[right].sum()
    c_off = (off[right] * cols).sum() / off[right].sum()
    assert c_on > c_off + 0.5


def test_registered_models_forward():
    from zoo.registry import get_entry
    for name, n_in, n_out in (("star-mackey-glass", 1, 1), ("star-lorenz", 3, 3), ("star-gestures", 512, 8)):
        e = get_entry(name)
        m = e.builder()
        assert m(torch.zeros(5, 2, n_in)).shape == (5, 2, n_out)
        keys = {"fc_in.weight", "fc_in.bias", "rec.weight", "cell.leak_logit", "cell.v_threshold", "cell.beta",
                "cell.rho", "readout.weight", "readout.bias"}
        assert set(m.state_dict()) == (keys | {"readout_kappa"} if name == "star-gestures" else keys)


@pytest.mark.parametrize("name", ["star-mackey-glass", "star-lorenz", "star-gestures"])
def test_shipped_weights_reproduce_recorded_metric(name):
    from zoo.registry import get_entry, get_model
    from zoo.train import evaluate_torch
    w = get_entry(name).weights
    if w is None:
        pytest.skip(f"{name} has no shipped weights yet")
    model = get_model(name)
    task = dict(w.meta["task"])
    metric = evaluate_torch(model, task.pop("name"), task)
    key = next(iter(w.metrics))
    assert math.isclose(metric, w.metrics[key], rel_tol=1e-5, abs_tol=1e-6)


def test_k1_spsg_membrane_readout_update_is_surrogate_free():
    """Under K=1 with a membrane readout, SPSG leaves no path from the loss of step t to a spike
    derivative (reset/adaptation blocked, next-step recurrence truncated): the update does not
    depend on the surrogate slope. The plain surrogate's reset path does."""
    def delta(variant, slope):
        torch.manual_seed(0)
        m = STARRSNN(n_inputs=2, n_hidden=6, n_outputs=2, variant=variant, input_scale=3.0, rec_scale=1.5,
                     slope=slope)
        return _sgd_delta(m, "tbptt", K=1, update_every=None)
    s3, s10 = delta("star", 3.0), delta("star", 10.0)
    for k in s3:
        torch.testing.assert_close(s3[k], s10[k])
    p3, p10 = delta("plain", 3.0), delta("plain", 10.0)
    assert max(float((p3[k] - p10[k]).abs().max()) for k in p3) > 1e-4
