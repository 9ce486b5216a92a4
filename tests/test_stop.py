"""STOP (docs/papers.md §3): neuron equations, STOP rule vs autograd, cosine to BPTT, shipped weights."""
from __future__ import annotations

import math

import pytest
import torch

from zoo.learning.stop import (VARIANTS, STOP, bptt_gradients, cosine, cut_autograd_gradients,
                               learned_parameters, per_step_loss, stop_gradients)
from zoo.models.stop import stop_digits_conv, stop_digits_fc
from zoo.neurons.stop_lif import STOPLIFCell, STOPLIFParameters, stop_lif_step
from zoo.neurons.surrogate import exp_heaviside
from zoo.tasks import get_task
from zoo.tasks.digits import load


def _net(kind: str, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    m = (stop_digits_fc(hidden=(32, 24)) if kind == "fc" else stop_digits_conv(channels=(4, 6))).double()
    with torch.no_grad():  # heterogeneous thresholds, non-default leaks: every term matters
        for i, b in enumerate(m.blocks):
            b.lif.alpha.fill_(0.6 + 0.15 * i)
            b.lif.v_threshold.uniform_(0.3, 1.0)
    return m


def _batch(kind: str, n: int = 12, steps: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = load("train", n=n, steps=steps, encoding="direct", image=(kind == "conv"))
    return 2.0 * x.double().transpose(0, 1), y


# --- neuron ---------------------------------------------------------------------------------

def test_neuron_hand_computed_steps():
    """alpha=0.5, theta=1: I = 1.5, 0.2, 1.0, 0.0 -> v = 1.5, 0.45, 1.225, 0.1125 (by hand)."""
    p = STOPLIFParameters(torch.tensor([0.5]), torch.tensor([1.0]))
    state, vs, ss = None, [], []
    for i in (1.5, 0.2, 1.0, 0.0):
        s, state = stop_lif_step(torch.tensor([[i]]), state, p)
        vs.append(float(state.v))
        ss.append(float(s))
    assert vs == pytest.approx([1.5, 0.5 * (1.5 - 1.0) + 0.2, 0.5 * 0.45 + 1.0, 0.5 * (1.225 - 1.0)])
    assert ss == [1.0, 0.0, 1.0, 0.0]


def test_neuron_strict_threshold_and_per_channel_broadcast():
    cell = STOPLIFCell(3, alpha=0.9, v_threshold=1.0)
    with torch.no_grad():
        cell.v_threshold.copy_(torch.tensor([0.5, 1.0, 2.0]))
    s, st = cell(torch.ones(2, 3, 4, 4))  # conv state: per-channel threshold
    assert torch.equal(s[:, 0], torch.ones(2, 4, 4))   # 1 > 0.5
    assert torch.equal(s[:, 1], torch.zeros(2, 4, 4))  # 1 > 1 is False (strict, Lava rule)
    assert torch.equal(s[:, 2], torch.zeros(2, 4, 4))
    s2, st2 = cell(torch.zeros(2, 3, 4, 4), st)
    expect = 0.9 * (1.0 - torch.tensor([0.5, 0.0, 0.0]))  # channel 0 subtracts its own 0.5
    assert torch.allclose(st2.v[0, :, 1, 1], expect)


def test_exp_surrogate_gradient():
    x = torch.tensor([-2.0, -0.3, 0.0, 0.7], requires_grad=True)
    exp_heaviside(x).sum().backward()
    assert torch.allclose(x.grad, torch.exp(-x.detach().abs()))
    assert exp_heaviside(x).tolist() == [0.0, 0.0, 0.0, 1.0]


def test_model_forward_matches_manual_equations():
    """FC net forward against the documented equations written out by hand (float64)."""
    m = _net("fc")
    x, _ = _batch("fc", n=3, steps=5)
    y = m(x)
    v = [None, None]
    s = [None, None]
    for t in range(x.shape[0]):
        h = x[t]
        for i, b in enumerate(m.blocks):
            cur = h @ b.syn.weight.T + b.syn.bias
            a, th = float(b.lif.alpha), b.lif.v_threshold
            v[i] = cur if v[i] is None else a * (v[i] - th * s[i]) + cur
            s[i] = (v[i] > th).double()
            h = s[i]
        assert torch.allclose(y[t], h @ m.readout.weight.T + m.readout.bias)


# --- STOP rule ------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["fc", "conv"])
@pytest.mark.parametrize("variant", ["W", "WT", "WL", "WTL"])
def test_stop_equals_cut_autograd(kind, variant):
    """STOP's trace/same-step-error updates == autograd of the same network with reset spikes
    and earlier-step inter-layer spikes detached, to 1e-5 (float64)."""
    m = _net(kind)
    x, y = _batch(kind)
    g, loss = stop_gradients(m, x, y, variant)
    ref = cut_autograd_gradients(m, x, y, variant)
    assert set(g) == set(ref)
    assert loss == pytest.approx(float(per_step_loss(m(x), y)), rel=1e-12)
    for k in ref:
        assert ref[k].abs().max() > 0, k  # the check is not vacuous
        assert torch.allclose(g[k], ref[k], rtol=1e-5, atol=1e-5 * float(ref[k].abs().max())), k
    if "T" not in variant:
        assert not any(k.endswith("v_threshold") for k in g)
    if "L" not in variant:
        assert not any(k.endswith("alpha") for k in g)


@pytest.mark.parametrize("kind", ["fc", "conv"])
def test_leak_reduction_mean_is_sum_over_neuron_count(kind):
    """leak_reduction="mean": the leak update is the exact (cut-autograd) gradient divided by the
    layer's neuron count per sample (C*H*W for conv); every other update is unchanged."""
    m = _net(kind)
    x, y = _batch(kind)
    ref = cut_autograd_gradients(m, x, y, "WTL")
    g_sum, _ = stop_gradients(m, x, y, "WTL")  # the default
    g_mean, _ = stop_gradients(m, x, y, "WTL", leak_reduction="mean")
    counts = []
    with torch.no_grad():
        h = x[0]
        for b in m.blocks:
            h, _ = b(h)
            counts.append(h[0].numel())
    assert len(set(counts)) == len(counts) and min(counts) > 1  # distinct per layer: the division is per layer
    for k in ref:
        if k.endswith("lif.alpha"):
            n = counts[int(k.split(".")[1])]
            assert torch.allclose(g_sum[k], ref[k], rtol=1e-5, atol=0), k
            assert torch.allclose(g_mean[k] * n, ref[k], rtol=1e-5, atol=0), k
            assert not torch.allclose(g_mean[k], ref[k], rtol=1e-2, atol=0), k
        else:
            assert torch.equal(g_mean[k], g_sum[k]), k
    with pytest.raises(ValueError):
        stop_gradients(m, x, y, "WTL", leak_reduction="median")
    with pytest.raises(ValueError):
        STOP(m, get_task("digits"), leak_reduction="avg")


def test_leak_reduction_is_a_recipe_key(tmp_path):
    from zoo.registry import ZooError
    from zoo.train import load_recipe

    text = open("recipes/stop-digits-fc.toml").read()
    good = tmp_path / "good.toml"
    good.write_text(text.replace('rule = "stop"', 'rule = "stop"\nleak_reduction = "mean"'))
    assert load_recipe(good)["learning"]["leak_reduction"] == "mean"
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace('rule = "stop"', 'rule = "stop"\nleak_reduction = 1'))
    with pytest.raises(ZooError):
        load_recipe(bad)


@pytest.mark.parametrize("kind", ["fc", "conv"])
def test_stop_cosine_to_bptt(kind):
    """STOP-WTL is an approximation of BPTT: close in direction, not equal."""
    m = _net(kind)
    x, y = _batch(kind)
    g, _ = stop_gradients(m, x, y, "WTL")
    full, _ = bptt_gradients(m, x, y)
    c = cosine(g, full)
    print(f"{kind}: cosine(STOP-WTL, BPTT) = {c:.4f}")
    assert 0.8 < c < 1.0 - 1e-9
    hidden = [k for k in g if k.startswith("blocks.0.syn.weight")]
    assert not torch.allclose(g[hidden[0]], full[hidden[0]])  # temporal paths really are cut


def test_learner_trains_and_clamps():
    torch.manual_seed(0)
    m = stop_digits_fc(hidden=(32,))
    task = get_task("digits")
    x, y = load("train", n=64, steps=4, encoding="direct")
    learner = STOP(m, task, variant="WTL", lr=0.05, alpha_max=0.95)
    losses = [learner.step((x, y))["loss"] for _ in range(15)]
    assert losses[-1] < 0.7 * losses[0]
    assert 0.0 <= float(m.blocks[0].lif.alpha) <= 0.95
    assert float(m.blocks[0].lif.v_threshold.min()) >= 0.05
    assert set(map(id, learned_parameters(m, "W"))) < set(map(id, learned_parameters(m, "WTL")))
    assert VARIANTS[-1] == "BPTT"
    bp = STOP(stop_digits_fc(hidden=(8,)), task, variant="BPTT")
    assert math.isfinite(bp.step((x[:8], y[:8]))["loss"])


# --- shipped models -------------------------------------------------------------------------

@pytest.mark.parametrize("name,target", [("stop-digits-fc", 0.96), ("stop-digits-conv", 0.97)])
def test_shipped_weights_reach_target(name, target):
    from zoo.registry import get_model, get_weights
    from zoo.train import evaluate_torch

    w = get_weights(name)
    model = get_model(name)
    acc = evaluate_torch(model, "digits", {k: v for k, v in w.meta["task"].items() if k != "name"})
    assert acc == pytest.approx(w.metrics["test_accuracy"], abs=1e-6)
    assert acc >= target


@pytest.mark.slow
def test_fc_recipe_reproduces(tmp_path):
    from zoo.train import load_recipe, train

    meta = train(load_recipe("recipes/stop-digits-fc.toml"), tmp_path, progress=False)
    assert meta["meta"]["metrics"]["test_accuracy"] >= 0.96


def test_stop_memory_flat_in_T_bptt_grows():
    """Peak tensor memory of one training step (profiler): STOP independent of T, BPTT not."""
    from zoo.profiling import profiled_peak_bytes

    task = get_task("digits")
    peaks = {}
    for variant in ("WTL", "BPTT"):
        for T in (2, 8):
            torch.manual_seed(0)
            learner = STOP(stop_digits_fc(hidden=(64, 64)), task, variant=variant)
            x, y = load("train", n=32, steps=T, encoding="direct")
            learner.step((x, y))
            peaks[variant, T] = profiled_peak_bytes(lambda: learner.step((x, y)))
    assert peaks["WTL", 8] <= 1.2 * peaks["WTL", 2]
    assert peaks["BPTT", 8] >= 2.0 * peaks["BPTT", 2]
