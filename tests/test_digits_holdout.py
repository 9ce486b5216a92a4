"""The digits selection holdout: "fit" + "holdout" partition "train" (stratified); "train" and "test" unchanged."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from zoo.tasks import get_task
from zoo.tasks.digits import split_arrays


def _rows(x: np.ndarray) -> set[bytes]:
    return {r.tobytes() for r in x}


def test_train_and_test_are_the_original_split():
    d = load_digits()
    xtr, xte, ytr, yte = train_test_split(d.data / 16.0, d.target, test_size=0.25, random_state=0, stratify=d.target)
    for split, (x, y) in (("train", (xtr, ytr)), ("test", (xte, yte))):
        np.testing.assert_array_equal(split_arrays(split)[0], x)
        np.testing.assert_array_equal(split_arrays(split)[1], y)


def test_fit_and_holdout_partition_train_stratified():
    xtr, ytr = split_arrays("train")
    (xf, yf), (xh, yh) = split_arrays("fit"), split_arrays("holdout")
    assert len(xf) + len(xh) == len(xtr) == 1347 and len(xh) == 270
    assert not _rows(xf) & _rows(xh)
    assert _rows(xf) | _rows(xh) == _rows(xtr)
    assert not _rows(xh) & _rows(split_arrays("test")[0])
    share_h = np.bincount(yh, minlength=10) / len(yh)
    share_t = np.bincount(ytr, minlength=10) / len(ytr)
    assert np.abs(share_h - share_t).max() < 0.01  # every class in the same proportion (+-1 image)


@pytest.mark.parametrize("task,params", [("digits", {"image": True, "encoding": "direct", "steps": 8}),
                                         ("row-digits", {})])
def test_loaders_accept_holdout_and_refuse_val(task, params):
    x, y = get_task(task).load("holdout", **params)
    assert len(x) == len(y) == 270
    with pytest.raises(ValueError, match="'val'"):
        get_task(task).load("val", **params)

