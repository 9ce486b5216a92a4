"""Registry, weights verification, digits task, recipe loading, CLI errors."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

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


LIF_RECIPE = "recipes/lif-digits.toml"


def _recipe(tmp_path, old=None, new=None, text=None, name="r.toml"):
    path = tmp_path / name
    src = Path(LIF_RECIPE).read_text()
    path.write_text(text if text is not None else src.replace(old, new) if old else src)
    return path


@pytest.mark.parametrize("old,new,match", [
    ("lr = 2e-3", "lr = inf", r"learning\.lr: inf is not a finite number"),
    ("lr = 2e-3", "lr = nan", r"learning\.lr: nan is not a finite number"),
    ("lr = 2e-3", "lr = 0", r"learning\.lr: 0 must be > 0"),
    ("lr = 2e-3", 'lr = "fast"', r"learning\.lr: 'fast' must be a number"),
    ("epochs = 40", "epochs = 1.9", r"learning\.epochs: 1\.9 must be an integer"),
    ("epochs = 40", "epochs = true", r"learning\.epochs: True must be an integer"),
    ("batch_size = 64", "batch_size = 0", r"learning\.batch_size: 0 must be >= 1"),
    ("epochs = 40", "epochs = 1_000_000_000_000", r"learning\.epochs: 1000000000000 must be <= 10000"),
    ("seed = 0", "seed = -1", r"seed: -1 must be >= 0"),
    ("seed = 0", "seed = 1.5", r"seed: 1\.5 must be an integer"),
    ("dt = 1e-3", "dt = 1979-05-27", r"dt: datetime\.date\(1979, 5, 27\): dates and times"),
    ("lr = 2e-3", "lrr = 2e-3", r"learning\.lrr: unknown key; did you mean 'lr'\?"),
    ("seed = 0", "sead = 0", r"sead: unknown key; did you mean 'seed'\?"),
    ("lr = 2e-3", '"l\\nr" = 2e-3', r"learning\.'l\\nr': unknown key"),  # a quoted key, shown on one line
    ("steps = 16\nencoding", "stepz = 16\nencoding", r"task\.stepz: unknown key; did you mean 'steps'\?"),
    ("n_hidden = 128", "n_hiden = 128", r"model_config\.n_hiden: unknown key; did you mean 'n_hidden'\?"),
    ("n_hidden = 128", "n_hidden = 0", r"model_config\.n_hidden: 0 must be >= 1"),
    ("beta = 0.9", "beta = [0.9]", r"model_config\.beta: \[0\.9\] must be a number"),
    ('rule = "bptt"', 'rule = "bpt"', r"learning\.rule: unknown learning rule 'bpt'; did you mean 'bptt'\?"),
    ('optimizer = "adam"', 'optimizer = "adm"', r"learning\.optimizer: unknown optimizer 'adm'; did you mean 'adam'"),
    ('model = "lif-digits"', 'model = "lif-digit"', r"model: unknown model 'lif-digit'; did you mean 'lif-digits'"),
    ('name = "digits"', 'name = "digitz"', r"task\.name: unknown task 'digitz'"),
    ("steps = 16\nencoding", "steps = 0\nencoding", r"task\.steps: 0 must be >= 1"),
    ('name = "lif-digits"', 'name = "../escaped"', r"name: '\.\./escaped' must be a plain name"),
    ('name = "lif-digits"', 'name = ".hidden"', r"name: '\.hidden' must be a plain name"),
    ('name = "lif-digits"', 'name = "a/b"', r"name: 'a/b' must be a plain name"),
    ("[learning]", "[learnin]", r"learnin: unknown key; did you mean 'learning'\?"),
])
def test_recipe_values_rejected_at_load(tmp_path, old, new, match):
    from zoo.train import load_recipe

    path = _recipe(tmp_path, old, new)
    with pytest.raises(ZooError, match=match) as exc:
        load_recipe(path)
    msg = str(exc.value)
    assert msg.startswith(f"recipe {path}: ") and "\n" not in msg


def test_recipe_files_rejected_at_load(tmp_path):
    from zoo.train import load_recipe

    cases = {"binary content": b"\x00\x01safetensors\xff", "not UTF-8": b'name = "caf\xe9"\n',
             "invalid TOML": b"[learning\nlr = 1\n"}
    for match, data in cases.items():
        path = tmp_path / "f.toml"
        path.write_bytes(data)
        with pytest.raises(ZooError, match=match):
            load_recipe(path)
    with pytest.raises(ZooError, match="is a directory"):
        load_recipe(tmp_path)
    with pytest.raises(ZooError, match=r"f.toml: task: 'digits' must be a table"):
        load_recipe(_recipe(tmp_path, text='name = "x"\nmodel = "lif-digits"\ntask = "digits"\n'
                                           '[learning]\nrule = "bptt"\n', name="f.toml"))
    every_recipe = sorted(Path("recipes").glob("*.toml"))
    assert len(every_recipe) >= 10 and all(load_recipe(p)["_path"] == str(p) for p in every_recipe)


def _tiny_recipe(tmp_path, **learning):
    lines = "".join(f"{k} = {v}\n" for k, v in learning.items())
    return _recipe(tmp_path, "epochs = 40\n", f"epochs = 1\ntrain_samples = 32\n{lines}")


def test_parameters_refused_by_the_learning_rule(tmp_path):
    """Values only the optimizer can judge fail as one ZooError line before any training step."""
    from zoo.train import load_recipe, train

    recipe = load_recipe(_tiny_recipe(tmp_path, betas="[2.0, 0.9]"))
    with pytest.raises(ZooError, match=r"\[learning\] rejected by learning rule 'bptt': Invalid beta parameter"):
        train(recipe, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def _shipped_pair(out):
    import zoo.registry as reg

    out.mkdir()
    for suffix in (".safetensors", ".json"):
        shutil.copy(reg.WEIGHTS_DIR / f"lif-digits{suffix}", out)
    return {p.name: p.read_bytes() for p in out.iterdir()}


def test_diverged_training_fails_and_writes_nothing(tmp_path, monkeypatch):
    import zoo.learning
    from zoo.train import TrainingDiverged, load_recipe, train

    make = zoo.learning.make_learner

    def diverging(*args, **kw):  # the first update leaves NaN weights, as a too-large lr does
        learner = make(*args, **kw)
        step = learner.step

        def nan_step(batch):
            out = step(batch)
            with torch.no_grad():
                learner.model.fc1.weight.fill_(float("nan"))
            return out

        learner.step = nan_step
        return learner

    monkeypatch.setattr(zoo.learning, "make_learner", diverging)
    before = _shipped_pair(tmp_path / "out")
    diverged = r"training diverged: fc1\.weight has non-finite values at epoch 1\.00"
    with pytest.raises(TrainingDiverged, match=diverged) as exc:
        train(load_recipe(_tiny_recipe(tmp_path)), tmp_path / "out", progress=False, test_samples=10)
    assert isinstance(exc.value, ZooError) and "recipe " in str(exc.value)
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == before


def test_failed_write_keeps_previous_pair(tmp_path, monkeypatch):
    import os

    import safetensors.torch
    from zoo.train import load_recipe, train

    recipe = load_recipe(_tiny_recipe(tmp_path))
    out = tmp_path / "out"
    before = _shipped_pair(out)

    def disk_full(tensors, filename, *a, **kw):
        with open(filename, "wb") as f:
            f.write(b"partial")
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr(safetensors.torch, "save_file", disk_full)
        with pytest.raises(ZooError, match="No space left on device"):
            train(recipe, out, progress=False, test_samples=10)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before

    real_replace = os.replace

    def json_rename_fails(src, dst):  # the crash between the two renames, as an exception
        if str(dst).endswith(".json"):
            raise OSError(5, "Input/output error")
        real_replace(src, dst)

    with monkeypatch.context() as m:
        m.setattr(os, "replace", json_rename_fails)
        with pytest.raises(ZooError, match="Input/output error"):
            train(recipe, out, progress=False, test_samples=10)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before

    meta = train(recipe, out, progress=False, test_samples=10)  # and a good run replaces the pair, consistently
    assert sorted(p.name for p in out.iterdir()) == sorted(before)
    assert zoo.get_model(str(out / "lif-digits.json")) is not None
    assert meta["sha256"] != json.loads(before["lif-digits.json"])["sha256"]


def test_out_dir_checked_before_training(tmp_path, monkeypatch):
    import zoo.train as zt

    recipe = zt.load_recipe(_recipe(tmp_path))
    monkeypatch.setattr(zt, "get_entry", lambda name: pytest.fail("training started"))
    afile = tmp_path / "weights.safetensors"
    afile.write_bytes(b"shipped")
    with pytest.raises(ZooError, match="exists and is not a directory"):
        zt.train(recipe, afile, progress=False)
    with pytest.raises(ZooError, match="is not a directory"):
        zt.train(recipe, afile / "sub", progress=False)
    (tmp_path / "out" / "lif-digits.json").mkdir(parents=True)
    with pytest.raises(ZooError, match="lif-digits.json exists and is not a regular file"):
        zt.train(recipe, tmp_path / "out", progress=False)
    assert afile.read_bytes() == b"shipped"
    assert zt.check_out_dir(tmp_path / "new" / "dir", "x") == tmp_path / "new" / "dir"
    assert not (tmp_path / "new").exists()


def _weights_copy(tmp_path, monkeypatch):
    import zoo.registry as reg

    bad = tmp_path / "weights"
    shutil.copytree(reg.WEIGHTS_DIR, bad)
    monkeypatch.setattr(reg, "WEIGHTS_DIR", bad)
    return bad


def _set(key, value):
    def mutate(record):
        *parents, last = key.split(".")
        for p in parents:
            record = record[p]
        record[last] = value
    return mutate


@pytest.mark.parametrize("mutate,match", [
    ("{", "invalid JSON"), ("[]", "must be a JSON object"), (b"\xff{}", "not UTF-8"),
    ('{"name": "lif-digits"}', "missing required key 'file'"),
    (_set("sha256", "abc"), "sha256 = 'abc' must be 64 hex digits"),
    (_set("file", "../x.safetensors"), "file = '../x.safetensors' must be a plain file name"),
    (_set("file", 3), "file = 3 must be a string"),
    (_set("url", []), r"url = \[\] must be a string or null"),
    (_set("meta", 3), "meta = 3 must be an object or null"),
    (_set("meta.config", [1]), r"meta.config = \[1\] must be an object"),
])
def test_malformed_weights_record(tmp_path, monkeypatch, mutate, match):
    from zoo.registry import Weights

    record = _weights_copy(tmp_path, monkeypatch) / "lif-digits.json"
    if callable(mutate):
        data = json.loads(record.read_text())
        mutate(data)
        mutate = json.dumps(data)
    record.write_bytes(mutate if isinstance(mutate, bytes) else mutate.encode())
    with pytest.raises(ZooError, match=match) as exc:
        Weights.from_json(record)
    assert str(exc.value).startswith(f"weights record {record}: ") and "\n" not in str(exc.value)
    with pytest.raises(ZooError, match=match):  # what `zoo list` / `zoo info` see
        zoo.get_entry("lif-digits").weights


def test_truncated_weights_with_matching_hash(tmp_path, monkeypatch):
    import hashlib

    bad = _weights_copy(tmp_path, monkeypatch)
    data = (bad / "lif-digits.safetensors").read_bytes()
    record = json.loads((bad / "lif-digits.json").read_text())
    for cut in (len(data) // 2, 8, 3):
        (bad / "lif-digits.safetensors").write_bytes(data[:cut])
        record["sha256"] = hashlib.sha256(data[:cut]).hexdigest()
        (bad / "lif-digits.json").write_text(json.dumps(record))
        with pytest.raises(ZooError, match=r"weights file .*lif-digits\.safetensors: cannot load") as exc:
            zoo.get_model("lif-digits")
        assert "\n" not in str(exc.value)
