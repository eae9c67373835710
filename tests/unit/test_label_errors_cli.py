"""Bad labels through `stc-gpu run`: one line naming the label (or class) and what to do, before
any model loads or any store is written; an empty label set is no error."""
from __future__ import annotations

import csv

import pytest
from click.testing import CliRunner

from stc_gpu.cli import cli

N = 40


def _run(tmp_path, rows, *args, columns=("text", "tags")):
    data = tmp_path / "d.csv"
    with open(data, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        writer.writerows(rows)
    # the model folder does not exist: a run that got past the labels would fail on it
    return CliRunner().invoke(cli, ["run", "--data", str(data), "--model", str(tmp_path / "none"),
                                    "--store", str(tmp_path / "store"), "--out",
                                    str(tmp_path / "out"), "--label-column", "tags", "--quiet",
                                    *args])


def _tags(n_a: int, n_b: int = 10) -> list[tuple[str, str]]:
    """N rows; label a on the first n_a, label b on the last n_b."""
    return [(f"text {i}", "|".join([t for t, on in (("a", i < n_a), ("b", i >= N - n_b)) if on]))
            for i in range(N)]


@pytest.mark.parametrize("rows, message", [
    (_tags(N), "label 'a' applies to every row (40 of 40), so there is nothing to tell apart: "
               "drop it, or add rows without it"),
    (_tags(2), "label 'a' occurs in only 2 row(s); a train/validation/test split needs at least "
               "3: add rows with it, or drop it"),
    (_tags(N - 2), "label 'a' is absent from only 2 row(s); a train/validation/test split needs "
                   "at least 3 rows without it: add such rows, or drop it"),
    ([(f"text {i}", "") for i in range(N)], "every label set is empty, so there is no label to "
                                            "learn; check the label column and the label "
                                            "separator"),
])
def test_multi_label_errors_name_the_label(tmp_path, rows, message):
    res = _run(tmp_path, rows, "--multi-label")
    assert res.exit_code == 1
    assert res.output.strip() == f"Error: label column 'tags': {message}"
    assert not (tmp_path / "store").exists()


def test_a_label_in_only_one_given_split(tmp_path):
    rows = [(text, tags, "train" if i < 24 else "validation" if i < 32 else "test")
            for i, (text, tags) in enumerate(_tags(5))]
    res = _run(tmp_path, rows, "--multi-label", "--split-column", "split",
               columns=("text", "tags", "split"))
    assert res.exit_code == 1
    assert ("label 'a' occurs only in the train split (5 rows); train, validation and test each "
            "need rows with it: move some of its rows to the other splits in the split column, "
            "or drop the label") in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_an_empty_separator(tmp_path):
    res = _run(tmp_path, _tags(10), "--multi-label", "--label-separator", "")
    assert res.exit_code == 1 and "label_separator must be a non-empty string" in res.output


def test_empty_label_sets_pass_the_checks(tmp_path):
    """Rows without a label are fine: the run gets past the labels (to the missing model)."""
    res = _run(tmp_path, _tags(10), "--multi-label")
    assert res.exit_code == 1 and "label column" not in res.output


def test_single_label_class_with_two_rows(tmp_path):
    rows = [(f"text {i}", "x" if i < 2 else "y" if i % 2 else "z") for i in range(N)]
    res = _run(tmp_path, rows)
    assert res.exit_code == 1
    assert res.output.strip() == (
        "Error: label column 'tags': class 'x' has only 2 row(s); a train/validation/test split "
        "needs at least 3 of each class: add rows of it, or drop or merge it")
