"""HYPR's backward pass as an associative (parallel-prefix) scan: equal to online e-prop and to
the sequential reference loop in float64 (issue 19, item 3)."""
from __future__ import annotations

import math

import pytest
import torch

from zoo.learning.eligibility import BACKWARDS, EpropGradient, suffix_scan
from zoo.models.hypr import RecurrentSNN

torch.set_num_threads(1)
D = torch.float64
GAIN = {"brf": 80.0, "seadlif": 40.0, "alif": 40.0}
T = 37  # prime: no lambda below divides it


def _problem(neuron: str, seed: int = 0, B: int = 3):
    torch.manual_seed(seed)
    m = RecurrentSNN(3, 8, 4, neuron=neuron, w_in_gain=GAIN[neuron], w_rec_gain=GAIN[neuron] / 2).double()
    x = (torch.rand(B, T, 3) < 0.4).double()
    y = torch.randint(0, 4, (B, T))
    y[:, :4] = -1
    return m, x, y


def _grads(m, rule, x, y):
    m.zero_grad(set_to_none=True)
    loss = rule(x, y)
    g = {k: p.grad.clone() for k, p in m.named_parameters()}
    m.zero_grad(set_to_none=True)
    return g, loss


def _maxdiff(a, b):
    return max((a[k] - b[k]).abs().max().item() for k in a)


@pytest.mark.parametrize("L", [1, 2, 3, 5, 8, 13, 64, 100])
@pytest.mark.parametrize("C", [1, 4])
def test_suffix_scan_equals_loop(L, C):
    torch.manual_seed(L)
    A = torch.randn(L - 1, 2, 3, 3, 3, dtype=D) * 0.6
    src = torch.randn(L, 2, 3, 3, C, dtype=D)
    ref = suffix_scan(A, src, "loop")
    V = torch.zeros_like(src)  # the recursion written out, independent of both implementations
    V[L - 1] = src[L - 1]
    for t in range(L - 2, -1, -1):
        V[t] = src[t] + torch.einsum("...rs,...sc->...rc", A[t], V[t + 1])
    assert (ref - V).abs().max() < 1e-12
    assert (suffix_scan(A, src, "scan") - V).abs().max() < 1e-12 * max(1.0, V.abs().max().item())
    with pytest.raises(ValueError):
        suffix_scan(A, src, "sequential")


@pytest.mark.parametrize("neuron", ["brf", "seadlif", "alif"])
def test_hypr_scan_equals_online_eprop(neuron):
    """For lambda = 1 (online e-prop), powers of two, non-powers of two, lambdas that do not
    divide T = 37, lambda = T and lambda > T: HYPR-scan == online e-prop to 1e-10 (float64)."""
    m, x, y = _problem(neuron)
    ep, loss_ep = _grads(m, EpropGradient(m, lam=None), x, y)
    scale = max(v.abs().max().item() for v in ep.values())
    assert scale > 1e-3 and ep["w_rec"].abs().max() > 1e-6  # not vacuous
    worst = 0.0
    for lam in (1, 2, 3, 5, 7, 8, 16, 20, 37, 50):
        hy, loss = _grads(m, EpropGradient(m, lam=lam), x, y)  # default backward: the scan
        d = _maxdiff(hy, ep)
        worst = max(worst, d)
        assert d < 1e-10 and d < 1e-12 * scale, (lam, d)
        assert abs(loss - loss_ep) < 1e-12
        lo, _ = _grads(m, EpropGradient(m, lam=lam, backward="loop"), x, y)
        assert _maxdiff(hy, lo) < 1e-10, lam
    print(f"{neuron}: max |HYPR-scan - e-prop| over lambdas = {worst:.2e} (largest gradient entry {scale:.2e})")


def test_scan_is_default_and_backward_checked():
    import inspect

    from zoo.learning.hypr import HYPR

    assert BACKWARDS == ("scan", "loop")
    assert inspect.signature(HYPR.__init__).parameters["backward"].default == "scan"
    assert EpropGradient(None, lam=4).backward == "scan"
    with pytest.raises(ValueError):
        EpropGradient(None, lam=4, backward="parallel")


@pytest.mark.parametrize("L", [2, 3, 100, 1300])
def test_scan_depth_is_log(monkeypatch, L):
    """The scan recurses ceil(log2 L) + 1 times (at most two batched matmul rounds per level)
    instead of looping L - 1 times."""
    import zoo.learning.eligibility as el

    calls = {"n": 0}
    real = el._suffix_affine

    def counting(A, s):
        calls["n"] += 1
        return real(A, s)

    monkeypatch.setattr(el, "_suffix_affine", counting)
    A = torch.randn(L - 1, 2, 2, 2, dtype=D) * 0.5
    src = torch.randn(L, 2, 2, 3, dtype=D)
    assert (el.suffix_scan(A, src, "scan") - el.suffix_scan(A, src, "loop")).abs().max() < 1e-12
    assert calls["n"] == math.ceil(math.log2(L)) + 1
