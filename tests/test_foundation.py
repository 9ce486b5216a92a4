"""Registry, weights verification, digits task, recipe loading, CLI errors."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

import zoo
from zoo.cli import main
from zoo.hub import HubError
from zoo.registry import ZooError


def test_digits_split_and_rate_code():
    from zoo.tasks.digits import load, rate_encode

    x, y = load("test", steps=16)
    assert x.shape == (450, 16, 64) and y.shape == (450,)
    xtr, _ = load("train", steps=16)
    assert len(xtr) == 1347
    # rate code: intensity 1 spikes every step, 0.5 every other step, 0 never
    s = rate_encode(np.array([[1.0, 0.5, 0.0, 0.25]]), 8)[0]
    assert s[:, 0].sum() == 8 and s[:, 1].sum() == 4 and s[:, 2].sum() == 0 and s[:, 3].sum() == 2
    assert torch.equal(load("test", n=5)[0], load("test", n=5)[0])  # deterministic


def test_registry_lists_and_suggests():
    assert "lif-digits" in zoo.list_models()
    with pytest.raises(ZooError, match="did you mean 'lif-digits'"):
        zoo.get_entry("lif-digit")


def test_get_model_verifies_sha256(tmp_path, monkeypatch):
    import zoo.registry as reg

    model = zoo.get_model("lif-digits")
    assert not model.training and model.fc1.weight.shape == (128, 64)
    w = zoo.get_weights("lif-digits")
    assert w.meta["dt"] == 1e-3 and w.metrics["test_accuracy"] >= 0.95
    # a corrupted weights file is refused, never loaded
    bad = tmp_path / "weights"
    shutil.copytree(reg.WEIGHTS_DIR, bad)
    data = bytearray((bad / w.file).read_bytes())
    data[-1] ^= 0xFF
    (bad / w.file).write_bytes(bytes(data))
    monkeypatch.setattr(reg, "WEIGHTS_DIR", bad)
    with pytest.raises(HubError, match="sha256"):
        zoo.get_model("lif-digits")


def test_recipe_errors(tmp_path):
    from zoo.train import load_recipe

    with pytest.raises(ZooError, match="not found"):
        load_recipe(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\nmodel = "lif-digits"\n')
    with pytest.raises(ZooError, match="missing required key 'task'"):
        load_recipe(bad)


def test_cli_list_json_and_errors(capsys):
    assert main(["list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    row = next(r for r in rows if r["name"] == "lif-digits")
    assert row["pretrained"] and len(row["sha256"]) == 64
    assert main(["info", "nosuchmodel"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown model") and "Traceback" not in err


def test_cli_export_writes_readable_nir(tmp_path, capsys):
    import nir

    out = tmp_path / "m.nir"
    assert main(["export", "lif-digits", "--to", "nir", "-o", str(out)]) == 0
    g = nir.read(out)
    assert g.metadata["dt"] == 1e-3 and g.metadata["model"] == "lif-digits"
    assert {type(n).__name__ for n in g.nodes.values()} == {"Input", "Affine", "LIF", "Output"}
    assert main(["export", "lif-digits", "-o", str(tmp_path / "missing" / "m.nir")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not list(tmp_path.glob(".*tmp"))


@pytest.mark.slow
def test_recipe_reproduces_shipped_weights(tmp_path):
    """Training lif-digits from its recipe gives the shipped SHA-256 (deterministic on CPU)."""
    from zoo.train import load_recipe, train

    meta = train(load_recipe("recipes/lif-digits.toml"), tmp_path, progress=False)
    assert meta["meta"]["metrics"]["test_accuracy"] == pytest.approx(zoo.get_weights("lif-digits").metrics["test_accuracy"])
