"""Raw snnTorch / Norse NIR files handed to ``zoo nir`` (:mod:`zoo.nir_interop`): refused with
the flags that say how to read them, and compared against the source framework's own output,
on the source graphs of ``benchmarks.lava.agreement`` (the cases of docs/agreement.md)."""
from __future__ import annotations

import argparse

import nir
import numpy as np
import pytest

import benchmarks.lava.agreement as agr
from exporters.nir.io import NIRError


def _raw_snntorch_file(tmp_path, case: str = "snn_leaky_default"):
    src = getattr(agr, case)(0)
    path = tmp_path / "raw.nir"
    nir.write(path, src.raw)
    return src, path


def _args(path, **kw):
    base = dict(file=str(path), dt=None, source=None, reset=None, reset_delay=None, input=None, json=True,
                source_model=None, source_output=None, backends=None)
    return argparse.Namespace(**{**base, **kw})


def test_raw_snntorch_file_is_refused_naming_the_flags(tmp_path):
    from zoo.nir_interop import load

    _, path = _raw_snntorch_file(tmp_path)
    with pytest.raises(NIRError, match="--from snntorch --dt DT --reset zero\\|subtract --reset-delay"):
        load(_args(path))
    with pytest.raises(NIRError, match="needs --dt"):
        load(_args(path, source="snntorch"))
    with pytest.raises(NIRError, match="needs --reset zero\\|subtract"):
        load(_args(path, source="snntorch", dt=1e-3))
    with pytest.raises(NIRError, match="needs --reset-delay"):
        load(_args(path, source="snntorch", dt=1e-3, reset="subtract"))
    with pytest.raises(NIRError, match="reset_delay=True with subtractive reset"):
        load(_args(path, source="snntorch", dt=1e-3, reset="subtract", reset_delay=True))
    g, dt, applied = load(_args(path, source="snntorch", dt=1e-3, reset="subtract", reset_delay=False))
    assert dt == 1e-3 and "reset = subtract, reset_delay = False" in applied
    g, dt, applied = load(_args(path, source="nir", dt=1e-3))  # explicit: as written
    assert applied.startswith("taken as written")


def test_raw_norse_graph_is_refused_naming_the_flags():
    """(Norse 1.1.0's raw export has scalar parameters, which nir.write cannot even store; the
    rule is the same for a graph handed over in memory.)"""
    from exporters.nir.frameworks import import_graph

    raw = agr.norse_lif(0).raw
    with pytest.raises(NIRError, match="--from norse --dt DT"):
        import_graph(raw)
    with pytest.raises(NIRError, match="do not apply to --from norse"):
        import_graph(raw, "norse", dt=1e-3, reset="zero")
    assert "Norse 1.1.0 workarounds applied" in import_graph(raw, "norse", dt=1e-3)[1]


def test_compare_against_the_source_framework(tmp_path, capsys):
    """snnTorch's default Leaky (subtract, reset_delay=True) imported as reset_delay=False:
    against the zoo's own executor every backend says 1.0; against snnTorch's own output (the
    source model file) the number shows the difference."""
    from zoo.nir_interop import compare

    src, path = _raw_snntorch_file(tmp_path)
    x = (np.random.default_rng(3).random((3, 40, 10)) < 0.3).astype(np.float64)
    np.save(tmp_path / "x.npy", x)
    model = tmp_path / "source_model.py"
    model.write_text(
        "import benchmarks.lava.agreement as agr\n"
        "SRC = agr.snn_leaky_default(0)\n"
        "def run(x):\n"
        "    spikes, _ = SRC.run(x)\n"
        "    return {'output': spikes['3'], 'spikes': spikes}\n")
    rep = compare(_args(path, source="snntorch", dt=1e-3, reset="subtract", reset_delay=False,
                        input=str(tmp_path / "x.npy"), source_model=str(model), backends=["torch", "emulator"]))
    assert rep["references"]["source"] == "source model source_model.py"
    assert rep["spike_match_emulator_vs_zoo_torch_executor"] > 0.9
    assert rep["spike_match_torch_vs_source"] < 0.99  # the honest number
    assert rep["source_populations_compared"] == ["1", "3"]
    # the same, with the producer's recorded outputs instead of its code
    spikes, _ = src.run(x)
    np.savez(tmp_path / "src.npz", output=spikes["3"], **{f"spikes/{k}": v for k, v in spikes.items()})
    rep2 = compare(_args(path, source="snntorch", dt=1e-3, reset="subtract", reset_delay=False,
                         input=str(tmp_path / "x.npy"), source_output=str(tmp_path / "src.npz"), backends=["torch"]))
    assert rep2["spike_match_torch_vs_source"] == rep["spike_match_torch_vs_source"]
