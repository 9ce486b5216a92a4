"""SpikingGamma: bucket recursion, dt-independent kernel, sigma-delta unit, online rule = autograd."""
from __future__ import annotations

import math

import pytest
import torch

from zoo.learning.gamma_online import online_gradients
from zoo.models.gamma import GammaNet
from zoo.neurons.gamma import (GammaCell, GammaParameters, continuous_gamma_kernel, gamma_kernel,
                               gamma_step)
from zoo.neurons.sigma_delta import SigmaDeltaParameters, sigma_delta_relu, sigma_delta_step
from zoo.tasks.delay import load as delay_load, window_cross_entropy


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Small tensors: one intra-op thread is faster and fair to the shared 2-core machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_bucket_recursion_hand_computed_step():
    tau = torch.tensor([2.0, 4.0, 1.0], dtype=torch.float64)
    dt = 0.5
    a = [math.exp(-dt / 2.0), math.exp(-dt / 4.0), math.exp(-dt / 1.0)]
    b_prev = torch.tensor([[0.3, -0.2, 0.7]], dtype=torch.float64)
    u = torch.tensor([2.0], dtype=torch.float64)  # two spikes in this step
    # event mode: c = 1
    b1 = a[0] * 0.3 + 2.0
    b2 = a[1] * -0.2 + (1 - a[1]) * b1
    b3 = a[2] * 0.7 + (1 - a[2]) * b2
    got = gamma_step(u, b_prev, GammaParameters(tau, dt, "event"))
    assert torch.allclose(got, torch.tensor([[b1, b2, b3]], dtype=torch.float64), atol=1e-12)
    # value mode: c = 1 - a_1
    v1 = a[0] * 0.3 + (1 - a[0]) * 2.0
    v2 = a[1] * -0.2 + (1 - a[1]) * v1
    v3 = a[2] * 0.7 + (1 - a[2]) * v2
    got = gamma_step(u, b_prev, GammaParameters(tau, dt, "value"))
    assert torch.allclose(got, torch.tensor([[v1, v2, v3]], dtype=torch.float64), atol=1e-12)
    # the matrix form used by the cell/model/online rule is the same recursion
    cell = GammaCell(3, [2.0, 4.0, 1.0], dt, "value").double()
    assert torch.allclose(cell(u, b_prev), got, atol=1e-12)


@pytest.mark.parametrize("dt", [1.0, 0.5, 0.25, 0.1])
def test_kernel_independent_of_dt(dt):
    """The event-mode impulse response sampled at time t (ms) converges to the continuous gamma
    kernel; bucket 1 is exact at every dt, deeper buckets within O(dt/tau)."""
    tau, K = 2.0, 4
    t, resp = gamma_kernel(tau, K, dt, duration=20.0)
    exact1 = continuous_gamma_kernel(t, tau, 1)
    assert torch.allclose(resp[:, 0], exact1, atol=1e-12)
    for k in range(2, K + 1):
        err = (resp[:, k - 1] - continuous_gamma_kernel(t, tau, k)).abs().max()
        assert err < dt / tau, (k, float(err))  # O(dt/tau): same-step spill
    # a kernel value at a fixed time in ms does not depend on dt (tolerance shrinks with dt)
    i = int(round(4.0 / dt))
    t_ref, r_ref = gamma_kernel(tau, K, 0.01, duration=20.0)
    assert torch.allclose(resp[i], r_ref[400], atol=0.3 * dt)


def test_sigma_delta_step_lava_rule():
    p = SigmaDeltaParameters(theta=0.5)
    y = torch.tensor([0.4, 0.5, 1.2, 0.0])
    r = torch.tensor([0.0, 0.0, 0.0, 0.6])
    s, r_new = sigma_delta_step(y, r, p)
    # |e| >= theta sends e (graded); 0.4 < 0.5 no spike; 0.5 >= 0.5 spike; negative delta too
    assert torch.equal(s, torch.tensor([0.0, 0.5, 1.2, -0.6]))
    assert torch.equal(r_new, torch.tensor([0.0, 0.5, 1.2, 0.0]))
    # differentiable version: ReLU, straight-through gradient of the quantiser
    x = torch.tensor([-1.0, 0.3, 2.0], requires_grad=True)
    r_out, s2, y2 = sigma_delta_relu(x, torch.zeros(3), p)
    assert torch.equal(r_out.detach(), torch.tensor([0.0, 0.0, 2.0]))
    r_out.sum().backward()
    assert torch.equal(x.grad, torch.tensor([0.0, 1.0, 1.0]))


def _autograd_grads(model, x, y):
    model.zero_grad()
    loss = window_cross_entropy(model(x).transpose(0, 1), y)
    loss.backward()
    return float(loss), {n: p.grad.clone() for n, p in model.named_parameters()}


def _online_grads(model, x, y):
    model.zero_grad(set_to_none=True)
    info = online_gradients(model, x, y)
    return info["loss"], {n: p.grad.clone() for n, p in model.named_parameters()}


def test_single_layer_online_gradient_equals_autograd_instantaneous():
    """Single layer: at every step, the online gradient of L(t) equals autograd's gradient of the
    same instantaneous loss (history need not be detached: the layer has no recurrence)."""
    torch.manual_seed(0)
    model = GammaNet(n_inputs=2, n_hidden=0, n_outputs=7, n_buckets=4, tau_ms=2.0, dt=0.5).double()
    x, y = delay_load("train", n=6, dt=0.5)
    x = x.double().transpose(0, 1)
    T = x.shape[0]
    per_step_online = {}

    def grab(t):
        per_step_online[t] = model.layers[0].weight.grad.clone()

    model.zero_grad(set_to_none=True)
    online_gradients(model, x, y, on_grad=grab)
    # autograd on each instantaneous loss L(t) alone, history detached
    from zoo.tasks.delay import readout_slice
    win = readout_slice(T)
    W = win.stop - win.start
    layer = model.layers[0]
    b = None
    acc = torch.zeros_like(layer.weight)
    for t in range(T):
        out, b = layer(x[t], None if b is None else b.detach())
        if t < win.start:
            continue
        L_t = torch.nn.functional.cross_entropy(out, y, reduction="sum") / (len(y) * W)
        g, = torch.autograd.grad(L_t, layer.weight)
        acc += g
        assert torch.allclose(per_step_online[t], acc, atol=1e-12)


@pytest.mark.parametrize("dt", [1.0, 0.5])
def test_two_layer_online_gradient_equals_bptt(dt):
    torch.manual_seed(1)
    model = GammaNet(n_inputs=2, n_hidden=6, n_outputs=7, n_buckets=3, tau_ms=[1.0, 2.0, 3.0],
                     n_buckets_out=4, tau_out_ms=2.5, dt=dt, theta=0.02, input_gain=3.0).double()
    x, y = delay_load("train", n=5, dt=dt)
    x = x.double().transpose(0, 1)
    loss_bptt, g_bptt = _autograd_grads(model, x, y)
    loss_on, g_on = _online_grads(model, x, y)
    assert abs(loss_bptt - loss_on) < 1e-10
    assert model.last_stats["hidden_spikes_per_sample"] > 0
    for n in g_bptt:
        assert g_bptt[n].abs().max() > 0, n
        assert torch.allclose(g_on[n], g_bptt[n], atol=1e-10, rtol=1e-7), n


def test_weights_run_at_any_dt():
    m1 = GammaNet(dt=1.0)
    sd = m1.state_dict()
    assert set(sd) == {"layers.0.weight", "layers.0.bias", "layers.0.gamma.tau",
                       "layers.1.weight", "layers.1.bias", "layers.1.gamma.tau"}
    m2 = GammaNet(dt=0.1)
    m2.load_state_dict(sd)
    assert torch.allclose(m2.layers[0].gamma.decay, torch.exp(-0.1 / m2.layers[0].gamma.tau))


def test_delay_task_same_events_at_every_dt():
    xs = {dt: delay_load("test", n=20, dt=dt) for dt in (1.0, 0.5, 0.25, 0.1)}
    for dt, (x, y) in xs.items():
        assert torch.equal(y, xs[1.0][1])
        assert x.shape == (20, int(round(24 / dt)), 2)
        assert torch.equal(x.sum(1), xs[1.0][0].sum(1))
        # event times in ms agree
        t_ms = (x[3, :, 1].nonzero().flatten().double() * dt)
        t_ref = (xs[1.0][0][3, :, 1].nonzero().flatten().double())
        assert torch.allclose(t_ms, t_ref)


def test_digit_events_same_events_at_every_dt():
    from zoo.tasks.digit_events import load as ev_load
    x1, y1 = ev_load("test", n=10, dt=1.0)
    assert x1.shape == (10, 32, 8)
    for dt in (0.5, 0.25, 0.1):
        x, y = ev_load("test", n=10, dt=dt)
        assert torch.equal(y, y1) and x.shape[1] == int(round(32 / dt))
        idx = x.nonzero()
        ref = x1.nonzero()
        assert torch.equal(idx[:, [0, 2]], ref[:, [0, 2]])
        assert torch.allclose(idx[:, 1].double() * dt, ref[:, 1].double())


def test_ottt_readout_gradient_is_exact_for_linear_readout():
    """OTTT's trace replaces the spike by its leaky trace; for the (linear, reset-free) leaky
    readout this is the exact gradient of sum_t L(t) w.r.t. the readout weights."""
    from zoo.learning.ottt import OTTT
    from zoo.models.gamma import LIFNet
    from zoo.tasks import get_task
    torch.manual_seed(0)
    model = LIFNet(n_hidden=8, dt=1.0, input_gain=3.0).double()
    x, y = delay_load("train", n=4, dt=1.0)
    x = x.double()
    model.zero_grad()
    window_cross_entropy(model(x.transpose(0, 1)).transpose(0, 1), y).backward()
    g_bptt = model.out.weight.grad.clone()
    learner = OTTT(model, get_task("delay"), lr=0.0)
    learner.optimizer.zero_grad = lambda *a, **k: None  # keep grads for inspection
    model.zero_grad()
    learner.step((x, y))
    assert torch.allclose(model.out.weight.grad, g_bptt, atol=1e-10)


def test_shipped_gamma_delay_weights():
    from zoo.registry import get_entry, get_model
    from zoo.train import evaluate_torch
    w = get_entry("gamma-delay").weights
    if w is None:
        pytest.skip("gamma-delay weights not shipped")
    model = get_model("gamma-delay")  # SHA-256 verified
    acc = evaluate_torch(model, "delay", {"dt": 1.0}, n=200)
    assert acc >= w.metrics["test_accuracy"] - 0.05
