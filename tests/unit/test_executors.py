"""One home for executors: both follow the :class:`~stc_gpu.executors.Executor` protocol, and
``executor_for`` picks in-process unless the config names Dask workers or a scheduler. The
in-process executor runs ``threads`` tasks at once, in the order of the jobs' results."""
from __future__ import annotations

import threading
import time

import pytest

from stc_gpu.config import STCConfig
from stc_gpu.executors import DaskExecutor, Executor, LocalExecutor, executor_for


def test_both_executors_follow_the_protocol():
    assert isinstance(LocalExecutor(), Executor)
    assert not isinstance(object(), Executor)
    assert all(callable(getattr(cls, "map")) and hasattr(cls, "etas_per_task")
               for cls in (LocalExecutor, DaskExecutor))
    assert (LocalExecutor.etas_per_task, DaskExecutor.etas_per_task) == (None, 1)


def test_executor_for_runs_in_process_without_workers():
    with executor_for(STCConfig(), "cpu") as executor:
        assert isinstance(executor, LocalExecutor) and executor.threads == 2
    with executor_for(STCConfig(fit_threads=1), "cpu") as executor:
        assert executor.threads == 1


def test_fit_threads_must_be_positive():
    with pytest.raises(ValueError, match="fit_threads"):
        STCConfig(fit_threads=0)
    with pytest.raises(ValueError, match="threads"):
        LocalExecutor(0)


def test_local_executor_runs_threads_tasks_at_once():
    barrier = threading.Barrier(2, timeout=10)  # breaks unless two tasks wait at the same time

    def job(n, on_fits):
        barrier.wait()
        return n

    assert LocalExecutor(2).map(job, [dict(n=1), dict(n=2)], show_progress=False) == [1, 2]
    running, seen = [], []

    def one_at_a_time(n, on_fits):
        running.append(n)
        seen.append(len(running))
        time.sleep(0.01)
        running.remove(n)
        return n

    assert LocalExecutor(1).map(one_at_a_time, [dict(n=k) for k in range(4)],
                                show_progress=False) == [0, 1, 2, 3]
    assert seen == [1, 1, 1, 1]


def test_local_executor_raises_the_first_error_and_cancels_what_did_not_start():
    started = []

    def job(n, on_fits):
        started.append(n)
        if n == 0:
            raise ValueError("bad slab")
        time.sleep(0.05)
        return n

    with pytest.raises(ValueError, match="bad slab"):
        LocalExecutor(2).map(job, [dict(n=k) for k in range(20)], show_progress=False)
    assert len(started) < 20


def test_local_executor_keeps_the_order_of_jobs():
    out = LocalExecutor().map(lambda n, on_fits: n * n, [dict(n=3), dict(n=1), dict(n=2)],
                              show_progress=False)
    assert out == [9, 1, 4]


def test_a_search_gives_the_same_results_with_one_or_two_threads(monkeypatch):
    import types

    import numpy as np

    from stc_gpu.stc import tasks
    from stc_gpu.stc.search import search
    from stc_gpu.stc.slabs import SplitRows

    rng = np.random.default_rng(0)
    rows, units = 80, 8
    y = np.arange(rows) % 2
    feats = {(pool, layer): (rng.standard_normal((rows, units))
                             + y[:, None] * (layer + 1) * (0.2 if pool == "mean" else 0.1)
                             ).astype(np.float32) for pool in ("mean", "max") for layer in range(3)}
    entry = types.SimpleNamespace(
        kinds=("hidden",), pools=("mean", "max"), path="unused", n_rows=rows, metadata={},
        layers=lambda kind: [0, 1, 2], units=lambda kind: units,
        features=lambda kind, pool, layer: feats[pool, layer])
    monkeypatch.setattr(tasks, "_open", lambda path: entry)
    split = SplitRows.from_labels(y, np.arange(0, 48), np.arange(48, 64), np.arange(64, 80))
    config = STCConfig(kinds=["hidden"], pools=["mean", "max"], C_grid=[0.1, 1.0],
                       eta_grid=[0.5, 0.9], device="cpu")
    one, two = (search(entry, split, config, executor=LocalExecutor(threads),
                       show_progress=False) for threads in (1, 2))
    assert one.probe_rows == two.probe_rows and one.agg_rows == two.agg_rows
    assert len(one.probe_rows) == 2 * 3 * 2 and len(one.agg_rows) == 2 * 3 * 2 * 2


def test_the_costliest_jobs_start_first_and_results_keep_the_jobs_order():
    from stc_gpu.executors.protocol import costliest_first

    assert costliest_first(4, [1.0, 5.0, 5.0, 2.0]) == [1, 2, 3, 0]  # ties: the jobs' order
    assert costliest_first(3, None) == [0, 1, 2]
    with pytest.raises(ValueError, match="work"):
        costliest_first(3, [1.0])
    started = []

    def job(n, on_fits):
        started.append(n)
        time.sleep(0.02)
        return n

    out = LocalExecutor(2).map(job, [dict(n=k) for k in range(5)], show_progress=False,
                               work=[1, 2, 9, 3, 8])
    assert out == [0, 1, 2, 3, 4]
    assert set(started[:2]) == {2, 4} and started[2:] == [3, 1, 0]


def test_a_search_without_an_executor_runs_the_configs_fit_threads(monkeypatch):
    import types

    import numpy as np

    from stc_gpu.stc import search as search_module
    from stc_gpu.stc import tasks
    from stc_gpu.stc.slabs import SplitRows

    threads = []

    class Recording(LocalExecutor):
        def __init__(self, n):
            threads.append(n)
            super().__init__(n)

    monkeypatch.setattr(search_module, "LocalExecutor", Recording)
    rng = np.random.default_rng(0)
    y = np.arange(40) % 2
    feats = rng.standard_normal((40, 4)).astype(np.float32) + y[:, None]
    entry = types.SimpleNamespace(
        kinds=("hidden",), pools=("mean",), path="unused", n_rows=40, metadata={},
        layers=lambda kind: [0], units=lambda kind: 4,
        features=lambda kind, pool, layer: feats)
    monkeypatch.setattr(tasks, "_open", lambda path: entry)
    split = SplitRows.from_labels(y, np.arange(0, 24), np.arange(24, 32), np.arange(32, 40))
    config = STCConfig(kinds=["hidden"], pools=["mean"], C_grid=[1.0], eta_grid=[0.9],
                       device="cpu", fit_threads=1)
    search_module.search(entry, split, config, show_progress=False)
    assert threads == [1]
