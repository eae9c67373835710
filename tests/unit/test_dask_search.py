"""The search on a 2-worker Dask LocalCluster: identical results, and a dying worker changes nothing."""
from __future__ import annotations

import os

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

from stc_gpu.config import STCConfig  # noqa: E402
from stc_gpu import pipeline  # noqa: E402
from stc_gpu.executors import DaskExecutor  # noqa: E402
from stc_gpu.stc import tasks  # noqa: E402
from stc_gpu.stc.search import search  # noqa: E402
from tests.pipeline_data import planted_corpus, save_tiny_model, write_corpus  # noqa: E402


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("dask")
    texts, labels = planted_corpus(200, seed=1)
    config = STCConfig(model=str(save_tiny_model(root / "model", texts=texts)),
                       data=str(write_corpus(root / "data.csv", texts, labels)),
                       store=str(root / "store"), out=str(root / "out"), kinds=["hidden"],
                       pools=["mean", "max"], C_grid=[1.0, 10.0], eta_grid=[0.3, 0.8],
                       max_iter=30)
    entry, _, _ = pipeline.extract(config, show_progress=False)
    _, _, rows = pipeline.fit_task(entry, labels, config, show_progress=False)
    local = search(entry, rows, config, show_progress=False)
    return config, entry, rows, local


def _same(a, b):
    assert a.probe_rows == b.probe_rows
    assert a.agg_rows == b.agg_rows
    assert (a.best_agg.name, a.best_agg.pool, a.best_agg.eta, a.best_agg.L_temp, a.best_agg.C) == (
        b.best_agg.name, b.best_agg.pool, b.best_agg.eta, b.best_agg.L_temp, b.best_agg.C)
    np.testing.assert_array_equal(a.best_agg.estimator.coef_, b.best_agg.estimator.coef_)


def test_two_workers_give_identical_results(setup):
    config, entry, rows, local = setup
    with DaskExecutor(2) as executor:
        remote = search(entry, rows, config, executor=executor, show_progress=False)
    _same(local, remote)


def _dies_once(marker, **job):
    """A probe task whose first attempt kills its worker process outright."""
    if not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)
    return tasks.probe_task(**job)


def test_a_worker_dying_mid_sweep_changes_nothing(setup, tmp_path, monkeypatch):
    config, entry, rows, local = setup
    marker = str(tmp_path / "died")
    with DaskExecutor(2) as executor:
        original = executor.map

        def map_with_a_death(fn, jobs, **kw):
            if fn is tasks.probe_task:
                return original(_dies_once, [dict(job, marker=marker) for job in jobs], **kw)
            return original(fn, jobs, **kw)

        monkeypatch.setattr(executor, "map", map_with_a_death)
        remote = search(entry, rows, config, executor=executor, show_progress=False)
    assert os.path.exists(marker)
    _same(local, remote)
