"""`zoo train RECIPE --init FILE.nir`: training (in torch or inside Lava) starts from the
parameters of a NIR file `zoo export` wrote, so a shipped model can be fine-tuned online in Lava
from its NIR file; a file that is not an export of the recipe's model is one clear error."""
from __future__ import annotations

import json

import numpy as np
import pytest

from zoo.cli import main
from zoo.registry import ZooError, get_model
from zoo.train import init_from_nir, load_recipe, recipe_parts

ONLINE = "recipes/stop-digits-fc-online.toml"  # the same network as the shipped stop-digits-fc


@pytest.fixture(scope="module")
def shipped_nir(tmp_path_factory):
    path = tmp_path_factory.mktemp("nir") / "stop-digits-fc.nir"
    assert main(["export", "stop-digits-fc", "--to", "nir", "-o", str(path)]) in (0, None)
    return path


def test_init_loads_the_exported_parameters_bit_for_bit(shipped_nir):
    recipe = load_recipe(ONLINE)
    model = recipe_parts(recipe)[3]
    info = init_from_nir(model, shipped_nir, recipe, "recipe")
    shipped = get_model("stop-digits-fc").state_dict()
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), shipped[k].numpy(), err_msg=k)
    assert info["init"]["nir"] == str(shipped_nir) and len(info["init"]["sha256"]) == 64


def test_cli_fine_tunes_a_shipped_model_in_the_emulator(shipped_nir, tmp_path, capsys):
    recipe = tmp_path / "ft.toml"
    text = open(ONLINE).read().replace('name = "stop-digits-fc-online"', 'name = "ft"')
    recipe.write_text(text.replace("epochs = ", "train_samples = 8\nepochs = 1\n# epochs = ", 1))
    out = tmp_path / "out"
    assert main(["train", str(recipe), "--backend", "emulator-fixed", "--init", str(shipped_nir),
                 "--test-samples", "60", "--out", str(out)]) in (0, None)
    meta = json.loads((out / "ft.json").read_text())
    assert meta["meta"]["init"]["nir"] == str(shipped_nir)
    # 8 samples of online learning from the trained network: far above the ~10 % of a fresh start
    assert meta["meta"]["metrics"]["test_accuracy"] > 0.7


def test_init_refuses_a_file_of_another_network(tmp_path, shipped_nir):
    other = tmp_path / "star.nir"
    assert main(["export", "star-gestures", "--to", "nir", "-o", str(other)]) in (0, None)
    recipe = load_recipe(ONLINE)
    with pytest.raises(ZooError, match=r"--init .*star.nir: the graph: node 'blocks.0.syn' is missing"):
        init_from_nir(recipe_parts(recipe)[3], other, {**recipe, "dt": 1.0}, "recipe")  # star-gestures: dt 1
    with pytest.raises(ZooError, match="dt = 0.001 s differs from the recipe's dt = 0.002"):
        init_from_nir(recipe_parts(recipe)[3], shipped_nir, {**recipe, "dt": 0.002}, "recipe")
    with pytest.raises(ZooError, match="not found"):
        init_from_nir(recipe_parts(recipe)[3], tmp_path / "missing.nir", recipe, "recipe")
