"""The Lava compiler as an explicit pass list (exporters.lava.passes) and quantisation per kind."""
from __future__ import annotations

import typing

import nir
import numpy as np
import pytest

from exporters.lava.passes import PASSES, GraphInput, run_passes
from exporters.lava.plan import compile_plan
from exporters.lava.quantize import quantize_plan
from exporters.nir.ext_gamma import sigma_delta_node
from exporters.nir.ext_hypr import brf_node
from exporters.nir.io import NIRError
from exporters.nir.validate import check_graph

I = np.array
DT = 1e-3


def _lif(n: int, rng) -> nir.LIF:
    tau = rng.uniform(2 * DT, 10 * DT, n)
    return nir.LIF(tau=tau, r=tau / DT, v_leak=np.zeros(n), v_threshold=np.full(n, 0.8), v_reset=np.zeros(n))


def _graph(hidden: nir.NIRNode | None = None, feedback: bool = False) -> nir.NIRGraph:
    """Input -> fc1 (bias) -> hid -> fc2 -> out (LIF) -> Output, optionally out -> back -> hid."""
    rng = np.random.default_rng(0)
    n_in, n, m = 4, 5, 3
    nodes = {"input": nir.Input(input_type={"input": I([n_in])}),
             "fc1": nir.Affine(weight=rng.normal(0.4, 0.5, (n, n_in)), bias=rng.normal(0.1, 0.1, n)),
             "hid": _lif(n, rng) if hidden is None else hidden,
             "fc2": nir.Linear(weight=rng.normal(0.3, 0.5, (m, n))),
             "out": _lif(m, rng),
             "output": nir.Output(output_type={"output": I([m])})}
    edges = [("input", "fc1"), ("fc1", "hid"), ("hid", "fc2"), ("fc2", "out"), ("out", "output")]
    if feedback:
        nodes["back"] = nir.Linear(weight=rng.normal(0.0, 0.3, (n, m)))
        edges += [("out", "back"), ("back", "hid")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": DT})


def test_pass_order_is_explicit():
    assert [name for name, _ in PASSES] == ["validate", "partition", "fuse_linear", "timing", "map_neurons",
                                            "attach_bias", "stages", "readout", "assemble"]
    for name, fn in PASSES:
        assert fn.__name__ == name and "->" in (fn.__doc__ or ""), f"pass {name}: docstring must state input -> output"


def test_each_pass_output_feeds_the_next():
    """Run the passes one at a time: each output has its declared type, which is the next pass's
    input type, and the last output is what compile_plan returns."""
    x = GraphInput(_graph(), None)
    hints = [typing.get_type_hints(fn) for _, fn in PASSES]
    for i, (name, fn) in enumerate(PASSES):
        param = next(v for k, v in hints[i].items() if k != "return")
        assert isinstance(x, param), f"pass {name} takes {param.__name__}, got {type(x).__name__}"
        x = fn(x)
        assert type(x) is hints[i]["return"], f"pass {name} returns {type(x).__name__}"
        if i + 1 < len(PASSES):
            nxt = next(v for k, v in hints[i + 1].items() if k != "return")
            assert hints[i]["return"] is nxt, f"{name} -> {PASSES[i + 1][0]}: types do not chain"
    ref = compile_plan(_graph())
    assert x.mapping == ref.mapping and [d.name for d in x.denses] == [d.name for d in ref.denses]
    for a, b in zip(x.denses, ref.denses):
        np.testing.assert_array_equal(a.weight, b.weight)
    assert x.neurons["hid"].latency == 1 and x.neurons["out"].latency == 2 and x.latency == 2


def test_run_passes_stops_where_asked():
    """A prefix of the pass list gives the intermediate (e.g. for a tool that wants the latencies)."""
    timed = run_passes(GraphInput(_graph(), None), PASSES[:4])
    assert timed.latency == {"__input__": 0, "hid": 1, "out": 2}


def test_recurrent_edge_across_dense_stages_is_refused():
    """out (latency 2) -> hid (latency 1): in Lava the feedback would arrive one step late. The
    check sees every population's latency, including those scheduled after the target."""
    check_graph(_graph(feedback=True))  # a valid NIR graph
    with pytest.raises(NIRError, match="'hid': recurrent input from 'out' spans Dense stages"):
        compile_plan(_graph(feedback=True))


def test_bias_register_not_kind_name():
    """The Affine bias goes to the register the spec names: u for a current register (CubaLIF)."""
    rng = np.random.default_rng(1)
    n = 5
    cuba = nir.CubaLIF(tau_syn=np.full(n, 3 * DT), tau_mem=np.full(n, 5 * DT), r=np.full(n, 5.0),
                       v_leak=np.zeros(n), v_threshold=np.full(n, 0.8), v_reset=np.zeros(n), w_in=np.full(n, 3.0))
    plan = compile_plan(_graph(cuba))
    spec = plan.neurons["hid"]
    assert spec.bias_register == "u" and np.any(spec.bias_u != 0) and not np.any(spec.bias_v)
    lif = compile_plan(_graph(_lif(n, rng))).neurons["hid"]
    assert lif.bias_register == "v" and np.any(lif.bias_v != 0) and not np.any(lif.bias_u)


def test_quantisation_per_kind():
    """A custom kind (BRF) gets its integer params from its own quantiser and no LIF registers;
    LIF populations get integer registers."""
    n = 5
    brf = brf_node(np.linspace(2.0, 6.0, n), np.full(n, 0.2), DT)
    plan = compile_plan(_graph(brf))
    fixed = quantize_plan(plan)
    hid, out = fixed.neurons["hid"], fixed.neurons["out"]
    assert hid.params is not None and all(np.asarray(v).dtype.kind == "i" for v in hid.params.values())
    for key in ("du", "dv", "vth", "bias_u", "bias_v", "v_reset", "da", "ja"):
        assert getattr(hid, key) is getattr(plan.neurons["hid"], key), f"{key} written for a custom kind"
        assert np.asarray(getattr(out, key)).dtype.kind == "i", f"LIF register {key} not an integer"
    assert fixed.report["hid"].decay_abs_error is None and fixed.report["out"].decay_abs_error is not None


def test_delta_senders_feed_only_chains():
    """sigma-delta sends deltas (PopulationKind.deltas): a LIF population cannot receive them."""
    with pytest.raises(NIRError, match="'out': the sigma_delta output of 'hid' sends deltas"):
        compile_plan(_graph(sigma_delta_node(5, 0.1)))
