"""Weights outside the package: a user's run folder or file by path, ``$ZOO_HOME/weights`` searched
after the shipped weights, and a record naming a URL fetched through the verified download."""
from __future__ import annotations

import json
import shutil

import pytest
import torch

import zoo
from zoo import registry


@pytest.fixture
def user_run(tmp_path):
    """A 'zoo train --out' folder holding lif-digits weights under the user's own name."""
    run = tmp_path / "runs" / "my-lif"
    run.mkdir(parents=True)
    shipped = registry.get_weights("lif-digits")
    shutil.copy(shipped.path, run / "my-lif.safetensors")
    rec = json.loads((registry.WEIGHTS_DIR / "lif-digits.json").read_text())
    rec.update(name="my-lif", model="lif-digits", file="my-lif.safetensors")
    (run / "my-lif.json").write_text(json.dumps(rec))
    return run


@pytest.mark.parametrize("form", ["folder", "safetensors", "json"])
def test_model_by_path(user_run, form):
    ref = {"folder": str(user_run), "safetensors": str(user_run / "my-lif.safetensors"),
           "json": str(user_run / "my-lif.json")}[form]
    model = zoo.get_model(ref)
    ref_sd = zoo.get_model("lif-digits").state_dict()
    assert all(torch.equal(v, ref_sd[k]) for k, v in model.state_dict().items())
    assert zoo.get_weights(ref).path == user_run / "my-lif.safetensors"
    assert zoo.get_entry(ref).task == "digits"


def test_eval_of_a_user_run(user_run, capsys):
    from zoo.cli import main

    assert main(["run", str(user_run), "--backend", "emulator", "--samples", "8", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["model"] == str(user_run) and res["samples"] == 8 and res["backends"]["emulator"]["value"] > 0.5
    from zoo.card import save_results

    with pytest.raises(zoo.ZooError, match="not saved into the zoo's model cards"):
        save_results(res)


def test_bad_paths_are_one_line_errors(tmp_path, user_run):
    for ref, msg in [(str(tmp_path / "nothing.safetensors"), "weights record not found"),
                     (str(tmp_path / "empty-dir") + "/", "no weights records"),
                     (str(user_run / "my-lif.txt"), "not a folder")]:
        if ref.endswith("/"):
            (tmp_path / "empty-dir").mkdir()
        with pytest.raises(zoo.ZooError, match=msg):
            zoo.get_model(ref)


def test_zoo_home_weights_are_searched_after_the_shipped_ones(tmp_path, monkeypatch, user_run):
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    empty = tmp_path / "no-shipped"
    empty.mkdir()
    monkeypatch.setattr(registry, "WEIGHTS_DIR", empty)
    assert registry.get_entry("lif-digits").weights is None
    with pytest.raises(zoo.ZooError, match="no pretrained weights"):
        zoo.get_model("lif-digits")
    home = tmp_path / "home" / "weights"
    home.mkdir(parents=True)
    rec = json.loads((user_run / "my-lif.json").read_text())
    rec.update(name="lif-digits", file="lif-digits.safetensors")
    (home / "lif-digits.json").write_text(json.dumps(rec))
    shutil.copy(user_run / "my-lif.safetensors", home / "lif-digits.safetensors")
    assert zoo.get_weights("lif-digits").path == home / "lif-digits.safetensors"
    assert isinstance(zoo.get_model("lif-digits"), torch.nn.Module)


def test_weights_by_url_are_fetched_and_verified(tmp_path, monkeypatch, user_run):
    monkeypatch.setenv("ZOO_HOME", str(tmp_path / "home"))
    served = tmp_path / "served"
    served.mkdir()
    shutil.copy(user_run / "my-lif.safetensors", served / "remote-lif.safetensors")
    rec = json.loads((user_run / "my-lif.json").read_text())
    rec.update(name="remote-lif", file="remote-lif.safetensors", url=(served / "remote-lif.safetensors").as_uri())
    rec_dir = tmp_path / "records"
    rec_dir.mkdir()
    (rec_dir / "remote-lif.json").write_text(json.dumps(rec))
    model = zoo.get_model(str(rec_dir / "remote-lif.json"))
    assert isinstance(model, torch.nn.Module)
    assert (tmp_path / "home" / "remote-lif.safetensors").is_file()  # the verified cache
    rec["sha256"] = "0" * 64
    (rec_dir / "remote-lif.json").write_text(json.dumps(rec))
    (tmp_path / "home" / "remote-lif.safetensors").unlink()
    with pytest.raises(Exception, match="sha256 mismatch"):
        zoo.get_model(str(rec_dir / "remote-lif.json"))
