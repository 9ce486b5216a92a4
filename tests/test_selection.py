"""A recipe's `selection` key (how its hyper-parameters were chosen) is validated and shown in cards."""
from __future__ import annotations

import pytest

from zoo.card import SELECTION_TEXT, _selection
from zoo.recipe import SELECTION, load_recipe
from zoo.registry import ZooError


def test_selection_values_and_their_card_text():
    assert set(SELECTION) == set(SELECTION_TEXT)
    assert _selection("recipes/lif-fsdd.toml") == "validation"
    assert _selection("recipes/stop-digits-conv.toml") == "validation"  # lr chosen on the digits holdout
    assert _selection("recipes/eprop-alif-rowdigits.toml") == "validation"
    assert _selection("recipes/lif-digits.toml") == "unrecorded"  # no key: nothing is claimed
    assert _selection("no-such-recipe") == "unrecorded"


def test_bad_selection_is_refused_naming_file_and_key(tmp_path):
    src = open("recipes/lif-digits.toml").read().replace('seed = 0', 'seed = 0\nselection = "tuned"', 1)
    assert 'selection = "tuned"' in src
    p = tmp_path / "bad.toml"
    p.write_text(src)
    with pytest.raises(ZooError, match=r"bad.toml.*selection.*'tuned'.*validation, test, unrecorded"):
        load_recipe(p)
