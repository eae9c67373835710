"""The search keeps the best aggregated candidate per (name, L_temp); depth-limited selection."""
from __future__ import annotations

import pytest

from stc_gpu.config import STCConfig
from stc_gpu import pipeline
from stc_gpu.stc.search import search
from stc_gpu.stc.selection import split_rows
from stc_gpu.stc.aggregate import best_within
from tests.pipeline_data import planted_corpus, save_tiny_model, write_corpus


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    root = tmp_path_factory.mktemp("by_depth")
    texts, labels = planted_corpus(200)
    config = STCConfig(model=str(save_tiny_model(root / "model", texts=texts)),
                       data=str(write_corpus(root / "data.csv", texts, labels)),
                       store=str(root / "store"), pools=["mean", "max"], C_grid=[1.0, 10.0],
                       eta_grid=[0.3, 0.8], combine_kinds=True)
    entry, _, _ = pipeline.extract(config, show_progress=False)
    _, rows, _ = split_rows(labels, config)
    return search(entry, rows, config, show_progress=False)


def test_one_best_per_name_and_depth_matching_the_rows(searched):
    depths = {(r["kind"], r["L_temp"]) for r in searched.agg_rows}
    assert set(searched.agg_by_depth) == depths
    for (name, L_temp), cand in searched.agg_by_depth.items():
        assert (cand.name, cand.L_temp) == (name, L_temp)
        assert max(b.layer for b in cand.blocks) <= L_temp
        assert cand.val_acc == max(r["val_acc"] for r in searched.agg_rows
                                   if (r["kind"], r["L_temp"]) == (name, L_temp))


def test_best_within_restricts_depth_and_matches_the_overall_best(searched):
    by_depth = searched.agg_by_depth
    everything = best_within(by_depth, lambda name, L_temp: True, "accuracy")
    assert everything.val_acc == searched.best_agg.val_acc
    shallow = best_within(by_depth, lambda name, L_temp: L_temp <= 1, "accuracy")
    assert shallow.L_temp <= 1
    assert shallow.val_acc == max(r["val_acc"] for r in searched.agg_rows if r["L_temp"] <= 1)
    assert best_within(by_depth, lambda name, L_temp: False, "accuracy") is None
