"""``zoo.train.train`` builds its parts with ``recipe_parts`` (the function the benchmarks use):
same seeded initial model, and a builder refusing ``[model_config]`` is one ZooError line naming
the recipe and the table, from both, before anything is written."""
from __future__ import annotations

import pytest
import torch

from zoo.registry import ZooError
from zoo.train import load_recipe, recipe_parts, train

RECIPE = "recipes/lif-digits.toml"


def test_a_builder_refusal_names_the_recipe_and_table(tmp_path):
    recipe = load_recipe(RECIPE)
    recipe["model_config"] = {**recipe["model_config"], "n_hiden": 8}  # past validation: the builder refuses
    match = r"recipe recipes/lif-digits\.toml: \[model_config\] rejected by model 'lif-digits': .*n_hiden"
    with pytest.raises(ZooError, match=match):
        recipe_parts(recipe)
    with pytest.raises(ZooError, match=match):
        train(recipe, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_train_starts_from_the_recipe_parts_model(tmp_path, monkeypatch):
    """The model train() steps is the one recipe_parts builds after seeding with the recipe's seed."""
    import zoo.train as zt

    recipe = load_recipe(RECIPE)
    recipe["learning"] = {**recipe["learning"], "epochs": 1, "train_samples": 8}
    seen = {}
    real = zt.recipe_parts

    def spy(r):
        parts = real(r)
        seen["init"] = {k: v.clone() for k, v in parts[3].state_dict().items()}
        return parts

    monkeypatch.setattr(zt, "recipe_parts", spy)
    train(recipe, tmp_path / "out", progress=False, test_samples=8)
    torch.manual_seed(int(recipe["seed"]))
    ref = recipe_parts(recipe)[3].state_dict()
    assert seen["init"].keys() == ref.keys()
    assert all(torch.equal(seen["init"][k], ref[k]) for k in ref)
