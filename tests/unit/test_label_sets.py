"""Label sets of a multi-label task: reading (separator, list columns), checks, shared splits, and
their scores against scikit-learn."""
from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

from stc_gpu.data.label_sets import (LabelSets, check_label_sets, check_splits, label_counts,
                                     parse_label_sets, split_label_sets)
from stc_gpu.data.readers import read_raw_column
from stc_gpu.metrics import multilabel_scores

SETS = [["b", "a"], [], ["a"], ["c"], ["a", "c"], []]


def test_parse_text_lists_and_empty_values():
    assert parse_label_sets(["a|b", " b | a |", "", None, float("nan"), ["x", 3], ("y",),
                             [], "c||c"]) == [("a", "b"), ("a", "b"), (), (), (), ("3", "x"),
                                              ("y",), (), ("c",)]
    assert parse_label_sets(["a;b"], separator=";") == [("a", "b")]
    with pytest.raises(ValueError, match="row 1: 2.5 is not a label set"):
        parse_label_sets(["a", 2.5])
    with pytest.raises(ValueError, match="row 0: label None is not a string"):
        parse_label_sets([["a", None]])


def test_indicator_matrix_and_back():
    labels = LabelSets.from_sets(SETS)
    assert labels.names == ("a", "b", "c")
    np.testing.assert_array_equal(labels.Y, [[1, 1, 0], [0, 0, 0], [1, 0, 0], [0, 0, 1],
                                             [1, 0, 1], [0, 0, 0]])
    assert labels.sets() == [("a", "b"), (), ("a",), ("c",), ("a", "c"), ()]
    np.testing.assert_array_equal(labels.column("c"), [0, 0, 0, 1, 1, 0])
    fixed = LabelSets.from_sets(SETS, names=["c", "b", "a", "z"])
    assert fixed.names == ("c", "b", "a", "z") and not fixed.Y[:, 3].any()
    with pytest.raises(ValueError, match="row 3: label 'c' is not among"):
        LabelSets.from_sets(SETS, names=["a", "b"])
    with pytest.raises(ValueError, match=r"Y must be \(n, 2\)"):
        LabelSets(("a", "b"), np.zeros((3, 3)))


def test_list_columns_of_parquet_and_jsonl_read_like_separated_text(tmp_path):
    pq.write_table(pa.table({"text": [f"t{i}" for i in range(len(SETS))], "tags": SETS}),
                   tmp_path / "d.parquet")
    (tmp_path / "d.jsonl").write_text("".join(json.dumps({"text": "t", "tags": s}) + "\n"
                                              for s in SETS))
    (tmp_path / "d.csv").write_text("text,tags\n" + "".join(f"t,{'|'.join(s)}\n" for s in SETS))
    expected = LabelSets.from_sets(SETS)
    for name in ("d.parquet", "d.jsonl", "d.csv"):
        got = LabelSets.from_sets(read_raw_column(tmp_path / name, "tags", as_text=True))
        assert got == expected, name


def _labels(counts: dict[str, int], n: int) -> LabelSets:
    """n rows, label k on its first counts[k] rows."""
    return LabelSets(tuple(counts), np.array([[i < c for c in counts.values()] for i in range(n)]))


@pytest.mark.parametrize("counts, message", [
    ({"a": 5, "b": 30}, "label 'b' applies to every row (30 of 30), so there is nothing to tell "
                        "apart: drop it, or add rows without it"),
    ({"a": 5, "b": 0}, "label 'b' occurs in no row: drop it from the labels"),
    ({"a": 2, "b": 9}, "label 'a' occurs in only 2 row(s); a train/validation/test split needs at "
                       "least 3: add rows with it, or drop it"),
    ({"a": 28, "b": 9}, "label 'a' is absent from only 2 row(s)"),
    ({"a": 1, "b": 2, "c": 9}, "label 'a' occurs in only 1 row(s); a train/validation/test split "
                               "needs at least 3: add rows with it, or drop it (also: 'b')"),
])
def test_each_bad_label_is_named_with_what_to_do(counts, message):
    with pytest.raises(ValueError) as err:
        check_label_sets(_labels(counts, 30))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_no_label_at_all_is_an_error_but_empty_sets_are_fine():
    with pytest.raises(ValueError, match="every label set is empty"):
        check_label_sets(LabelSets.from_sets([[], "", None]))
    check_label_sets(_labels({"a": 10, "b": 4}, 40))  # 26 rows have no label: fine


def test_drawn_splits_are_shared_stratified_and_reproducible():
    rng = np.random.default_rng(0)
    Y = np.stack([rng.random(300) < 0.3, rng.random(300) < 0.05], axis=1)
    Y[:3, 1] = True  # at least 3 rows of the rare label
    labels = LabelSets(("common", "rare"), Y)
    splits = split_label_sets(labels, val_fraction=0.2, test_fraction=0.2, seed=1)
    assert splits == split_label_sets(labels, val_fraction=0.2, test_fraction=0.2, seed=1)
    rows = np.concatenate([splits.train, splits.val, splits.test])
    assert np.array_equal(np.sort(rows), np.arange(300))
    counts = label_counts(labels, splits)
    for name, j in (("common", 0), ("rare", 1)):
        assert sum(counts[name].values()) == Y[:, j].sum()
    # stratified on the label combinations: the common label's share is the same in each split
    shares = [Y[getattr(splits, s), 0].mean() for s in ("train", "val", "test")]
    assert max(shares) - min(shares) < 0.03
    check_splits(labels, splits)


def test_given_splits_are_kept_and_checked_per_label():
    Y = np.zeros((30, 2), dtype=bool)
    Y[::2, 0] = True
    Y[:5, 1] = True
    labels = LabelSets(("even", "first"), Y)
    given = ["train"] * 18 + ["validation"] * 6 + ["test"] * 6
    splits = split_label_sets(labels, val_fraction=0.2, test_fraction=None, given=given)
    assert splits.how == {"train": "given", "val": "given", "test": "given"}
    with pytest.raises(ValueError, match=r"label 'first' occurs only in the train split \(5 "
                                         r"rows\); .*: move some of its rows"):
        check_splits(labels, splits)
    Y[20, 1] = True  # one validation row: still none in test
    with pytest.raises(ValueError, match=r"label 'first' occurs in no test row \(its rows: "
                                         r"train 5, validation 1\)"):
        check_splits(LabelSets(("even", "first"), Y), splits)
    carved = split_label_sets(labels, val_fraction=0.25, test_fraction=None,
                              given=["train"] * 24 + ["test"] * 6)
    assert carved.how["val"].startswith("stratified") and len(carved.test) == 6


def test_scores_match_scikit_learn():
    rng = np.random.default_rng(3)
    Y_true = rng.random((50, 4)) < 0.3
    Y_pred = np.where(rng.random((50, 4)) < 0.8, Y_true, ~Y_true)
    Y_pred[:, 3] = False  # a label never predicted: F1 0, as zero_division=0
    names = ["a", "b", "c", "d"]
    got = multilabel_scores(Y_true, Y_pred, names)
    assert got["micro_f1"] == pytest.approx(f1_score(Y_true, Y_pred, average="micro"))
    assert got["macro_f1"] == pytest.approx(f1_score(Y_true, Y_pred, average="macro",
                                                     zero_division=0))
    assert got["subset_acc"] == pytest.approx(accuracy_score(Y_true, Y_pred))
    p, r, f, s = precision_recall_fscore_support(Y_true, Y_pred, zero_division=0)
    for j, name in enumerate(names):
        assert got["per_label"][name] == pytest.approx(
            {"precision": p[j], "recall": r[j], "f1": f[j], "support": s[j]})
    with pytest.raises(ValueError, match=r"must both be \(n, 4\)"):
        multilabel_scores(Y_true, Y_pred[:, :3], names)
