"""Real model, real texts, labels one can check: two overlapping labels of 20 Newsgroups posts,
``comp`` (the comp.* groups) and ``sys`` (the *.sys.* groups, all inside comp), learned with
all-MiniLM-L6-v2 through `stc-gpu run --multi-label` and served by `stc-gpu predict`."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from stc_gpu.cli import cli
from stc_gpu.stc.multilabel import MultiLabelSTC

pytestmark = pytest.mark.integration

DATA = Path("/work/shared/data/20newsgroups.csv.gz")
N_TEXTS = 800


def topic_tags(topic: str) -> list[str]:
    """The labels of a newsgroup: ``comp`` for comp.*, ``sys`` for *.sys.* (none for others)."""
    parts = topic.split(".")
    return [tag for tag, on in (("comp", parts[0] == "comp"), ("sys", "sys" in parts[1:-1])) if on]


@pytest.fixture(scope="module")
def newsgroups(tmp_path_factory):
    if not DATA.exists():
        pytest.skip(f"{DATA} is absent")
    root = tmp_path_factory.mktemp("20ng")
    posts = pd.read_csv(DATA).head(N_TEXTS)  # the rows are shuffled once: every group is there
    data = root / "tags.csv"
    with open(data, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "tags", "topic"])
        writer.writerows((t, "|".join(topic_tags(g)), g) for t, g in zip(posts.text, posts.label))
    toml = root / "small.toml"
    toml.write_text("C_grid = [0.2, 1.0, 10.0]\neta_grid = [0.3, 0.8]\n")
    res = CliRunner().invoke(cli, ["run", "--data", str(data), "--label-column", "tags",
                                   "--multi-label", "--metric", "macro_f1", "--pools", "mean",
                                   "--max-length", "64", "--store", str(root / "store"),
                                   "--out", str(root / "out"), "--config", str(toml), "--quiet"])
    assert res.exit_code == 0, res.output
    return root, posts, res.output


def test_the_derived_labels_overlap_as_the_hierarchy_says():
    assert topic_tags("comp.sys.mac.hardware") == ["comp", "sys"]
    assert topic_tags("comp.graphics") == ["comp"]
    assert topic_tags("sci.space") == [] and topic_tags("talk.politics.misc") == []


def test_learns_both_labels_of_real_posts(newsgroups):
    root, posts, output = newsgroups
    results = json.loads((root / "out" / "results.json").read_text())
    assert results["labels"] == ["comp", "sys"]
    counts = results["label_counts"]
    truth = [topic_tags(g) for g in posts.label]
    assert sum(counts["comp"].values()) == sum("comp" in t for t in truth)
    assert sum(counts["sys"].values()) == sum("sys" in t for t in truth)
    agg = results["scores"]["agg"]
    # comp is a quarter of the posts, sys a tenth; predicting no label scores F1 0
    assert agg["per_label"]["comp"]["f1"] > 0.7
    assert agg["per_label"]["sys"]["f1"] > 0.4
    assert agg["micro_f1"] > 0.6
    assert "micro F1" in output and "comp" in output


def test_predicts_label_sets_of_new_posts(newsgroups):
    root, posts, _ = newsgroups
    clf = MultiLabelSTC.load(root / "out" / "classifier")
    held_out = pd.read_csv(DATA).iloc[N_TEXTS:N_TEXTS + 200]
    found, proba = clf.predict_with_proba(list(held_out.text))
    truth = [tuple(topic_tags(g)) for g in held_out.label]
    assert proba.shape == (200, 2)
    comp_true = np.array(["comp" in t for t in truth])
    comp_pred = np.array(["comp" in f for f in found])
    assert (comp_true == comp_pred).mean() > 0.8
    res = CliRunner().invoke(cli, ["predict", str(root / "out" / "classifier"),
                                   held_out.text.iloc[0]])
    assert res.exit_code == 0 and res.output.split("\t")[0] == "|".join(found[0])
