"""LabelEncoder: sorted classes, codes 0..K-1, JSON round trip, clear errors naming rows."""
from __future__ import annotations

import json

import numpy as np
import pytest

from stc_gpu.data.labels import LabelEncoder, describe_rows


def test_string_labels_sorted_and_round_trip():
    labels = ["pos", "neg", "pos", "neutral"]
    encoder = LabelEncoder.fit(labels)
    assert encoder.classes == ["neg", "neutral", "pos"]
    assert encoder.kind == "str" and encoder.n_classes == 3
    codes = encoder.encode(labels)
    assert codes.dtype == np.int64 and codes.tolist() == [2, 0, 2, 1]
    assert encoder.decode(codes) == labels


def test_integer_labels_sorted_numerically():
    labels = np.array([10, 2, 2, 33])
    encoder = LabelEncoder.fit(labels)
    assert encoder.classes == [2, 10, 33]  # not "10" < "2"
    assert encoder.encode(labels).tolist() == [1, 0, 0, 2]
    assert encoder.decode(np.array([2, 0])) == [33, 2]


def test_integral_floats_and_bools_are_integers():
    assert LabelEncoder.fit(np.array([1.0, 0.0, 1.0])).classes == [0, 1]
    assert LabelEncoder.fit([True, False]).classes == [0, 1]
    assert LabelEncoder.fit([0, 1]).encode([True, False]).tolist() == [1, 0]


def test_json_round_trip():
    for labels in (["b", "a"], [3, 1, 2]):
        encoder = LabelEncoder.fit(labels)
        data = json.loads(json.dumps(encoder.to_json()))
        again = LabelEncoder.from_json(data)
        assert again == encoder and again.kind == encoder.kind
        assert again.encode(labels).tolist() == encoder.encode(labels).tolist()


@pytest.mark.parametrize("labels, rows", [
    (["a", None, "b", ""], r"\[1, 3\]"),
    ([1.0, float("nan"), 0.0], r"\[1\]"),
    (np.array(["a", "b", None], dtype=object), r"\[2\]"),
])
def test_missing_labels_name_rows(labels, rows):
    with pytest.raises(ValueError, match=f"missing at rows {rows}"):
        LabelEncoder.fit(labels)


def test_one_class_is_an_error():
    with pytest.raises(ValueError, match="at least 2"):
        LabelEncoder.fit(["x", "x", "x"])
    with pytest.raises(ValueError, match="at least 2"):
        LabelEncoder.fit([])


def test_mixed_and_odd_types_are_errors():
    with pytest.raises(ValueError, match=r"mix strings and integers \(rows \[2\]"):
        LabelEncoder.fit(["a", "b", 3])
    with pytest.raises(ValueError, match=r"rows \[1\] hold 0.5"):
        LabelEncoder.fit([1.0, 0.5])
    with pytest.raises(ValueError, match="single string"):
        LabelEncoder.fit("ab")


def test_unknown_labels_name_rows():
    encoder = LabelEncoder.fit(["a", "b"])
    with pytest.raises(ValueError, match=r"\['c'\] are not among.*rows \[1\]"):
        encoder.encode(["a", "c"])
    with pytest.raises(ValueError, match="not among"):
        encoder.encode([0, 1])  # integers are not the string classes


def test_bad_codes_and_descriptions():
    encoder = LabelEncoder.fit([0, 1])
    with pytest.raises(ValueError, match=r"0\.\.1"):
        encoder.decode([2])
    with pytest.raises(ValueError, match="sorted"):
        LabelEncoder(["b", "a"])
    with pytest.raises(ValueError, match="label encoder"):
        LabelEncoder.from_json({"labels": [0, 1]})
    with pytest.raises(ValueError, match="kind"):
        LabelEncoder.from_json({"classes": [0, 1], "kind": "str"})


def test_describe_rows_truncates():
    assert describe_rows([1, 2]) == "[1, 2]"
    assert describe_rows(range(12), shown=3) == "[0, 1, 2, ... (9 more)]"
