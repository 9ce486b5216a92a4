"""FSDD model builders (zoo/models/fsdd.py) against their recipes: input width, outputs, dt."""
from __future__ import annotations

import pytest
import torch

import zoo.models.fsdd as fm
from zoo.recipe import load_recipe
from zoo.registry import get_entry
from zoo.resources import bundled_dir

NEW = ("hypr-seadlif-fsdd", "eprop-alif-fsdd", "star-fsdd", "gamma-fsdd")


@pytest.mark.parametrize("name", ("lif-fsdd", "hypr-brf-fsdd") + NEW)
def test_builder_takes_the_recipe_and_fsdd_inputs(name):
    recipe = load_recipe(bundled_dir("recipes") / f"{name}.toml")
    entry = get_entry(name)
    assert recipe["model"] == name and recipe["task"]["name"] == entry.task
    torch.manual_seed(0)
    model = entry.builder(**recipe.get("model_config", {}))
    x = (torch.rand(recipe["task"]["steps"], 2, fm.N_INPUTS) < 0.3).float()
    y = model(x)
    y = y[0] if isinstance(y, tuple) else y
    assert y.shape[-1] == fm.N_CLASSES and y.shape[0] == recipe["task"]["steps"] and torch.isfinite(y).all()


def test_gamma_step_is_the_recipe_dt():
    """GammaNet takes dt in ms, the recipe (weights metadata, NIR) in seconds: one 10 ms frame."""
    recipe = load_recipe(bundled_dir("recipes") / "gamma-fsdd.toml")
    model = get_entry("gamma-fsdd").builder(**recipe["model_config"])
    assert model.dt == pytest.approx(1000.0 * recipe["dt"]) == pytest.approx(1000.0 * recipe["task"]["hop"] / 8000)
