"""Smoke tests of the measured benchmarks on a tiny random model and a planted corpus."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from benchmarks import (bench_extract_memory, bench_fit_stage, bench_layers, bench_probe,
                        bench_scaleout_probe, bench_training_cost, check_result, probe_fits,
                        probe_problems)
from tests.pipeline_data import planted_corpus, save_tiny_model, write_corpus
from tests.tiny_classifier import fitted_classifier

TINY_GRIDS = dict(pools=["mean"], C_grid=[1.0, 10.0], eta_grid=[0.5])


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    texts, labels = planted_corpus(120)
    model = save_tiny_model(tmp_path_factory.mktemp("bench_model") / "model", texts=texts)
    return str(model), (texts, labels)


def test_training_cost_rows_and_ratios(tiny):
    model, corpus = tiny
    result = check_result(bench_training_cost.run(True, "cpu", model=model, corpus=corpus,
                                                  grids=TINY_GRIDS))
    tuned, stc, ratio = result["rows"]
    assert tuned["approach"].startswith("fine-tune") and stc["approach"] == "frozen + STC"
    for row in (tuned, stc):
        assert row["wall_s"] > 0 and 0 <= row["test_acc"] <= 1 and 0 <= row["test_f1"] <= 1
    assert stc["extract_s"] + stc["probes_s"] + stc["aggregation_s"] <= stc["wall_s"]
    # the rows' wall times are rounded to 0.01 s; the ratio was computed before rounding
    low = (tuned["wall_s"] - 0.005) / (stc["wall_s"] + 0.005)
    high = (tuned["wall_s"] + 0.005) / (stc["wall_s"] - 0.005)
    assert low - 1e-3 <= ratio["measured_ratio"] <= high + 1e-3
    assert ratio["predicted_ratio"] > 0


def test_training_cost_needs_the_model_on_cpu(tiny, tmp_path):
    with pytest.raises(Exception):
        bench_training_cost.run(True, "cpu", model=str(tmp_path / "missing"), corpus=tiny[1],
                                grids=TINY_GRIDS)


def test_blocks_needed_maps_sites_to_blocks():
    assert bench_layers.blocks_needed("hidden", 0) == 0  # the embedding output
    assert bench_layers.blocks_needed("hidden", 3) == 3
    assert bench_layers.blocks_needed("ffn", 0) == 1
    assert bench_layers.blocks_needed("hidden+ffn", 2) == 3


def test_layers_rows_respect_their_depth(tiny, tmp_path):
    model, corpus = tiny
    saved = fitted_classifier(model, *corpus, pool="mean", sites={"ffn": [0]}).save(tmp_path / "c")
    result = check_result(bench_layers.run(True, "cpu", model=model, corpus=corpus,
                                           grids=TINY_GRIDS, n_timed=16, classifier=str(saved)))
    *rows, saved_row = result["rows"]
    assert saved_row["layers"] == "saved c" and saved_row["blocks_run"] == 1
    assert saved_row["onnx_texts_per_s"] > 0 and saved_row["weight_MiB"] > 0
    assert [r["layers"] for r in rows] == ["20%", "40%", "60%", "80%", "100%"]
    assert [r["n_blocks"] for r in rows] == [1, 1, 2, 2, 3]  # round(f * 3), at least 1
    for row in rows:
        assert row["blocks_run"] <= row["n_blocks"]
        if row["val_acc_exactly_n_blocks"] != "":
            assert row["val_acc_exactly_n_blocks"] <= row["val_acc"]
        assert row["texts_per_s"] > 0 and 0 <= row["test_acc"] <= 1
        assert row["onnx_texts_per_s"] > 0 and 0 < row["onnx_MiB"]
    # fewer blocks loaded, fewer bytes held (the full model's are in the notes)
    by_blocks = {row["blocks_run"]: row["weight_MiB"] for row in rows}
    assert all(by_blocks[a] < by_blocks[b] for a, b in zip(sorted(by_blocks), sorted(by_blocks)[1:]))
    assert any("the full model holds" in note for note in result["notes"])
    # More allowed depth never selects a worse validation score.
    assert all(a["val_acc"] <= b["val_acc"] for a, b in zip(rows, rows[1:]))


def test_scaleout_probe_is_identical_across_executors(tiny):
    model, corpus = tiny
    result = check_result(bench_scaleout_probe.run(True, "cpu", model=model, corpus=corpus,
                                                   grids=TINY_GRIDS))
    rows = result["rows"]
    assert [r["executor"] for r in rows] == ["in-process", "dask x1", "dask x2"]
    assert all(r["identical_to_in_process"] is True for r in rows)
    assert rows[1]["speedup_vs_dask_x1"] == 1.0


def test_same_search_sees_a_changed_score_or_probe_weights():
    from stc_gpu.stc.search import SearchResult

    probe = type("Probe", (), dict(kind="ffn", pool="mean", layer=1, C=1.0, val_score=0.9))()
    agg = type("Agg", (), dict(name="ffn", pool="mean", eta=0.5, L_temp=1, C=1.0, val_acc=0.9,
                               val_f1=0.9, blocks=[]))()
    base = SearchResult([{"layer": 1, "val_acc": 0.9}], [{"L_temp": 1, "val_acc": 0.8}], probe,
                        agg, {("ffn", "mean", 1): np.ones(3)}, {})
    assert bench_scaleout_probe.same_search(base, dataclasses.replace(base))
    assert not bench_scaleout_probe.same_search(
        base, dataclasses.replace(base, agg_rows=[{"L_temp": 1, "val_acc": 0.81}]))
    assert not bench_scaleout_probe.same_search(
        base, dataclasses.replace(base, coefs={("ffn", "mean", 1): np.zeros(3)}))


# -- bench_probe: the fit engine's problem sets ------------------------------------------------
def _finite_rows(rows):
    for row in rows:
        assert np.isfinite(row["torch_s"]) and row["torch_s"] > 0
        for key in ("ratio", "gap_max", "gap_min", "ref_s"):
            assert isinstance(row[key], float) and np.isfinite(row[key]), (key, row)
    return rows


def test_probe_synthetic_sets_report_ratios_and_gaps():
    problems = [probe_problems.synthetic_problem("synthetic binary", 2, 12, 160),
                probe_problems.synthetic_problem("synthetic K=3", 2, 8, 150, n_classes=3)]
    result, records = bench_probe.benchmark(True, "cpu", problems=problems, sklearn_layers=1,
                                            saga_layers=1, saga_max_iter=50)
    rows = _finite_rows(check_result(result)["rows"])
    binary = [r for r in rows if r["problem"] == "synthetic binary"]
    assert {(r["torch"].split()[0], r["reference"]) for r in binary} == {
        ("pipeline", "liblinear"), ("pipeline", "saga"), ("converged", "liblinear"),
        ("converged", "saga")}
    assert all(r["ref_layers"] == "1 of 2 (extrapolated)" for r in rows)
    multi = [r for r in rows if r["problem"] == "synthetic K=3"]
    # multinomial against saga, one-vs-rest against liblinear fitted once per class
    assert multi and all(r["K"] == 3 for r in multi)
    assert {(r["mode"], r["reference"]) for r in multi} == {("multinomial", "saga"),
                                                           ("ovr", "liblinear (per class)")}
    # the converged torch fits reach sklearn's objective (gap: ours minus sklearn's), each mode
    # measured with its own objective
    assert all(r["gap_max"] < 1e-4 for r in rows if r["torch"].startswith("converged"))
    assert records[0]["results"][0]["objective"].shape == (2, 5)


def test_probe_multiclass_ovr_when_fit_path_takes_it(monkeypatch):
    real = probe_fits.fit_path

    def fit_path(X, y, alphas, *, multiclass="multinomial", eval_set=None, **kwargs):
        if multiclass == "multinomial":
            return real(X, y, alphas, eval_set=eval_set, **kwargs)
        parts = [real(X, (y == k).astype(np.int64), alphas, **kwargs,
                      eval_set=None if eval_set is None else
                      (eval_set[0], (eval_set[1] == k).astype(np.int64)))
                 for k in range(int(y.max()) + 1)]
        out = parts[0]
        out.coef = np.concatenate([p.coef for p in parts], axis=2)
        out.intercept = np.concatenate([p.intercept for p in parts], axis=2)
        return out

    monkeypatch.setattr(probe_fits, "fit_path", fit_path)
    assert probe_fits.supports_multiclass()
    problem = probe_problems.synthetic_problem("synthetic K=3", 1, 8, 150, n_classes=3)
    rows = _finite_rows(probe_fits.compare(problem, "cpu", sklearn_layers=1, saga_layers=1,
                                           saga_max_iter=50)["rows"])
    assert {(r["mode"], r["reference"]) for r in rows} == {
        ("multinomial", "saga"), ("ovr", "liblinear (per class)")}
    assert all(abs(r["gap_max"]) < 1e-3 for r in rows if r["mode"] == "ovr")


def test_probe_demo_store_rows(tmp_path):
    from stc_gpu.config import STCConfig
    from stc_gpu.data.readers import read_column
    from stc_gpu import pipeline
    from stc_gpu.data.demo import demo_data_path

    texts = [str(t) for t in read_column(demo_data_path(), "text")[:40]]
    model = str(save_tiny_model(tmp_path / "model", texts=texts))
    store = tmp_path / "store"
    assert probe_problems.find_demo_entry((str(store),), 40, model) is None
    pipeline.extract(STCConfig(model=model, max_texts=40, store=str(store), pools=["mean"]),
                     show_progress=False)
    entry = probe_problems.find_demo_entry((str(store),), 40, model)
    assert entry is not None and entry.n_rows == 40
    assert probe_problems.find_demo_entry((str(store),), 41, model) is None
    problems = probe_problems.demo_problems(entry, ["hidden/mean", "ffn/mean"])
    assert [p.name for p in problems] == ["demo hidden/mean", "demo ffn/mean"]
    hidden = problems[0]
    assert hidden.X.shape[0] == 4  # 4 hidden sites: the embeddings and 3 blocks
    assert hidden.X.shape[1] + hidden.X_val.shape[1] < 40  # the pipeline's train and val rows
    result, _ = bench_probe.benchmark(True, "cpu", problems=problems[:1], saga_max_iter=50)
    rows = _finite_rows(check_result(result)["rows"])
    assert {r["alphas"] for r in rows} == {"C 0.1,0.2,1,10,100"}


# -- bench_fit_stage -----------------------------------------------------------------------------
def test_fit_stage_rows_and_ratios(tiny, tmp_path):
    model, (texts, labels) = tiny
    demo = write_corpus(tmp_path / "demo.csv", texts[:50], labels[:50])
    # binary stand-in for 20 Newsgroups: multiclass fits cost ~20 s even at this size (solver)
    many = write_corpus(tmp_path / "many.csv", *planted_corpus(60, seed=1))
    result = check_result(bench_fit_stage.run(
        True, "cpu", model=model, demo_data=str(demo), newsgroups=many,
        sizes=dict(demo=50, newsgroups=60), grids=TINY_GRIDS,
        gpt2=dict(n_layer=2, d_model=32, n_head=4, vocab_size=512, max_positions=64),
        row_timeout=0))
    rows = result["rows"]
    assert [(r["dataset"], r["classes"]) for r in rows] == [
        ("RT snippets (demo)", 2), ("20 Newsgroups", 2), ("RT snippets (demo)", 2)]
    assert rows[2]["model"].startswith("random GPT-2")
    for row in rows:
        assert row["status"] == "ok"
        assert row["extraction_s"] > 0 and np.isfinite(row["ratio"]) and row["ratio"] > 0
        assert row["fits_s"] == pytest.approx(row["probes_s"] + row["aggregation_s"], abs=0.011)
        assert row["fits_s"] <= row["fit_s"] + 0.01
        assert row["meets_target"] == ("yes" if row["ratio"] <= row["target"] else "no")
        assert 0 <= row["test_acc"] <= 1 and 0 <= row["test_f1"] <= 1
    assert [r["target"] for r in rows] == [0.5, 1.0, 0.5]


def test_fit_stage_skips_a_missing_newsgroups_file(tiny, tmp_path):
    model, (texts, labels) = tiny
    demo = write_corpus(tmp_path / "demo.csv", texts[:40], labels[:40])
    result = check_result(bench_fit_stage.run(
        True, "cpu", model=model, demo_data=str(demo), newsgroups=tmp_path / "absent.csv.gz",
        sizes=dict(demo=40), grids=TINY_GRIDS, gpt2=False, row_timeout=0))
    assert [r["dataset"] for r in result["rows"]] == ["RT snippets (demo)"]
    assert any("20 Newsgroups skipped" in note for note in result["notes"])


def test_fit_stage_run_stopped_at_its_time_limit(tiny, tmp_path):
    model, _ = tiny
    row = bench_fit_stage.time_run_limited(
        "RT snippets (demo)", timeout_s=0.01, model=model, data=None, n_texts=40, target=0.5,
        device="cpu", grids=TINY_GRIDS, tmp=tmp_path)
    assert row["status"] == "stopped at 0.01 s (extraction)" and row["meets_target"] == "unknown"
    assert row["wall_s"] < 10


def test_multiclass_bench_compares_both_modes(tmp_path):
    from benchmarks import bench_multiclass

    texts, labels = planted_corpus(90, n_classes=3)
    data = write_corpus(tmp_path / "three.csv", texts, labels)
    model = str(save_tiny_model(tmp_path / "model", texts=texts))
    result = bench_multiclass.run(True, "cpu", newsgroups=data, store=str(tmp_path / "store"),
                                  model=model, n_texts=90)
    assert [r["multiclass"] for r in result["rows"]] == ["ovr", "multinomial"]
    for row in result["rows"]:
        assert row["classes"] == 3 and row["fit_s"] > 0
        assert 0 <= row["val_f1"] <= 1 and 0 <= row["test_acc"] <= 1
    assert any("faster" in note for note in result["notes"])
    skipped = bench_multiclass.run(True, "cpu", newsgroups=tmp_path / "absent.csv")
    assert skipped["rows"] == [] and "skipped" in skipped["notes"][0]


# -- bench_extract_memory ------------------------------------------------------------------------
def test_extract_memory_measures_two_sizes_in_fresh_processes():
    result = check_result(bench_extract_memory.run(True, "cpu", sizes=(300, 600),
                                                   variants=("bounded",)))
    small, large = result["rows"]
    assert (small["rows"], large["rows"]) == (300, 600) and small["variant"] == "bounded"
    assert small["peak_rss_mib"] > 50 and large["peak_rss_mib"] > 50  # torch alone is more
    growth = (large["peak_rss_mib"] - small["peak_rss_mib"]) / 300 * 1e6
    assert large["growth_mib_per_million_rows"] == pytest.approx(growth, abs=400)  # rounding
    assert large["meets_target"] == ("yes" if large["growth_mib_per_million_rows"] <= 100 else "no")
