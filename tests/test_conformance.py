"""NIR conformance kits (zoo/conformance.py): export, check with every tool, integrity."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import nir
import numpy as np
import pytest

from zoo.conformance import FILES, _sha256, _write_data, add_conformance_parser, check_kit, export_kit, load_kit
from zoo.registry import ZooError

ROOT = Path(__file__).resolve().parents[1]
TABLE = json.loads((ROOT / "benchmarks" / "interop" / "results" / "interop.json").read_text())["models"]
warnings.filterwarnings("ignore", category=DeprecationWarning)


@pytest.fixture(scope="module")
def lif_kit(tmp_path_factory):
    out = tmp_path_factory.mktemp("kits") / "lif-digits"
    export_kit("lif-digits", out, samples=2, steps=12, lava=False)
    return out


def test_kit_layout_uses_nir_data_format_and_manifest(lif_kit):
    m = json.loads((lif_kit / "manifest.json").read_text())
    assert set(m["files"]) == set(FILES)
    assert all(_sha256(lif_kit / f) == d for f, d in m["files"].items())
    assert m["model"] == "lif-digits" and m["samples"] == 2 and m["steps"] == 12
    assert m["input_source"].startswith(("test data", "random"))
    data = nir.read_data(str(lif_kit / "data.nir"))  # NIR's own reader, no zoo code
    assert data.nodes["input"].observables["value"].data.shape == (2, 12, 64)
    ref = nir.read_data(str(lif_kit / "reference.nir"))
    assert ref.nodes["lif1"].observables["spikes"].data.dtype == bool
    assert ref.nodes["lif1"].observables["spikes"].data.any()
    assert nir.read(str(lif_kit / "model.nir")).metadata["model"] == "lif-digits"


@pytest.mark.parametrize("tool", ["zoo-torch", "emulator", "nirtorch", "nir-claims"])
def test_lif_digits_kit_passes_every_claimed_tool(lif_kit, tool):
    tools = [t for t, c in TABLE["lif-digits"]["cells"].items() if c["status"] == "pass" and t != "nir"] \
        if tool == "nir-claims" else [tool]
    for t in tools:
        r = check_kit(lif_kit, t)
        assert r["status"] == "pass", r
        if t == "emulator":
            assert r["bit_identical"] is True
        else:
            assert r["spike_agreement"] == 1.0 and r["output_max_abs_diff"] <= 1e-6
        assert r["against"]


def test_check_fails_when_outputs_differ(lif_kit, tmp_path):
    """A kit whose fixed-point reference has one spike flipped (manifest re-signed): the
    emulator check fails -- the check can fail."""
    import shutil

    kit = tmp_path / "kit"
    shutil.copytree(lif_kit, kit)
    m = json.loads((kit / "manifest.json").read_text())
    fixed = nir.read_data(str(kit / "lava-fixed.nir"))
    nodes = {n: {k: v.data.copy() for k, v in d.observables.items()} for n, d in fixed.nodes.items()}
    nodes["lif1"]["spikes"][0, 3, 5] = ~nodes["lif1"]["spikes"][0, 3, 5]
    _write_data(kit / "lava-fixed.nir", nodes, m["dt"])
    m["files"]["lava-fixed.nir"] = _sha256(kit / "lava-fixed.nir")
    (kit / "manifest.json").write_text(json.dumps(m))
    r = check_kit(kit, "emulator")
    assert r["status"] == "fail" and r["bit_identical"] is False


def test_tampered_kit_is_refused(lif_kit, tmp_path):
    import shutil

    kit = tmp_path / "kit"
    shutil.copytree(lif_kit, kit)
    with open(kit / "data.nir", "r+b") as f:
        f.seek(-10, 2)
        b = f.read(1)
        f.seek(-10, 2)
        f.write(bytes([b[0] ^ 0xFF]))
    with pytest.raises(ZooError, match="data.nir does not match its SHA-256"):
        load_kit(kit)
    (kit / "manifest.json").unlink()
    with pytest.raises(ZooError, match="not a conformance kit"):
        load_kit(kit)


def test_refused_tool_says_why(tmp_path):
    out = tmp_path / "stop"
    export_kit("stop-digits-fc", out, samples=1, steps=6, lava=False)
    r = check_kit(out, "snntorch")
    assert r["status"] == "refused" and r["reason"].startswith("snntorch: node ") and "snnTorch 1.0.0" in r["reason"]
    assert check_kit(out, "nirtorch")["status"] == "pass"


def test_random_input_when_data_absent(monkeypatch, tmp_path):
    from zoo.pipeline import Pipeline

    def absent(self, *a, **k):
        raise ZooError("data set 'x' is not present")

    monkeypatch.setattr(Pipeline, "data", absent)  # test and training data (calibration) both absent
    out = tmp_path / "k"
    m = export_kit("lif-digits", out, samples=2, steps=8, lava=False)
    assert m["input_source"].startswith("random: numpy default_rng(0)")
    assert m["calibration_source"].startswith("the kit inputs")
    x = load_kit(out)["input"]
    assert set(np.unique(x)) <= {0.0, 1.0} and x.shape == (2, 8, 64)
    assert check_kit(out, "zoo-torch")["status"] == "pass"


def test_cli_parser_and_command(tmp_path, capsys):
    import argparse

    from zoo.conformance import cmd_conformance

    p = argparse.ArgumentParser()
    add_conformance_parser(p.add_subparsers(dest="cmd"))
    args = p.parse_args(["conformance", "export", "lif-digits", "-o", str(tmp_path / "k"), "--samples", "1",
                         "--steps", "5", "--no-lava"])
    args.fn(args)
    args = p.parse_args(["conformance", "check", str(tmp_path / "k"), "--with", "zoo-torch"])
    cmd_conformance(args)
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith("PASS    lif-digits with zoo-torch (against reference.nir")
    args = p.parse_args(["conformance", "check", str(tmp_path / "k"), "--with", "snntorch"])
    cmd_conformance(args)
    with pytest.raises(SystemExit):
        p.parse_args(["conformance", "check", str(tmp_path / "k"), "--with", "brian"])


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(n for n, r in TABLE.items() if not r.get("unavailable")))
def test_full_kit_every_model_every_claimed_tool(name, tmp_path):
    """Kits with real Lava fixed point for every shipped model; every claimed tool passes."""
    out = tmp_path / name
    export_kit(name, out, samples=4, steps=None, lava=True)
    claimed = [t for t, c in TABLE[name]["cells"].items() if c["status"] == "pass" and t != "nir"]
    for tool in ["zoo-torch", "lava-float", "lava-fixed", "emulator", *claimed]:
        r = check_kit(out, tool)
        assert r["status"] == "pass", r
