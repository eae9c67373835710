"""Multi-label tasks end to end on a tiny random model: `stc-gpu run --multi-label`, its results
and report, the saved classifier through the Python API and `stc-gpu predict`, and what sharing
one extraction and the slab reads among the labels changes (nothing but the cost)."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.metrics import f1_score

from stc_gpu.cli import cli
from stc_gpu.config import STCConfig
from stc_gpu.data.label_sets import LabelSets
from stc_gpu.extract import Extractor
from stc_gpu import pipeline
from stc_gpu.stc.slabs import SplitRows
from stc_gpu.stc.search import search, search_labels
from stc_gpu.stc.classifier import STCClassifier
from stc_gpu.stc.multilabel import MultiLabelSTC, load_classifier
from stc_gpu.pipeline import fit_multilabel_task
from stc_gpu.stc.multilabel_task import split_labels
from stc_gpu.store.feature_store import StoreEntry
from tests.pipeline_data import planted_label_sets, save_tiny_model

N = 320
OPTIONS = ["--pools", "mean", "--C-grid", "1,10", "--eta-grid", "0.3,0.8", "--metric",
           "macro_f1", "--max-length", "32", "--quiet"]


def _write(path, texts, tags):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "tags"])
        writer.writerows(zip(texts, tags))
    return path


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    root = tmp_path_factory.mktemp("multilabel")
    texts, tags = planted_label_sets(N)
    data = _write(root / "d.csv", texts, tags)
    model = save_tiny_model(root / "model", texts=texts)
    res = CliRunner().invoke(cli, ["run", "--model", str(model), "--data", str(data), "--store",
                                   str(root / "store"), "--out", str(root / "out"),
                                   "--label-column", "tags", "--multi-label", *OPTIONS])
    assert res.exit_code == 0, res.output
    results = json.loads((root / "out" / "results.json").read_text())
    return root, texts, tags, res.output, results


def test_results_per_label_and_over_the_label_sets(ran):
    root, texts, tags, output, results = ran
    assert results["multi_label"] and results["labels"] == ["loud", "wet"]
    sets = LabelSets.from_sets(tags)
    assert (~sets.Y.any(1)).sum() > N / 4  # many rows have no label: legitimate
    counts = results["label_counts"]
    for j, name in enumerate(sets.names):
        assert sum(counts[name].values()) == sets.Y[:, j].sum()
        assert min(counts[name].values()) > 0
        per = results["per_label"][name]
        assert per["classes"] == [0, 1]
        assert set(per["selection"]) == {"probe", "agg"}  # --pools mean: no references
        assert len(per["probes"]) == 7 * 2  # hidden 0..3, ffn 0..2, x 2 C
    assert "no Embedding baseline: it needs the single pool" in results["notes"]
    test = np.asarray(results["splits"]["test"])
    # the planted words are far above chance (predicting no label scores F1 0)
    assert results["scores"]["agg"]["micro_f1"] > 0.7
    assert results["scores"]["probe"]["macro_f1"] > 0.7
    # the saved classifier predicts the test texts as the run scored them
    clf = MultiLabelSTC.load(root / "out" / "classifier")
    found, proba = clf.predict_with_proba([texts[i] for i in test])
    predicted = LabelSets.from_sets(found, names=clf.classes_.tolist()).Y
    assert np.array_equal(predicted, proba > 0.5)
    agg = results["scores"]["agg"]
    assert agg["micro_f1"] == pytest.approx(f1_score(sets.Y[test], predicted, average="micro"))
    assert agg["macro_f1"] == pytest.approx(f1_score(sets.Y[test], predicted, average="macro"))
    for name, j in (("loud", 0), ("wet", 1)):
        assert agg["per_label"][name]["f1"] == pytest.approx(
            f1_score(sets.Y[test, j], predicted[:, j]))
        assert results["per_label"][name]["selection"]["agg"]["test_acc"] == pytest.approx(
            np.mean(sets.Y[test, j] == predicted[:, j]))


def test_report_table_and_summary(ran):
    root, _, _, output, results = ran
    table = (root / "out" / "table.md").read_text()
    for row in ("| loud |", "| wet |", "| micro-F1 |", "| macro-F1 |", "| subset accuracy |"):
        assert row in table
    micro = results["scores"]["agg"]["micro_f1"]
    assert f"{100 * micro:.2f}" in table
    assert "micro F1" in output and "macro F1" in output and "2 labels" in output
    assert any(line.startswith("loud ") and "kind=" in line for line in output.splitlines())
    assert f"{micro:.4f}" in output
    page = (root / "out" / "report.html").read_text()
    assert results["report"] == str(root / "out" / "report.html") and "micro-F1" in page
    assert f"report: {root / 'out' / 'report.html'}" in output
    for label in ("loud", "wet"):
        assert (root / "out" / "labels" / label / "layer_curve.png").read_bytes()[:4] == b"\x89PNG"
        assert (root / "out" / "classifier" / "labels" / label / "classifier.json").exists()
        assert f'href="labels/{label}/report.html"' in page
        label_page = (root / "out" / "labels" / label / "report.html").read_text()
        assert f"tags: {label}" in label_page and "Test texts, explained" in label_page
        assert results["per_label"][label]["report"].endswith(f"labels/{label}/report.html")


def _examples(texts, tags) -> list[str]:
    """One corpus text with both labels, one with none, one with each."""
    wanted = ["loud|wet", "", "loud", "wet"]
    return [next(t for t, tag in zip(texts, tags) if tag == w) for w in wanted]


def test_predict_returns_label_sets_from_one_forward_pass(ran, monkeypatch):
    root, texts, tags, _, _ = ran
    clf = load_classifier(root / "out" / "classifier")
    assert isinstance(clf, MultiLabelSTC)
    texts = _examples(texts, tags)
    calls = []
    original = Extractor.extract
    monkeypatch.setattr(Extractor, "extract", lambda self, t, **kw: calls.append(len(t)) or
                        original(self, t, **kw))
    found, proba = clf.predict_with_proba(texts)
    assert calls == [4]  # one extraction for both labels
    assert proba.shape == (4, 2) and all(isinstance(s, tuple) for s in found)
    assert found[0] == ("loud", "wet") and found[1] == ()  # as planted
    # each label's column is that label's own classifier, loaded alone
    for j, label in enumerate(clf.classes_):
        alone = STCClassifier.load(root / "out" / "classifier" / "labels" / label)
        np.testing.assert_allclose(proba[:, j], alone.predict_proba(texts)[:, 1], rtol=1e-6)


def test_cli_predict_prints_label_sets(ran):
    root, texts, tags, _, _ = ran
    texts = _examples(texts, tags)
    found, proba = MultiLabelSTC.load(root / "out" / "classifier").predict_with_proba(texts)
    res = CliRunner().invoke(cli, ["predict", str(root / "out" / "classifier"), *texts,
                                   "--proba"])
    assert res.exit_code == 0, res.output
    lines = [line.split("\t") for line in res.stdout.strip("\n").split("\n")]
    assert [line[0] for line in lines] == ["|".join(s) for s in found]
    assert [line[1] for line in lines] == [f"loud={p[0]:.3f} wet={p[1]:.3f}" for p in proba]
    assert [line[2] for line in lines] == texts
    explained = CliRunner().invoke(cli, ["explain", str(root / "out" / "classifier"), "drums"])
    assert explained.exit_code == 1
    assert "is a multi-label classifier: explain one label at a time" in explained.output
    assert "labels/loud" in explained.output
    exported = CliRunner().invoke(cli, ["export", str(root / "out" / "classifier"), "--out",
                                        str(root / "export")])
    assert exported.exit_code == 1 and "multi-label classifier: export one label" in exported.output
    assert not (root / "export").exists()


def test_sharing_the_slab_reads_and_the_solve_changes_no_result(ran, monkeypatch):
    """Two labels read exactly the slabs one label reads; their probes are solved in one batch
    and score on validation as each label's own search does (to within the solver's
    tolerance: a near-tie in the working set may order it differently)."""
    root, texts, tags, _, results = ran
    entry = StoreEntry.open(results["store_entry"])
    config = STCConfig(pools=["mean"], C_grid=[1.0, 10.0], eta_grid=[0.3, 0.8],
                       metric="macro_f1")
    sets = LabelSets.from_sets(tags)
    splits = split_labels(sets, config)
    tasks = [SplitRows.from_labels(sets.column(n), splits.train, splits.val, splits.test)
             for n in sets.names]
    reads = []
    original = StoreEntry.features
    monkeypatch.setattr(StoreEntry, "features", lambda self, *a, **kw: reads.append(a) or
                        original(self, *a, **kw))
    both = search_labels(entry, tasks, config, show_progress=False)
    reads_both, reads[:] = list(reads), []
    alone = [search(entry, task, config, show_progress=False) for task in tasks]
    assert sorted(reads_both) == sorted(reads[:len(reads) // 2])
    key = ("kind", "pool", "layer", "C")
    for shared, own in zip(both, alone):
        assert [[r[k] for k in key] for r in shared.probe_rows] == [
            [r[k] for k in key] for r in own.probe_rows]
        for a, b in zip(shared.probe_rows, own.probe_rows):
            assert abs(a["val_f1"] - b["val_f1"]) <= 0.03, (a, b)
        assert abs(shared.best_agg.val_f1 - own.best_agg.val_f1) <= 0.03


def test_python_api_fits_label_sets_and_names_a_missing_label(ran, tmp_path):
    root, texts, tags, _, _ = ran
    options = dict(model=str(root / "model"), store=str(root / "store"), pools=["mean"],
                   kinds=["hidden"], C_grid=[1.0], eta_grid=[0.8], max_length=32)
    sets = [tag.split("|") if tag else [] for tag in tags]
    with pytest.raises(ValueError, match="label 'dry' occurs in no row: drop it"):
        MultiLabelSTC(**options).fit(texts, sets, labels=["loud", "wet", "dry"])
    clf = MultiLabelSTC(**options).fit(texts, sets)
    assert clf.classes_.tolist() == ["loud", "wet"]
    assert clf.results_["scores"]["agg"]["micro_f1"] > 0.6
    clf.save(tmp_path / "c")
    again = MultiLabelSTC.load(tmp_path / "c")
    np.testing.assert_allclose(again.predict_proba(texts[:5]), clf.predict_proba(texts[:5]))
    with pytest.raises(ValueError, match="not fitted"):
        MultiLabelSTC().predict(["x"])


def test_fit_on_an_entry_and_a_list_column(ran, tmp_path):
    """A Parquet list column gives the same task as "|"-joined text."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    root, texts, tags, _, results = ran
    lists = [tag.split("|") if tag else [] for tag in tags]
    pq.write_table(pa.table({"text": texts, "tags": lists}), tmp_path / "d.parquet")
    config = STCConfig(model=str(root / "model"), data=str(tmp_path / "d.parquet"),
                       store=str(root / "store"), out=str(tmp_path / "out"),
                       label_columns=["tags"], multi_label=True, pools=["mean"],
                       C_grid=[1.0, 10.0], eta_grid=[0.3, 0.8], metric="macro_f1",
                       max_length=32)
    res = pipeline.run(config, show_progress=False)["tags"]
    assert res["extraction"]["blocks_written"] == 0  # the CSV run's entry: same texts
    assert res["scores"] == results["scores"]
    entry = StoreEntry.open(results["store_entry"])
    clf, again, _ = fit_multilabel_task(entry, LabelSets.from_sets(lists), config,
                                        show_progress=False)
    assert again["scores"] == results["scores"]


def test_cached_slabs_read_each_slab_once_within_their_budget():
    import types

    from stc_gpu.stc.slabs import CachedSlabs

    reads = []

    def features(kind, pool, layer, rows=None):
        reads.append((kind, pool, layer, rows))
        return np.full((10, 4), layer, dtype=np.float32)  # 160 bytes

    entry = types.SimpleNamespace(features=features, n_rows=10)
    slabs = CachedSlabs(entry, max_bytes=400)
    for layer in (0, 1, 0, 1):
        assert slabs.features("hidden", "mean", layer)[0, 0] == layer
    assert reads == [("hidden", "mean", 0, None), ("hidden", "mean", 1, None)]
    slabs.features("hidden", "mean", 2)  # a third slab passes the budget: layer 0 goes
    slabs.features("hidden", "mean", 1)
    slabs.features("hidden", "mean", 0)
    assert [r[2] for r in reads] == [0, 1, 2, 0]
    slabs.features("hidden", "mean", 1, rows=[3])  # a subset of rows is the entry's own read
    assert reads[-1] == ("hidden", "mean", 1, [3]) and slabs.n_rows == 10
