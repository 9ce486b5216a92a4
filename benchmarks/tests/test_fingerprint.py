"""The bit-identity guard (benchmarks/fingerprint): digests are canonical, recomputation gives the
same hashes, a changed weight changes the torch and plan hashes, and --check fails on a changed
hash and refuses another environment. (The committed results/hashes.json is machine-dependent and
not checked here.)"""
from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch

from benchmarks.fingerprint import run
from benchmarks.fingerprint.digest import digest
from benchmarks.fingerprint.items import fingerprint
from zoo.pipeline import Pipeline

MODEL = "lif-digits"


def test_digest_is_canonical_and_bit_sensitive():
    a = np.arange(6, dtype=np.float64).reshape(2, 3)
    assert digest({"x": a, "y": [1, 2.5]}) == digest({"y": [1, 2.5], "x": a.copy()})
    assert digest(torch.from_numpy(a)) == digest(a)
    b = a.copy()
    b[1, 2] = np.nextafter(b[1, 2], np.inf)  # one ulp
    others = [b, a.astype(np.float32), a.reshape(3, 2), a.T, [a], (a,), {"x": a}]
    assert len({digest(a), *map(digest, others)}) == 1 + len(others)
    assert digest(1) != digest(1.0) != digest(True) and digest("1") != digest(1)
    with pytest.raises(TypeError, match="no canonical form"):
        digest(object())


def test_same_model_same_hashes_and_a_changed_weight_changes_torch_and_plans():
    first = fingerprint(Pipeline(MODEL))
    assert first == fingerprint(Pipeline(MODEL))
    model = copy.deepcopy(Pipeline(MODEL).model)
    with torch.no_grad():
        w = next(p for n, p in model.named_parameters() if n.endswith("weight"))
        w += 0.25 * w.abs().max()  # every synapse of the first layer
    changed = fingerprint(Pipeline(MODEL, model=model))
    assert changed["inputs"] == first["inputs"]
    for item in ("torch_weights", "torch_out", "nir_records", "float_plan", "fixed_plan"):
        assert changed[item] != first[item], item


def test_check_fails_on_a_changed_hash_and_refuses_another_environment(tmp_path, capsys):
    f = tmp_path / "hashes.json"
    argv = ["--models", MODEL, "--file", str(f)]
    assert run.run(["--check", *argv]) == 2  # nothing stored yet
    assert run.run(["--write", *argv]) == 0
    assert run.run(argv) == 0
    stored = json.loads(f.read_text())
    stored["models"][MODEL]["fixed_plan"] = "0" * 16
    f.write_text(json.dumps(stored))
    capsys.readouterr()
    assert run.run(argv) == 1
    out = capsys.readouterr().out
    assert f"CHANGED {MODEL} fixed_plan" in out and "1 changed (inputs 0, plans 1, outputs 0, errors 0)" in out
    stored["environment"]["torch"] = "0.0"
    f.write_text(json.dumps(stored))
    assert run.run(argv) == 2
    assert "not meaningful" in capsys.readouterr().out
