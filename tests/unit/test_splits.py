"""make_splits: stratified, deterministic for a seed, predefined split columns, clear errors."""
from __future__ import annotations

import json

import numpy as np
import pytest

from stc_gpu.data.splits import Splits, make_splits


def _labels(n_per_class=(60, 40)):
    return np.repeat(np.arange(len(n_per_class)), n_per_class)[::-1].copy()


def _check_partition(splits: Splits, n: int) -> None:
    parts = [splits.train, splits.val, splits.test]
    joined = np.concatenate(parts)
    assert sorted(joined.tolist()) == list(range(n))
    for part in parts:
        assert part.dtype == np.int64 and np.all(np.diff(part) > 0)


def test_random_splits_stratified_and_sized():
    y = _labels((60, 40))
    splits = make_splits(y, seed=3)
    _check_partition(splits, 100)
    assert splits.sizes() == {"train": 64, "val": 16, "test": 20}
    for part in (splits.train, splits.val, splits.test):
        share = np.mean(y[part] == 1)
        assert share == pytest.approx(0.4, abs=0.05)
    assert splits.seed == 3 and "0.2 of all rows" in splits.how["test"]


def test_deterministic_for_a_seed_and_seed_matters():
    y = _labels((50, 50, 30))
    a, b = make_splits(y, seed=7), make_splits(y, seed=7)
    assert a == b
    assert make_splits(y, seed=8) != a


def test_fractions_used():
    splits = make_splits(_labels((100, 100)), val_fraction=0.25, test_fraction=0.1)
    assert splits.sizes() == {"train": 135, "val": 45, "test": 20}


def test_json_round_trip():
    splits = make_splits(["a", "b"] * 20, seed=1)
    again = Splits.from_json(json.loads(json.dumps(splits.to_json())))
    assert again == splits and again.how == splits.how
    with pytest.raises(ValueError, match="lacks"):
        Splits.from_json({"train": []})


def test_given_train_and_test_carves_validation_from_train():
    y = _labels((50, 50))
    given = np.array(["train"] * 80 + ["test"] * 20)
    np.random.default_rng(0).shuffle(given)
    splits = make_splits(y, given=given, seed=0)
    _check_partition(splits, 100)
    assert splits.test.tolist() == np.flatnonzero(given == "test").tolist()
    assert set(splits.val.tolist()) <= set(np.flatnonzero(given == "train").tolist())
    assert len(splits.val) == 16
    assert splits.how["test"] == "given" and "given train" in splits.how["val"]


def test_given_all_three_used_as_is():
    y = _labels((30, 30))
    given = ["TRAIN"] * 40 + ["validation"] * 10 + ["Test"] * 10
    splits = make_splits(y, given=given)
    assert splits.sizes() == {"train": 40, "val": 10, "test": 10}
    assert splits.how == {"train": "given", "val": "given", "test": "given"}


def test_given_without_test_needs_test_fraction():
    y = _labels((30, 30))
    given = ["train"] * 50 + ["dev"] * 10
    with pytest.raises(ValueError, match="no 'test' rows; pass test_fraction"):
        make_splits(y, given=given)
    splits = make_splits(y, given=given, test_fraction=0.2)
    assert splits.sizes() == {"train": 40, "val": 10, "test": 10}
    assert splits.how["val"] == "given"


def test_given_errors():
    y = _labels((10, 10))
    with pytest.raises(ValueError, match=r"rows \[0\] hold 'holdout'"):
        make_splits(y, given=["holdout"] + ["train"] * 19)
    with pytest.raises(ValueError, match="19 rows but there are 20"):
        make_splits(y, given=["train"] * 19)
    with pytest.raises(ValueError, match="no 'train' rows"):
        make_splits(y, given=["test"] * 20)
    with pytest.raises(ValueError, match="do not pass test_fraction"):
        make_splits(y, given=["train"] * 15 + ["test"] * 5, test_fraction=0.2)


def test_class_without_training_rows_is_named():
    y = np.array(["a"] * 10 + ["b"] * 10 + ["c"] * 2)
    given = ["train"] * 16 + ["validation"] * 4 + ["test"] * 2
    with pytest.raises(ValueError, match=r"\['c'\] have no training rows"):
        make_splits(y, given=given)


def test_too_small_class_is_named():
    y = ["a"] * 20 + ["b"]
    with pytest.raises(ValueError, match=r"\['b'\] have fewer than 2 rows in all rows"):
        make_splits(y)


def test_too_few_rows_for_a_stratified_split():
    with pytest.raises(ValueError, match="cannot split"):
        make_splits([0, 1, 0, 1, 2, 2], test_fraction=0.1)


@pytest.mark.parametrize("kwargs, match", [
    ({"val_fraction": 0.0}, "val_fraction"), ({"val_fraction": 1.0}, "val_fraction"),
    ({"test_fraction": 1.5}, "test_fraction"), ({"seed": -1}, "seed"), ({"seed": 1.5}, "seed"),
])
def test_parameters_validated(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_splits(_labels(), **kwargs)
