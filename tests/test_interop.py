"""Exports that run in other tools (exporters/nir/targets.py) and the nirtorch node map
(exporters/nir/nodemap.py). Every cell of docs/interop.md that says it works is tested here on
a few samples and short sequences (the table itself: python -m benchmarks.interop.table)."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import nir
import numpy as np
import pytest
import torch

from exporters.nir.io import NIRError
from exporters.nir.target_runs import agreement, reference, run_framework
from exporters.nir.targets import Refused, export_for_target, graph_for_target
from zoo.pipeline import export_graph

ROOT = Path(__file__).resolve().parents[1]
TABLE = json.loads((ROOT / "benchmarks" / "interop" / "results" / "interop.json").read_text())["models"]
CELLS = [(m, t, c) for m, r in TABLE.items() for t, c in r["cells"].items()]
WORKS = [(m, t) for m, t, c in CELLS if c["status"] == "pass"]
REFUSED = [(m, t, c["reason"]) for m, t, c in CELLS if c["status"] == "refused"]
warnings.filterwarnings("ignore", category=DeprecationWarning)


def _inputs(name: str, samples: int = 2, steps: int = 12) -> np.ndarray:
    from zoo.conformance import kit_inputs

    return kit_inputs(name, samples, steps)[0]


def test_table_lists_every_shipped_model_and_claims_something():
    """Every shipped model has a row (regenerate: python -m benchmarks.interop.table); a row the
    table could not measure ("unavailable") is only accepted while the model still cannot be
    exported here, and every measured model works with at least one tool."""
    from zoo.registry import shipped_models

    missing = sorted(set(shipped_models()) - set(TABLE))
    assert not missing, f"models without a row in docs/interop.md: {missing}"
    for name, row in TABLE.items():
        if row.get("unavailable"):
            with pytest.raises(Exception):
                export_graph(name)
                _inputs(name)
        else:
            assert any(c["status"] == "pass" for c in row["cells"].values()), name
    assert all(c["status"] in ("pass", "refused", "unavailable") for _, _, c in CELLS), "a cell of the table fails"


@pytest.mark.parametrize("name,target", WORKS)
def test_claimed_cell_works_through_a_file(name, target, tmp_path):
    """zoo export NAME --target T, read back from disk, run by T's own importer == zoo semantics."""
    path = export_for_target(export_graph(name), target, tmp_path / f"{name}.nir")
    graph = nir.read(path)
    assert graph.metadata["zoo.target"] == target
    x = _inputs(name)
    res = agreement(reference(export_graph(name), x), run_framework(graph, target, x))
    assert res["spike_agreement"] in (None, 1.0), res
    assert res["output_max_abs_diff"] <= 1e-6, res
    if res["spike_agreement"] is not None:
        assert res["populations"], "no spiking population was compared"


@pytest.mark.parametrize("name,target,reason", REFUSED)
def test_refused_cell_refuses_with_one_line(name, target, reason, tmp_path):
    with pytest.raises(Refused) as exc:
        export_for_target(export_graph(name), target, tmp_path / "x.nir")
    assert str(exc.value) == reason and "\n" not in reason
    assert not (tmp_path / "x.nir").exists()


# ----------------------------------------------------------------------------- the workarounds, one by one

def _lif_graph(reset: str = "zero", dt: float = 1e-3, seed: int = 0, per_neuron: bool = True) -> nir.NIRGraph:
    """Input(6) -> Affine -> LIF(5) -> Affine -> LIF(3) with per-neuron tau, thresholds and r != tau/dt."""
    rng = np.random.default_rng(seed)
    nodes = {"input": nir.Input(input_type={"input": np.array([6])})}
    edges, prev, n_in = [("input", "fc1")], "input", 6
    for i, n in enumerate((5, 3), 1):
        tau = rng.uniform(3e-3, 2e-2, n)
        thr = rng.uniform(0.5, 1.5, n) if per_neuron else np.ones(n)
        nodes[f"fc{i}"] = nir.Affine(weight=rng.normal(0, 1.2, (n, n_in)), bias=rng.normal(0, 0.1, n))
        nodes[f"lif{i}"] = nir.LIF(tau=tau, r=rng.uniform(2, 8, n), v_leak=np.zeros(n), v_threshold=thr,
                                   v_reset=np.zeros(n), metadata={"zoo.reset": reset})
        edges += [(f"fc{i}", f"lif{i}")] + ([(f"lif{i}", f"fc{i + 1}")] if i == 1 else [])
        n_in = n
    nodes["output"] = nir.Output(output_type={"output": np.array([3])})
    edges.append(("lif2", "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": dt})


def _x(seed: int = 1, batch: int = 3, steps: int = 60, n: int = 6) -> np.ndarray:
    return (np.random.default_rng(seed).random((batch, steps, n)) < 0.4).astype(np.float64)


@pytest.mark.parametrize("target", ["snntorch", "norse", "nirtorch", "nir"])
def test_per_neuron_thresholds_gains_and_dt_are_worked_around(target):
    """Per-neuron thresholds, r != tau/dt and dt = 1e-3 (neither snnTorch's 1e-4 nor, after the
    rewrite, a Norse-specific value): each importer reproduces the zoo's spikes exactly."""
    g, x = _lif_graph(dt=2e-3), _x()
    ref = reference(g, x)
    assert sum(s.sum() for s in ref["spikes"].values()) > 20  # the test means something: neurons fire
    res = agreement(ref, run_framework(graph_for_target(g, target), target, x))
    assert res["spike_agreement"] == 1.0 and res["output_max_abs_diff"] == 0.0, res


@pytest.mark.parametrize("target", ["snntorch", "norse"])
def test_raw_graph_in_framework_differs(target):
    """Control: the same graph handed to the importer *without* the rewrite does not agree
    (snnTorch assumes dt = 1e-4 and one threshold; Norse ignores r) -- the workaround matters."""
    g, x = _lif_graph(dt=2e-3), _x()
    raw = g
    if target == "snntorch":  # snnTorch asserts one threshold per layer: give it one, keep the rest raw
        raw = _lif_graph(dt=2e-3, per_neuron=False)
    res = agreement(reference(raw, x), run_framework(raw, target, x))
    assert res["spike_agreement"] < 0.99, res


def test_subtractive_reset_as_plain_nir_loop_is_exact_and_needed():
    g = _lif_graph(reset="subtract")
    g.nodes["lif2"] = nir.IF(r=np.full(3, 700.0), v_threshold=np.array([0.7, 1.0, 1.3]), v_reset=np.zeros(3),
                             metadata={"zoo.reset": "subtract"})
    x = _x(steps=80)
    ref = reference(g, x)
    plain = graph_for_target(g, "nir")
    assert not any("zoo.reset" in (getattr(n, "metadata", None) or {}) for n in plain.nodes.values())
    assert {type(plain.nodes[n]).__name__ for n in ("lif1", "lif2", "lif1_v", "lif2_v", "lif1_reset")} == \
        {"Threshold", "LI", "I", "Scale"}
    assert agreement(ref, run_framework(plain, "nir", x))["spike_agreement"] == 1.0
    # control: a reader that ignores zoo.reset on the unmodified graph gets zero reset: different spikes
    assert agreement(ref, run_framework(_zero_reset_copy(g), "nir", x))["spike_agreement"] < 1.0


def _zero_reset_copy(g: nir.NIRGraph) -> nir.NIRGraph:
    import copy

    g = copy.deepcopy(g)
    for n in g.nodes.values():
        if isinstance(n, (nir.LIF, nir.IF)):
            n.metadata = {"zoo.reset": "zero"}
    return g


def test_refusals_name_the_reason():
    g = _lif_graph(reset="subtract")
    with pytest.raises(Refused, match="reset_mechanism='zero'"):
        graph_for_target(g, "snntorch")
    with pytest.raises(Refused, match="v_reset only"):
        graph_for_target(g, "norse")
    with pytest.raises(NIRError, match="unknown target"):
        graph_for_target(g, "brian")


# ----------------------------------------------------------------------------- nirtorch node map

def test_node_map_on_plain_export_with_extensions_and_v_tap():
    """nirtorch.nir_to_torch(graph, zoo_node_map(graph)) on the plain zoo export (ALIF + v_tap
    + recurrence) equals the zoo executor; nirtorch's default Affine map would not (random bias)."""
    import nirtorch

    from exporters.nir.nodemap import run_nirtorch, zoo_node_map
    g = export_graph("star-mackey-glass")
    x = _inputs("star-mackey-glass", 2, 20)
    net = nirtorch.nir_to_torch(g, zoo_node_map(g), dtype=torch.float64)
    out = run_nirtorch(net, torch.from_numpy(x)).numpy()
    ref = reference(g, x)
    assert np.abs(out - ref["output"]).max() <= 1e-12
    assert np.abs(ref["output"]).max() > 0
    # control: nirtorch's own default Affine map ignores the bias
    torch.manual_seed(0)
    lin = nirtorch.nir_interpreter._default_map_affine(nir.Affine(weight=np.eye(2), bias=np.array([5.0, 5.0])))
    assert not torch.allclose(lin.bias.double(), torch.tensor([5.0, 5.0], dtype=torch.float64))


def test_node_map_needs_the_graph_and_its_dt():
    from exporters.nir.nodemap import zoo_node_map

    g = _lif_graph()
    g.metadata = {}
    with pytest.raises(NIRError):
        zoo_node_map(g)
    assert zoo_node_map(g, dt=1e-3)[nir.LIF] is not None


VECTORS = json.loads((ROOT / "benchmarks" / "interop" / "results" / "extension_vectors.json").read_text())


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_extension_vectors_reproduced_by_executor_and_node_map(name):
    """docs/nir-extensions.md test vectors: the published NIR file, run by the zoo executor and
    by nirtorch with zoo_node_map, gives the published outputs (and the outputs are not trivial)."""
    import nirtorch

    from exporters.nir import from_nir
    from exporters.nir.nodemap import run_nirtorch, zoo_node_map

    v = VECTORS[name]
    g = nir.read(ROOT / v["graph"])
    x, y = np.array(v["input"]), np.array(v["output"])
    assert np.abs(y).sum() > 0 and len(np.unique(y)) > 1
    with torch.no_grad():
        got = from_nir(g)(torch.from_numpy(x[:, None, :])).squeeze(1).numpy()
    np.testing.assert_array_equal(got, y)
    g = graph_for_target(g, "nirtorch")  # node order nirtorch 2.6 can wire (see for_nirtorch)
    net = nirtorch.nir_to_torch(g, zoo_node_map(g), dtype=torch.float64)
    np.testing.assert_allclose(run_nirtorch(net, torch.from_numpy(x[None]))[0].numpy(), y, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", ["stop-digits-fc", "stop-digits-conv"])
def test_plain_nir_reset_loop_runs_in_a_second_reader(name):
    """The NIR-only rewrite of subtractive resets (LI/I -> Threshold -> Scale back edge), with every
    zoo metadata removed, through nirtorch's own wiring of the back edge: same spikes."""
    from exporters.nir.target_runs import _strip_zoo
    g = export_graph(name)
    plain = _strip_zoo(graph_for_target(g, "nir"))
    assert not any(str(k).startswith("zoo.") for n in plain.nodes.values() for k in (n.metadata or {}))
    x = _inputs(name)
    res = agreement(reference(g, x), run_framework(plain, "nirtorch", x))
    assert res["spike_agreement"] == 1.0 and res["output_max_abs_diff"] <= 1e-9, res
    assert res["spike_count_ref"] > 0
