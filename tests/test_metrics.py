"""NeuroBench-style metrics (zoo/metrics.py): hand-computed values on tiny networks, and an
independent NeuroBench-procedure re-implementation (forward hooks, binary layer copies) on the
torch lif-digits model. The ``neurobench`` package itself is not installed (not a dependency)."""
from __future__ import annotations

import nir
import numpy as np
import pytest
import torch
from torch import nn

from zoo import metrics

A = np.array


def _lif(n: int, shape=None) -> nir.LIF:
    tau = np.full(n, 2e-3)
    shp = (n,) if shape is None else shape
    return nir.LIF(tau=tau.reshape(shp), r=(tau / 1e-3).reshape(shp), v_leak=np.zeros(shp), v_threshold=np.ones(shp),
                   v_reset=np.zeros(shp), metadata={"zoo.reset": "zero"})


W1 = A([[1.0, 0.0, 2.0], [0.0, 0.0, -1.0]])  # column nonzeros: 1, 0, 2
W2 = A([[0.5, 0.0]])  # column nonzeros: 1, 0


def tiny_graph() -> nir.NIRGraph:
    nodes = {"input": nir.Input(input_type={"input": A([3])}), "fc0": nir.Linear(weight=W1), "n0": _lif(2),
             "fc1": nir.Linear(weight=W2), "n1": _lif(1), "output": nir.Output(output_type={"output": A([1])})}
    edges = [("input", "fc0"), ("fc0", "n0"), ("n0", "fc1"), ("fc1", "n1"), ("n1", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": 1e-3})


X = A([[[1, 0, 1], [0, 1, 0]], [[0, 0, 0], [1, 1, 1]]], dtype=float)  # (B=2, T=2, 3)
S0 = A([[[1, 1], [0, 1]], [[0, 0], [1, 0]]], dtype=float)  # spikes of n0, (2, 2, 2)


def test_synaptic_operations_hand_computed():
    from exporters.lava.plan import compile_plan

    g = tiny_graph()
    plan = compile_plan(g)
    struct = metrics.dense_structure(g, plan)
    assert struct == {"__input__->n0": 6, "n0->n1": 2}
    ops = metrics.synaptic_operations(plan, X, {"n0": S0}, structure=struct)
    # input stage: sample 0: t0 -> 1+2, t1 -> 0; sample 1: t0 -> 0, t1 -> 1+0+2; (3 + 3) / 2 = 3
    # n0 -> n1: sample 0: t0 -> 1, t1 -> 0; sample 1: t1 -> 1; (1 + 1) / 2 = 1
    assert ops["stages"]["__input__->n0"] == {"dense": 12.0, "effective": 3.0, "kind": "AC"}
    assert ops["stages"]["n0->n1"] == {"dense": 4.0, "effective": 1.0, "kind": "AC"}
    assert (ops["Dense"], ops["Effective_ACs"], ops["Effective_MACs"]) == (16.0, 4.0, 0.0)
    graded = metrics.synaptic_operations(plan, X * 0.5, {"n0": S0}, structure=struct)
    assert (graded["Effective_MACs"], graded["Effective_ACs"]) == (3.0, 1.0)
    # fixed-point weights with an extra zero remove synapses from the effective count
    w_fixed = {"__input__->n0": A([[2, 0, 0], [0, 0, -2]]), "n0->n1": A([[2, 0]])}
    fx = metrics.synaptic_operations(plan, X, {"n0": S0}, weights=w_fixed, structure=struct)
    assert fx["stages"]["__input__->n0"]["effective"] == 2.0  # column nnz 1, 0, 1


def test_conv_dense_counts_kernel_taps_inside_the_image():
    """NeuroBench's dense count for a 3x3 conv (padding 1) on 3x3: ones kernel on ones input
    sums to 4 corners*4 + 4 edges*6 + 9 = 49, not the 81 entries of the fused matrix."""
    from exporters.lava.plan import compile_plan

    conv = nir.Conv2d(input_shape=(3, 3), weight=np.arange(9.0).reshape(1, 1, 3, 3) - 4, stride=1, padding=1,
                      dilation=1, groups=1, bias=np.zeros(1))
    nodes = {"input": nir.Input(input_type={"input": A([1, 3, 3])}), "conv": conv, "n0": _lif(9, (1, 3, 3)),
             "output": nir.Output(output_type={"output": A([1, 3, 3])})}
    g = nir.NIRGraph(nodes=nodes, edges=[("input", "conv"), ("conv", "n0"), ("n0", "output")], metadata={"dt": 1e-3})
    plan = compile_plan(g)
    ref = int(torch.nn.functional.conv2d(torch.ones(1, 1, 3, 3), torch.ones(1, 1, 3, 3), padding=1).sum())
    assert ref == 49
    assert metrics.dense_structure(g, plan) == {"__input__->n0": 49}
    # the centre tap of the kernel is 0: effective ops on an all-ones input skip it (9 outputs)
    ops = metrics.synaptic_operations(plan, np.ones((1, 1, 1, 3, 3)), {}, structure=metrics.dense_structure(g, plan))
    assert ops["Effective_ACs"] == 49 - 9


def test_sparsity_membrane_updates_and_footprints_hand_computed():
    from exporters.lava import build_plan

    assert metrics.activation_sparsity({"n0": S0}) == 0.5  # 4 spikes in 8 neuron-steps
    v = A([[[0, 1], [0, 1], [2, 0]]], dtype=float)  # t0: both neurons (first step), t1 none, t2 two
    assert metrics.membrane_updates({"n0": v}) == {"effective": 4.0, "dense": 6.0}
    g = tiny_graph()
    assert metrics.connection_sparsity(g) == 4 / 8
    fp = metrics.fixed_footprint(build_plan(g, "fixed"))
    per_neuron = 3 + 3 + 2 + 2 + 3 + 2 + 2 + 3  # u v du dv vth bias_u bias_v v_reset
    assert fp == {"weights": 6 + 1 + 2 + 1, "neurons": 3 * per_neuron, "total": 10 + 3 * per_neuron}

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 2)
            self.register_buffer("beta", torch.zeros(2))
            self.register_buffer("k", torch.zeros(1, dtype=torch.float64))

    assert metrics.parameter_count(M()) == 8
    assert metrics.footprint(M()) == 8 * 4 + 2 * 4 + 8


def _neurobench_procedure(model, x):
    """NeuroBench's own procedure (re-implemented): hooks record every Linear input and Leaky
    output; per call, effective ops = binary copy of the layer (nonzero weights -> 1) applied to
    the binarised input, summed; dense = all-ones copy on an all-ones input; spiking inputs are
    ACs, graded ones MACs; membrane updates = numel at the first call of a layer, then
    nonzero(mem after - mem before)."""
    calls, acts, mem, seen = [], [], [0], set()

    def lin_hook(layer, inp, _out):
        calls.append((layer, inp[0].detach().clone()))

    def lif_hook(layer, inp, out):
        acts.append(out[0].detach())
        # NeuroBench: numel of the first recorded potential, then nonzero(post - pre)
        mem[0] += int(out[1].numel()) if id(layer) not in seen else int(torch.count_nonzero(out[1] - inp[1]))
        seen.add(id(layer))

    hs = [m.register_forward_hook(lin_hook) for m in (model.fc1, model.fc2)]
    hs += [m.register_forward_hook(lif_hook) for m in (model.lif1, model.lif2)]
    with torch.no_grad():
        model(x.transpose(0, 1))
    for h in hs:
        h.remove()
    mac = ac = dense = 0
    for layer, inp in calls:
        spiking = bool(torch.all((inp == 0) | (inp == 1)))
        binw = (layer.weight != 0).float()
        eff = int(((inp != 0).float() @ binw.T).sum())
        dense += int((torch.ones_like(inp) @ torch.ones_like(binw).T).sum())
        ac, mac = (ac + eff, mac) if spiking else (ac, mac + eff)
    spk = sum(int(torch.count_nonzero(a)) for a in acts)
    tot = sum(a.numel() for a in acts)
    b = x.shape[0]
    return {"Effective_ACs": ac / b, "Effective_MACs": mac / b, "Dense": dense / b,
            "activation_sparsity": (tot - spk) / tot, "membrane_updates": mem[0] / b}


def test_lif_digits_matches_neurobench_procedure_on_torch_module():
    import zoo
    from exporters.lava import build_plan, emulate
    from exporters.nir import from_nir
    from zoo.evaluate import export_graph, load_eval_data

    torch.set_num_threads(1)
    model = zoo.get_model("lif-digits")
    x, _ = load_eval_data("lif-digits", 24)
    nb = _neurobench_procedure(model, x)
    g = export_graph("lif-digits", model)
    plan = build_plan(g, "float")
    ref = from_nir(g)
    with torch.no_grad():
        ref(x.transpose(0, 1).double(), record=True)
    spikes = {n: ref.records[n].transpose(0, 1).numpy() for n in plan.neurons}
    volts = emulate(plan, x.numpy()).voltages
    ours = metrics.neurobench(model, g, plan, x.numpy(), {"torch": {"spikes": spikes, "voltages": volts}},
                              build_plan(g, "fixed"))
    d = ours["dynamic"]["torch"]
    assert nb["Effective_ACs"] > 1000 and nb["Effective_MACs"] == 0
    for k in ("Effective_ACs", "Effective_MACs", "Dense", "activation_sparsity"):
        assert d[k] == pytest.approx(nb[k], rel=1e-12), k
    assert d["membrane_updates"] == pytest.approx(nb["membrane_updates"], rel=1e-3)
    assert ours["static"]["parameter_count"] == 64 * 128 + 128 + 128 * 10 + 10
    assert ours["static"]["connection_sparsity"] == float((model.fc1.weight == 0).sum() + (model.fc2.weight == 0).sum()) \
        / (64 * 128 + 128 * 10)


def test_footprint_does_not_depend_on_the_last_batch():
    import zoo

    m = zoo.get_model("lif-digits")
    before = metrics.footprint(m)
    with torch.no_grad():
        m(torch.zeros(3, 50, 64))  # snnTorch resizes its non-persistent `mem` buffers to the batch
    # float32 weights, biases, beta and threshold; per layer graded_spikes_factor (float32) and reset code (int64)
    assert metrics.footprint(m) == before == 4 * (64 * 128 + 128 + 128 * 10 + 10) + 4 * (128 + 10) * 2 + 2 * (4 + 8)


def x_steps(res: dict) -> int:
    return res["neurobench"]["steps"]


def test_metrics_for_every_registered_model_that_exports():
    """Every shipped model whose NIR export compiles to a Lava plan gets every metric, with
    consistent bounds (effective <= dense, sparsities in [0, 1])."""
    from zoo.evaluate import evaluate
    from zoo.registry import get_entry, list_models

    torch.set_num_threads(1)
    done = 0
    for name in list_models():
        if get_entry(name).weights is None:
            continue
        try:
            res = evaluate(name, 4, backends=("torch", "emulator"))
        except Exception as exc:  # noqa: BLE001 - models without a NIR export are not this test's subject
            if "NIR" in type(exc).__name__ or "no NIR exporter" in str(exc):
                continue
            raise
        nb = res["neurobench"]
        assert nb["static"]["parameter_count"] > 0 and nb["static"]["footprint_bytes"] > 0, name
        fixed_ok = res["backends"]["emulator"].get("value") is not None  # some models have no fixed point yet
        assert ("fixed_footprint_bytes" in nb["static"]) == fixed_ok, name
        assert set(nb["dynamic"]) == ({"torch", "emulator"} if fixed_ok else {"torch"}), name
        for label, d in nb["dynamic"].items():
            # None only for networks without spiking populations (graded sigma-delta messages)
            no_spiking = not any(res["agreement_per_step"].values())
            assert (d["activation_sparsity"] is None and no_spiking) or 0 <= d["activation_sparsity"] <= 1, (name, label)
            assert 0 < d["Effective_ACs"] + d["Effective_MACs"] <= d["Dense"], (name, label)
            assert 0 < d["membrane_updates"] <= d["membrane_updates_dense"], (name, label)
        assert set(res["agreement_per_step"]) == ({"spike_match_emulator_vs_torch"} if fixed_ok else set())
        assert all(len(v) in (0, x_steps(res)) for v in res["agreement_per_step"].values())
        done += fixed_ok
    assert done >= 2


def _neurobench_sops(model, x):
    """NeuroBench's SynapticOperations procedure on any torch module: hook every Linear/Conv2d
    call; effective = binary layer copy on the binarised input (AC if the input is all 0/1,
    else MAC), dense = all-ones copy on an all-ones input; per sample."""
    calls = []
    hs = [m.register_forward_hook(lambda layer, inp, out: calls.append((layer, inp[0].detach().clone())))
          for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    with torch.no_grad():
        model(x.transpose(0, 1))
    for h in hs:
        h.remove()
    mac = ac = dense = 0.0
    for layer, inp in calls:
        if isinstance(layer, nn.Linear):
            def op(a, w):
                return a @ w.T
        else:
            def op(a, w, layer=layer):
                return torch.nn.functional.conv2d(a, w, None, layer.stride, layer.padding, layer.dilation, layer.groups)
        eff = float(op((inp != 0).double(), (layer.weight != 0).double()).sum())
        dense += float(op(torch.ones_like(inp).double(), torch.ones_like(layer.weight).double()).sum())
        if bool(torch.all((inp == 0) | (inp == 1))):
            ac += eff
        else:
            mac += eff
    b = x.shape[0]
    return {"Effective_ACs": ac / b, "Effective_MACs": mac / b, "Dense": dense / b}


@pytest.mark.parametrize("name", ["stop-digits-fc", "star-mackey-glass"])
def test_sops_match_neurobench_procedure_graded_inputs_and_recurrence(name):
    """Graded inputs (MACs), membrane readouts (MACs) and recurrent Linear layers (the last
    step's spikes are never sent) give NeuroBench's numbers exactly on the torch module."""
    import zoo
    from zoo.evaluate import evaluate, load_eval_data
    from zoo.registry import get_entry

    if get_entry(name).weights is None:
        pytest.skip(f"{name} has no shipped weights")
    torch.set_num_threads(1)
    x, _ = load_eval_data(name, 6)
    nb = _neurobench_sops(zoo.get_model(name), x)
    ours = evaluate(name, 6, backends=("torch", "emulator"))["neurobench"]["dynamic"]["torch"]
    assert nb["Effective_MACs"] > 0 and nb["Effective_ACs"] > 0
    for k in ("Effective_ACs", "Effective_MACs", "Dense"):
        assert ours[k] == pytest.approx(nb[k], rel=1e-12), k


def test_recurrent_stage_skips_the_last_step_hand_computed():
    """x -> Linear -> LIF(2) with a recurrent Linear: s_t is sent at t+1, so only s_0 counts."""
    from exporters.lava.plan import compile_plan

    nodes = {"input": nir.Input(input_type={"input": A([1])}), "fc": nir.Linear(weight=A([[1.0], [1.0]])),
             "n0": _lif(2), "rec": nir.Linear(weight=A([[0.0, 0.5], [0.5, 0.5]])),
             "output": nir.Output(output_type={"output": A([2])})}
    edges = [("input", "fc"), ("fc", "n0"), ("n0", "rec"), ("rec", "n0"), ("n0", "output")]
    g = nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": 1e-3})
    plan = compile_plan(g)
    s = A([[[1, 1], [1, 0]]], dtype=float)  # (B=1, T=2, 2)
    ops = metrics.synaptic_operations(plan, A([[[1.0], [0.0]]]), {"n0": s}, structure=metrics.dense_structure(g, plan))
    rec = next(v for k, v in ops["stages"].items() if k.startswith("n0->"))
    assert rec == {"dense": 8.0, "effective": 1.0 + 2.0, "kind": "AC"}  # s_0 = [1, 1]: column nnz 1 + 2


def test_fixed_footprint_of_custom_population_kinds_hand_computed():
    """A population with its own process model: 24-bit state registers per neuron, integer
    parameters in the smallest signed register (per neuron for arrays, once for scalars)."""
    from types import SimpleNamespace

    spec = SimpleNamespace(n=4, kind="not-a-registered-kind", params={"dv": A([1, 2, 3, -4]), "theta": 300,
                                                                        "flag": "x"})
    # state ("v",): 4 * 3 B; dv: |-4| -> 3 bits + sign -> 1 B x 4 neurons; theta 300: 9 + 1 bits -> 2 B once
    assert metrics._custom_population_bytes(spec) == 12 + 4 + 2
    fplan = SimpleNamespace(weights={"a->b": np.zeros((3, 2), int)}, neurons={"p": spec})
    assert metrics.fixed_footprint(fplan) == {"weights": 6 + 1, "neurons": 18, "total": 25}
