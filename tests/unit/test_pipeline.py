"""The whole method through its public faces (Python API and `stc-gpu run`) on a planted signal."""
from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from stc_gpu.cli import cli
from stc_gpu.config import STCConfig
from stc_gpu import pipeline
from stc_gpu.stc.classifier import STCClassifier
from tests.html_page import parse
from tests.pipeline_data import planted_corpus, save_tiny_model, write_corpus

SMALL = dict(C_grid=[1.0, 10.0], eta_grid=[0.3, 0.8], max_iter=30)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipeline")
    texts, labels = planted_corpus(320)
    topic = ["long" if len(t.split()) > 7 else "short" for t in texts]
    data = write_corpus(root / "data.csv", texts, labels, topic=topic)
    model = save_tiny_model(root / "model", texts=texts)
    return root, data, model, texts, labels


@pytest.fixture(scope="module")
def ran(corpus):
    root, data, model, texts, labels = corpus
    config = STCConfig(model=str(model), data=str(data), store=str(root / "store"),
                       out=str(root / "out"), label_columns=["label", "topic"], **SMALL)
    return config, pipeline.run(config, show_progress=False)


def test_run_selects_on_validation_and_beats_chance(ran):
    config, results = ran
    res = results["label"]
    sel = res["selection"]
    assert set(sel) == {"embedding", "own_pooling", "probe", "agg"}
    # both references read the model's output (final.L); a model declaring no sentence pooling
    # has the Embedding as its own-pooling reference
    assert (sel["embedding"]["kind"], sel["embedding"]["pool"]) == ("final", "single")
    assert {k: v for k, v in sel["own_pooling"].items() if k != "rule"} == sel["embedding"]
    assert "no sentence pooling declared" in sel["own_pooling"]["rule"]
    from stc_gpu.cli.summary import summary_table

    own = next(line for line in summary_table(res).splitlines() if line.startswith("own pool"))
    assert own.endswith("the Embedding: no sentence pooling declared (no sentence-transformers "
                        "modules.json)")
    # The planted word is linearly visible in the embeddings' mean pool: far above chance.
    assert sel["agg"]["test_acc"] >= 0.8
    assert sel["probe"]["test_acc"] >= 0.8
    # Every (kind, pool, layer, C) probe and (kind, pool, eta, L_temp, C) aggregation is recorded.
    n_layers = {"hidden": 4, "ffn": 3}
    assert len(res["probes"]) == sum(n_layers.values()) * 3 * len(SMALL["C_grid"])
    # ... except prefixes whose layers all lack signal (all-zero chosen probe): no features
    silent = {(r["kind"], r["pool"], r["layer"]) for r in res["probe_best"] if r["nnz"] == 0}
    missing = sum(1 for kind, n in n_layers.items() for pool in ("mean", "max", "single")
                  for depth in range(n)
                  if all((kind, pool, layer) in silent for layer in range(depth + 1)))
    assert len(res["aggregation"]) == ((sum(n_layers.values()) * 3 - missing)
                                       * len(SMALL["eta_grid"]) * len(SMALL["C_grid"]))
    if silent:
        assert any(note.startswith("no signal") for note in res["notes"])
    # The selected aggregation is the best on validation among all recorded ones.
    assert sel["agg"]["val_acc"] == max(r["val_acc"] for r in res["aggregation"])
    n = res["n"]
    assert n["train"] + n["val"] + n["test"] == 320


def test_report_files(ran):
    config, results = ran
    for task in ("label", "topic"):
        folder = config.out + "/" + task
        saved = json.loads(open(f"{folder}/results.json").read())
        for name in ("embedding", "own_pooling", "probe", "agg"):
            assert saved["selection"][name]["test_acc"] == results[task]["selection"][name][
                "test_acc"]
        table = open(f"{folder}/table.md").read()
        for title in ("Embedding", "Own pooling", "Probes", "Agg."):
            assert title in table
        for png in ("layer_curve.png", "salient_histograms.png", "what_which_where_ffn.png"):
            assert open(f"{folder}/{png}", "rb").read(8) == b"\x89PNG\r\n\x1a\n"
        assert saved["flops"]["speedup"] > 0


def test_report_html_holds_the_results_and_nothing_external(ran):
    config, results = ran
    folder = Path(config.out) / "label"
    saved = json.loads((folder / "results.json").read_text())
    assert saved["report"] == str(folder / "report.html") == results["label"]["report"]
    text = (folder / "report.html").read_text()
    page = parse(text)
    # Table 4: the four approaches' test scores as results.json holds them
    header, body = page.table("Dataset/task", "Model", "Embedding acc")
    assert header[2:] == [f"{t} {m}" for t in ("Embedding", "Own pooling", "Probes", "Agg.")
                          for m in ("acc", "macro-F1")]
    sel = saved["selection"]
    assert body == [["data.csv / label", saved["model"]] + [
        f"{100 * sel[a][k]:.2f}" for a in ("embedding", "own_pooling", "probe", "agg")
        for k in ("test_acc", "test_f1")]]
    # the selection, with its validation scores, and what it chose among
    _, selection = page.table("Dataset/task", "Model", "Approach")
    agg_row = next(row for row in selection if row[2] == "Agg.")
    assert agg_row[-2:] == [f"{100 * sel['agg']['val_acc']:.2f}", f"{100 * sel['agg']['val_f1']:.2f}"]
    probe_row = next(row for row in selection if row[2] == "Probes")
    assert probe_row[-2] == f"{100 * sel['probe']['val_score']:.2f}"  # accuracy is the metric
    _, candidates = page.table("Kind", "Pool", "η")
    assert candidates[0][-1] == "yes" and candidates[0][-3] == agg_row[-2]
    # timings beside the FLOP estimate
    _, stages = page.table("Stage")
    timings, flops = saved["timings"], saved["flops"]["flops"]
    assert stages[0][1:3] == [f"{timings['extraction_s']:.2f}", f"{flops['forward']:.3g}"]
    assert stages[1][1:3] == [f"{timings['probes_s']:.2f}", f"{flops['lr_probes']:.3g}"]
    assert stages[2][1:3] == [f"{timings['aggregation_s']:.2f}", f"{flops['lr_aggregation']:.3g}"]
    # Figures 2, 3 (one per kind) and 4a, embedded as PNG data URIs; nothing fetched from outside
    assert len(page.images) == 4
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert all(value.startswith("data:") for _, _, value in page.resources)
    assert "script" not in page.tags and "link" not in page.tags and "iframe" not in page.tags
    assert "@import" not in text and "url(" not in text and "://" not in text
    # explained test texts: right ones first, then wrong ones, both views each
    examples = [s for s in page.sections if s.startswith(("right:", "wrong:"))]
    assert 1 <= len(examples) <= 6 and examples == sorted(examples, key=lambda s: s[0] == "w")
    for section in examples:
        assert "token-wise" in section and "exact attribution" in section
        assert "logit(" in section and "intercept" in section and "(special: [CLS]" in section
    # the configuration
    options = dict(page.table("Option")[1])
    assert json.loads(options["eta_grid"]) == SMALL["eta_grid"]


def _chromium() -> str | None:
    names = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome",
             "headless_shell")
    return next((path for path in map(shutil.which, names) if path), None)


@pytest.mark.skipif(_chromium() is None, reason="no headless Chromium installed (Debian: "
                                                 "apt install chromium)")
def test_report_html_renders_in_headless_chromium(ran, tmp_path):
    from matplotlib.image import imread

    config, _ = ran
    shot = tmp_path / "report.png"
    subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu",
                    "--hide-scrollbars", f"--screenshot={shot}", "--window-size=1280,2400",
                    (Path(config.out) / "label" / "report.html").resolve().as_uri()],
                   check=True, timeout=120, capture_output=True)
    image = imread(shot)
    assert image.shape[:2] == (2400, 1280)
    assert image[..., :3].std() > 0.05  # not a blank page


def test_multitask_reuses_one_extraction(ran):
    config, results = ran
    assert results["label"]["store_entry"] == results["topic"]["store_entry"]
    assert results["label"]["classes"] == ["neg", "pos"]
    assert results["topic"]["classes"] == ["long", "short"]


def test_saved_classifier_predicts_raw_texts_like_the_pipeline(ran, corpus):
    config, results = ran
    _, _, _, texts, labels = corpus
    clf = STCClassifier.load(config.out + "/label/classifier")
    test_rows = results["label"]["splits"]["test"]
    test_texts = [texts[i] for i in test_rows]
    pred = clf.predict(test_texts)
    acc = np.mean(pred == np.asarray([labels[i] for i in test_rows]))
    assert acc == pytest.approx(results["label"]["selection"]["agg"]["test_acc"])
    proba = clf.predict_proba(test_texts)
    assert proba.shape == (len(test_texts), 2) and np.allclose(proba.sum(1), 1)
    # Prediction captures only the sites and the pool the classifier reads.
    assert clf.extractor().layers == {k: v for k, v in clf.sites.items()}
    assert clf.extractor().pools == (clf.pool_,)
    scored = clf.token_scores(test_texts[:2])
    assert len(scored) == 2 and all(len(s.tokens) == len(s.scores) for s in scored)
    assert [s.target for s in scored] == list(pred[:2])  # each text's predicted class


def test_second_run_reuses_the_store(ran, corpus):
    config, _ = ran
    results = pipeline.run(STCConfig(**{**config.to_dict(), "label_columns": ["label"],
                                        "out": config.out + "_again"}), show_progress=False)
    assert results["label"]["extraction"]["blocks_written"] == 0


def test_cli_run_predict_explain(corpus, tmp_path):
    root, data, model, texts, _ = corpus
    runner = CliRunner()
    out = tmp_path / "out"
    res = runner.invoke(cli, ["run", "--model", str(model), "--data", str(data), "--store",
                              str(root / "store"), "--out", str(out), "--quiet", "--kinds",
                              "hidden", "--pools", "mean", "--config", str(_toml(tmp_path))])
    assert res.exit_code == 0, res.output
    assert "agg" in res.output and "test acc" in res.output
    assert "truncated: 0 of 320 texts at 64 tokens" in res.output
    assert "embedding" not in res.output  # --pools mean: no single token, so no references
    notes = json.loads((out / "results.json").read_text())["notes"]
    assert "no Embedding baseline: it needs the single pool" in notes
    res = runner.invoke(cli, ["predict", str(out / "classifier"), "good movie", "bad film"])
    assert res.exit_code == 0, res.output
    assert [line.split("\t")[1] for line in res.stdout.strip().splitlines()] == [
        "good movie", "bad film"]
    html = tmp_path / "x.html"
    res = runner.invoke(cli, ["explain", str(out / "classifier"), "a good movie", "--out",
                              str(html)])
    assert res.exit_code == 0, res.output
    assert "<html" in html.read_text().lower()


def _toml(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text("C_grid = [1.0, 10.0]\neta_grid = [0.1, 0.5]\nmax_iter = 30\n")
    return path


@pytest.mark.parametrize("args, message", [
    (["--label-column", "nope"], "nope"),
    (["--kinds", "hidden,bogus"], "kinds"),
    (["--max-texts", "3"], "max_texts"),
])
def test_cli_run_bad_options_fail_clearly(corpus, tmp_path, args, message):
    root, data, model, _, _ = corpus
    res = CliRunner().invoke(cli, ["run", "--model", str(model), "--data", str(data), "--store",
                                   str(tmp_path / "store"), "--out", str(tmp_path / "o"),
                                   "--quiet", *args])
    assert res.exit_code != 0
    assert message in res.output
    assert not (tmp_path / "store").exists() or not any((tmp_path / "store").iterdir())


def test_classifier_fit_on_texts_and_on_an_entry(corpus, tmp_path):
    root, _, model, texts, labels = corpus
    options = dict(model=str(model), store=str(tmp_path / "store"), kinds=["hidden"],
                   pools=["mean"], **SMALL)
    clf = STCClassifier(**options)
    with pytest.raises(ValueError, match="not fitted"):
        clf.predict(["good film"])
    clf.fit(texts, labels)
    assert clf.results_["selection"]["agg"]["test_acc"] >= 0.7  # chance is 0.5
    assert set(clf.predict(["good film", "awful film"])) <= {"pos", "neg"}
    from stc_gpu.store.feature_store import FeatureStore

    entry = FeatureStore.open(tmp_path / "store").entry()
    again = STCClassifier(**options).fit(entry, labels)
    assert again.results_["selection"] == clf.results_["selection"]
    with pytest.raises(ValueError, match="labels"):
        STCClassifier(**options).fit(entry, labels[:-1])


def test_multiclass_and_combined_kinds_end_to_end(tmp_path):
    texts, labels = planted_corpus(300, seed=3, n_classes=3)
    model = save_tiny_model(tmp_path / "model", family="gpt2", texts=texts)
    config = STCConfig(model=str(model), data=str(write_corpus(tmp_path / "d.csv", texts, labels)),
                       store=str(tmp_path / "store"), out=str(tmp_path / "out"),
                       pools=["mean"], combine_kinds=True, metric="macro_f1", **SMALL)
    res = pipeline.run(config, show_progress=False)["label"]
    assert res["classes"] == ["mid", "neg", "pos"]
    assert {r["kind"] for r in res["aggregation"]} == {"hidden", "ffn", "hidden+ffn"}
    combined = [r for r in res["aggregation"] if r["kind"] == "hidden+ffn"]
    assert len(combined) == 4 * len(SMALL["eta_grid"]) * len(SMALL["C_grid"])  # hidden 0..3
    sel = res["selection"]["agg"]
    assert sel["val_f1"] == max(r["val_f1"] for r in res["aggregation"])
    assert sel["test_f1"] > 0.6  # chance is 1/3
    clf = STCClassifier.load(tmp_path / "out" / "classifier")
    assert clf.predict_proba(texts[:4]).shape == (4, 3)


def test_aggregated_neurons_are_algorithm_1_on_the_chosen_probe_weights(ran):
    """Each block holds exactly the η-salient neurons of its layer's validation-chosen probe,
    ranked by squared weight with the threshold η·||w||² on the squared weights (not their
    squares)."""
    from stc_gpu.stc.search import search
    from stc_gpu.stc.selection import split_rows
    from stc_gpu.store.feature_store import StoreEntry

    config, results = ran
    entry = StoreEntry.open(results["label"]["store_entry"])
    from stc_gpu.data.readers import read_column

    labels = read_column(config.data, "label")
    _, rows, _ = split_rows(labels, config)
    found = search(entry, rows, config, show_progress=False)
    agg = found.best_agg
    for block in agg.blocks:
        coef = found.coefs[block.kind, agg.pool, block.layer]
        energy = np.sort((coef ** 2).sum(axis=0))[::-1]
        k = len(block.ids)
        # Algorithm 1: the first k-1 neurons stay at or below η·||w||², the k-th crosses it
        assert energy[:k - 1].sum() <= agg.eta * energy.sum()
        assert k == np.count_nonzero(energy) or energy[:k].sum() > agg.eta * energy.sum()
        assert np.array_equal(np.sort((coef ** 2).sum(axis=0)[list(block.ids)])[::-1],
                              energy[:k])


def test_test_labels_cannot_leak(ran, corpus, tmp_path):
    """Permuting the test labels (shuffled among the test rows, or the classes swapped there)
    changes no validation score, no selection and no saved weight: only the test scores (the split
    is the recorded one, given as a split column)."""
    from stc_gpu.store.feature_store import StoreEntry

    config, results = ran
    _, _, _, _, labels = corpus
    entry = StoreEntry.open(results["label"]["store_entry"])
    splits = results["label"]["splits"]
    split_values = np.empty(len(labels), dtype=object)
    for name, given in (("train", "train"), ("val", "validation"), ("test", "test")):
        split_values[splits[name]] = given
    labels = np.asarray(labels)
    test = np.asarray(splits["test"])
    shuffled, swapped = labels.copy(), labels.copy()
    shuffled[test] = np.random.default_rng(0).permutation(labels[test])
    swapped[test] = np.where(labels[test] == "pos", "neg", "pos")
    assert (shuffled != labels).sum() > len(test) // 4
    config = STCConfig(**{**config.to_dict(), "C_grid": [0.1, 1.0, 10.0, 100.0]})
    (clf_a, res_a, _), *permuted = [
        pipeline.fit_task(entry, y, config, split_values=split_values, show_progress=False)
        for y in (labels, shuffled, swapped)]
    for clf_b, res_b, _ in permuted:
        _assert_same_but_test(clf_a, res_a, clf_b, res_b, tmp_path)


def _without_test(value):
    """``value`` (results) without its test scores and timings."""
    if isinstance(value, dict):
        return {k: _without_test(v) for k, v in value.items()
                if not k.startswith("test_") and k != "timings"}
    if isinstance(value, list):
        return [_without_test(v) for v in value]
    return value


def _assert_same_but_test(clf_a, res_a, clf_b, res_b, tmp_path):
    assert _without_test(res_a) == _without_test(res_b)
    assert res_a["selection"]["agg"]["test_acc"] != res_b["selection"]["agg"]["test_acc"]
    for clf, folder in ((clf_a, tmp_path / "a"), (clf_b, tmp_path / "b")):
        clf.save(folder)
    for name in ("classifier.json", "head/probe.json"):
        assert (tmp_path / "a" / name).read_text() == (tmp_path / "b" / name).read_text(), name
    weights_a, weights_b = (np.load(tmp_path / f / "head" / "probe.npz") for f in ("a", "b"))
    assert sorted(weights_a.files) == sorted(weights_b.files)
    for name in weights_a.files:
        np.testing.assert_array_equal(weights_a[name], weights_b[name])
