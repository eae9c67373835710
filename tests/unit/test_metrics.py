"""Accuracy and macro-F1 against scikit-learn, single and batched."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score, f1_score

from stc_gpu.metrics import accuracy, classification_scores, macro_f1


@settings(max_examples=200, deadline=None)
@given(data=st.data(), n=st.integers(1, 60), k=st.integers(2, 5))
def test_match_sklearn(data, n, k):
    codes = st.lists(st.integers(0, k - 1), min_size=n, max_size=n)
    y_true, y_pred = np.array(data.draw(codes)), np.array(data.draw(codes))
    assert accuracy(y_true, y_pred) == pytest.approx(accuracy_score(y_true, y_pred))
    assert macro_f1(y_true, y_pred) == pytest.approx(
        f1_score(y_true, y_pred, average="macro", zero_division=0))


def test_binary_macro_f1_averages_both_classes():
    y_true = np.array([0, 0, 0, 1])
    y_pred = np.array([0, 0, 1, 1])
    # class 0: 2TP/(2TP+FP+FN) = 4/5; class 1: 2/3
    assert macro_f1(y_true, y_pred) == pytest.approx((4 / 5 + 2 / 3) / 2)
    assert classification_scores(y_true, y_pred) == {"acc": 0.75, "f1": pytest.approx(11 / 15)}


def test_batched_predictions_score_each_row():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 3, 50)
    y_pred = rng.integers(0, 3, (4, 2, 50))
    y_pred[0, 0] = y_true
    y_pred[1, 1] = 0  # one class only: F1 over the classes present in y_true or y_pred
    acc, f1 = accuracy(y_true, y_pred), macro_f1(y_true, y_pred)
    assert acc.shape == f1.shape == (4, 2)
    assert acc[0, 0] == 1.0 and f1[0, 0] == 1.0
    for i in range(4):
        for j in range(2):
            assert acc[i, j] == pytest.approx(accuracy_score(y_true, y_pred[i, j]))
            assert f1[i, j] == pytest.approx(f1_score(y_true, y_pred[i, j], average="macro",
                                                      zero_division=0))


def test_bool_codes_accepted():
    assert accuracy(np.array([True, False]), np.array([True, True])) == 0.5


@pytest.mark.parametrize("y_true, y_pred, match", [
    ([], [], "non-empty"),
    ([[0, 1]], [0, 1], "1-d"),
    ([0, 1], [0, 1, 1], r"shape \(\.\.\., 2\)"),
    (["a", "b"], ["a", "b"], "integer class codes"),
    ([0.0, 1.0], [0, 1], "integer class codes"),
    ([0, -1], [0, 1], "negative"),
    ([0, 1], np.zeros((0, 2), dtype=int), r"shape"),
])
def test_bad_inputs(y_true, y_pred, match):
    with pytest.raises(ValueError, match=match):
        macro_f1(y_true, y_pred)
    with pytest.raises(ValueError, match=match):
        accuracy(y_true, y_pred)


def test_scores_need_one_prediction():
    with pytest.raises(ValueError, match=r"\(n,\)"):
        classification_scores([0, 1], [[0, 1]])
