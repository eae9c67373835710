"""Smoke tests of the measured benchmarks on a tiny random model and a planted corpus."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from benchmarks import bench_layers, bench_scaleout_probe, bench_training_cost, check_result
from tests.pipeline_data import planted_corpus, save_tiny_model

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


def test_layers_rows_respect_their_depth(tiny):
    model, corpus = tiny
    result = check_result(bench_layers.run(True, "cpu", model=model, corpus=corpus,
                                           grids=TINY_GRIDS, n_timed=16))
    rows = result["rows"]
    assert [r["layers"] for r in rows] == ["20%", "40%", "60%", "80%", "100%"]
    assert [r["n_blocks"] for r in rows] == [1, 1, 2, 2, 3]  # round(f * 3), at least 1
    for row in rows:
        assert row["blocks_run"] <= row["n_blocks"]
        if row["val_acc_exactly_n_blocks"] != "":
            assert row["val_acc_exactly_n_blocks"] <= row["val_acc"]
        assert row["texts_per_s"] > 0 and 0 <= row["test_acc"] <= 1
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
    from stc_gpu.stc.pipeline import SearchResult

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
