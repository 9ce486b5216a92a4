"""``zoo nir info|run|compare`` on a tiny NIR file (emulator, one real Lava run) and its errors."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import nir
import numpy as np
import pytest

from exporters.nir import write
from nir_graphs import chain, lif, spikes_in, torch_ref
from zoo.cli import main

T, N_IN = 20, 4


def _graph(with_dt: bool = True) -> nir.NIRGraph:
    rng = np.random.default_rng(0)
    g = chain(N_IN, [(rng.normal(0.6, 0.5, (5, N_IN)), None, lif(5, rng.uniform(3e-3, 8e-3, 5), 1.0, "subtract")),
                     (rng.normal(0.4, 0.6, (3, 5)), rng.normal(0, 0.05, 3), lif(3, 6e-3, 0.8))])
    if not with_dt:
        g.metadata = {}
    return g


@pytest.fixture()
def files(tmp_path):
    x = spikes_in(2, T, N_IN, 0.5, seed=1)
    paths = {"nir": write(tmp_path / "net.nir", _graph()), "nodt": write(tmp_path / "nodt.nir", _graph(False)),
             "x": tmp_path / "x.npy", "x1": tmp_path / "x1.npy", "bad": tmp_path / "bad.npy", "x_arr": x}
    np.save(paths["x"], x)  # (batch, T, n)
    np.save(paths["x1"], x[0])  # (T, n)
    np.save(paths["bad"], np.zeros((T, N_IN + 1)))
    return paths


def _err(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, f"error must be one line: {err!r}"
    assert err.startswith("error: ")
    return err


def test_info_lists_nodes_shapes_and_lava_mapping(files, capsys):
    assert main(["nir", "info", str(files["nir"]), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["dt"] == 1e-3
    rows = {r["node"]: r for r in info["nodes"]}
    assert rows["n0"]["type"] == "LIF" and rows["n0"]["params"]["tau"] == [5]
    assert rows["n0"]["metadata"]["zoo.reset"] == "subtract"
    assert rows["n1"]["lava"] == "ZooNeuron(LIF, latency 2)"
    assert rows["fc1"]["lava"] == "fused into Dense" and rows["input"]["lava"].endswith("RingBuffer")
    assert main(["nir", "info", str(files["nodt"])]) == 0
    out = capsys.readouterr().out
    assert "unknown (pass --dt)" in out and "needs --dt" in out
    assert main(["nir", "info", str(files["nodt"]), "--dt", "1e-3"]) == 0
    assert "ZooNeuron(LIF, latency 1)" in capsys.readouterr().out


def test_run_emulator_torch_and_one_lava_fixed_run(files, tmp_path, capsys):
    x = files["x_arr"]
    ref, _ = torch_ref(_graph(), x)
    out_t = tmp_path / "t.npz"
    assert main(["nir", "run", str(files["nir"]), "--input", str(files["x"]), "--backend", "torch", "-o", str(out_t)]) == 0
    t = np.load(out_t)
    np.testing.assert_array_equal(t["output"], ref)
    assert int(t["latency"]) == 0 and "spikes/n0" in t.files
    out_e = tmp_path / "e.npz"
    assert main(["nir", "run", str(files["nir"]), "--input", str(files["x"]), "-o", str(out_e), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["backend"] == "emulator" and summary["latency"] == 2 and summary["output_shape"] == [2, T, 3]
    e = np.load(out_e)
    assert (e["output"] == ref).mean() > 0.9 and ref.sum() > 5
    out_l = tmp_path / "l.npz"
    assert main(["nir", "run", str(files["nir"]), "--input", str(files["x"]), "--backend", "lava-fixed",
                 "-o", str(out_l)]) == 0
    lava = np.load(out_l)
    for k in e.files:  # bit-exact emulator, through the CLI
        np.testing.assert_array_equal(lava[k], e[k], err_msg=k)
    # (T, n) input is one sample
    out_1 = tmp_path / "one.npz"
    assert main(["nir", "run", str(files["nodt"]), "--dt", "1e-3", "--input", str(files["x1"]), "--backend", "torch",
                 "-o", str(out_1)]) == 0
    np.testing.assert_array_equal(np.load(out_1)["output"], ref[:1])


def test_compare_reports_agreement(files, capsys, monkeypatch):
    """All four backends; real Lava replaced by the emulator here (Lava itself: the test above)."""
    import exporters.lava as lava

    calls = []

    def fake_run_lava(plan, inputs, record_v=True):
        calls.append(type(plan).__name__)
        return lava.emulate(plan, inputs)

    monkeypatch.setattr(lava, "run_lava", fake_run_lava)
    assert main(["nir", "compare", str(files["nir"]), "--input", str(files["x"]), "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert sorted(calls) == ["FixedPlan", "Plan"]
    assert rep["latency"] == 2 and rep["emulator_bit_exact_vs_lava_fixed"] is True
    assert rep["spike_match_lava-float_vs_zoo_torch_executor"] == 1.0
    assert rep["output_max_abs_diff_lava-float_vs_zoo_torch_executor"] == 0.0
    assert 0.9 < rep["spike_match_emulator_vs_zoo_torch_executor"] <= 1.0
    assert "zoo_torch_executor" in rep["references"]
    assert main(["nir", "compare", str(files["nir"]), "--input", str(files["x"])]) == 0
    assert "emulator_bit_exact_vs_lava_fixed" in capsys.readouterr().out


def test_errors_are_one_line_with_exit_code_2(files, tmp_path, capsys):
    o = str(tmp_path / "o.npz")
    assert main(["nir", "run", str(files["nodt"]), "--input", str(files["x"]), "-o", o]) == 2
    assert "pass dt explicitly" in _err(capsys)
    assert main(["nir", "compare", str(files["nodt"]), "--input", str(files["x"])]) == 2
    assert "dt" in _err(capsys)
    assert main(["nir", "run", str(files["nir"]), "--input", str(files["bad"]), "-o", o]) == 2
    assert "expected (batch, T, 4)" in _err(capsys)
    assert main(["nir", "run", str(tmp_path / "missing.nir"), "--input", str(files["x"]), "-o", o]) == 2
    assert "not found" in _err(capsys)
    assert main(["nir", "info", str(tmp_path / "missing.nir")]) == 2
    assert "not found" in _err(capsys)
    assert main(["nir", "run", str(files["nir"]), "--input", str(tmp_path / "nope.npy"), "-o", o]) == 2
    assert "nope.npy" in _err(capsys)
    assert main(["nir", "run", str(files["nir"]), "--input", str(files["x"]), "-o", str(tmp_path / "d" / "o.npz")]) == 2
    assert "does not exist" in _err(capsys)
    assert main(["nir", "run", str(files["nir"]), "--dt", "-1", "--input", str(files["x"]), "-o", o]) == 2
    assert "positive" in _err(capsys)
    assert not (tmp_path / "o.npz").exists()
    graded = tmp_path / "graded.npy"
    np.save(graded, np.full((T, N_IN), 0.3))
    assert main(["nir", "run", str(files["nir"]), "--input", str(graded), "-o", o]) == 2  # emulator = fixed point
    assert "binary spike inputs" in _err(capsys)


def test_run_snntorch_file_with_workarounds(tmp_path, capsys):
    """``--from snntorch --dt``: the raw snnTorch 1.0.0 export runs with the corrected semantics
    (reproducing snnTorch's own simulation; zero reset — see docs/agreement.md for the
    subtractive-reset case snnTorch computes differently); without --dt it is a one-line error."""
    import snntorch as snn
    import torch
    from snntorch.export_nir import export_to_nir
    from torch import nn

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 3), snn.Leaky(beta=torch.full((3,), 0.8), threshold=torch.full((3,), 0.5),
                                                   reset_mechanism="zero", reset_delay=False, init_hidden=True))
    with torch.no_grad():
        net[0].weight.abs_().mul_(2.0)
    path = tmp_path / "snn.nir"
    nir.write(path, export_to_nir(net, torch.zeros(1, 4), ignore_dims=[0]))
    x = (np.random.default_rng(0).random((2, 25, 4)) < 0.6).astype(np.float64)
    np.save(tmp_path / "x.npy", x)
    assert main(["nir", "run", str(path), "--from", "snntorch", "--input", str(tmp_path / "x.npy"),
                 "--backend", "torch", "-o", str(tmp_path / "o.npz")]) == 2
    assert "needs --dt" in capsys.readouterr().err
    assert main(["nir", "run", str(path), "--from", "snntorch", "--dt", "1e-3", "--reset", "zero", "--reset-delay", "false", "--input",
                 str(tmp_path / "x.npy"),
                 "--backend", "torch", "-o", str(tmp_path / "o.npz")]) == 0
    out = np.load(tmp_path / "o.npz")["output"]
    from snntorch.utils import reset

    reset(net)
    with torch.no_grad():
        ref = torch.stack([net(torch.from_numpy(x[:, t]).float()) for t in range(x.shape[1])], 1).numpy()
    assert ref.sum() > 5
    np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("dt, match", [("abc", "'dt' must be a number.*str"), (np.array([1e-3, 2e-3]), "'dt' must be a number.*ndarray"),
                                       (float("nan"), "positive finite"), (-1e-3, "positive finite")])
def test_bad_dt_metadata_is_one_error_line(tmp_path, capsys, dt, match):
    g = _graph()
    g.metadata = {"dt": dt}
    f = write(tmp_path / "dt.nir", g)
    x = tmp_path / "x.npy"
    np.save(x, spikes_in(1, 5, N_IN))
    for argv in (["nir", "info", str(f)], ["nir", "run", str(f), "--input", str(x), "-o", str(tmp_path / "o.npz")],
                 ["nir", "compare", str(f), "--input", str(x)]):
        assert main(argv) == 2
        err = _err(capsys)
        assert re.search(match, err), err
    assert not (tmp_path / "o.npz").exists()


def test_empty_graph_is_one_error_line(tmp_path, capsys):
    f = write(tmp_path / "empty.nir", nir.NIRGraph(nodes={}, edges=[], metadata={"dt": 1e-3}))
    assert main(["nir", "info", str(f)]) == 2
    assert "empty" in _err(capsys)


def test_bad_inputs_are_one_error_line(files, tmp_path, capsys):
    o = tmp_path / "o.npz"
    (tmp_path / "empty.npy").write_bytes(b"")
    np.savez(tmp_path / "arch.npz", x=files["x_arr"])
    np.save(tmp_path / "str.npy", np.array([["a"] * N_IN] * T))
    np.save(tmp_path / "b0.npy", np.zeros((0, T, N_IN)))
    np.save(tmp_path / "t0.npy", np.zeros((1, 0, N_IN)))
    nan = files["x_arr"].copy()
    nan[0, 3, 1] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    np.save(tmp_path / "transposed.npy", files["x_arr"][0].T)  # (n, T): right element count, wrong shape
    cases = {"empty.npy": "not a .npy", "arch.npz": ".npz archive", "str.npy": "real numbers",
             "b0.npy": "at least one sample", "t0.npy": "at least one sample", "nan.npy": "NaN",
             "transposed.npy": r"expected \(batch, T, 4\)", ".": "not a file"}
    for name, match in cases.items():
        for backend in ("torch", "emulator", "lava-float"):
            argv = ["nir", "run", str(files["nir"]), "--input", str(tmp_path / name), "-o", str(o), "--backend", backend]
            assert main(argv) == 2, (name, backend)
            err = _err(capsys)
            assert re.search(match, err), (name, err)
    assert not o.exists()


def test_output_path_errors_and_atomic_write(files, tmp_path, capsys):
    base = ["nir", "run", str(files["nir"]), "--input", str(files["x"])]
    assert main(base + ["-o", str(tmp_path)]) == 2
    assert "is a directory" in _err(capsys)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if not os.access(locked, os.W_OK):  # root may write anyway: then there is nothing to refuse
            assert main(base + ["-o", str(locked / "o.npz")]) == 2
            assert "not writable" in _err(capsys)
    finally:
        locked.chmod(0o700)
    if Path("/sys").is_dir():  # read-only for everyone, root included: the failure comes at the write
        assert main(base + ["-o", "/sys/o.npz", "--backend", "torch"]) == 2
        assert "cannot write /sys/o.npz" in _err(capsys)
    out = tmp_path / "o.npz"
    out.write_bytes(b"previous result")
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((1, T, N_IN + 1)))
    assert main(["nir", "run", str(files["nir"]), "--input", str(bad), "-o", str(out)]) == 2
    _err(capsys)
    assert out.read_bytes() == b"previous result"  # a failed run leaves the old file as it was
    assert main(base + ["-o", str(out)]) == 0
    capsys.readouterr()
    assert set(np.load(out)) >= {"output", "latency"}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".o.npz")] == []  # no temp file left
