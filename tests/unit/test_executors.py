"""One home for executors: both follow the :class:`~stc_gpu.executors.Executor` protocol, and
``executor_for`` picks in-process unless the config names Dask workers or a scheduler."""
from __future__ import annotations

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
        assert executor is None


def test_local_executor_keeps_the_order_of_jobs():
    out = LocalExecutor().map(lambda n, on_fits: n * n, [dict(n=3), dict(n=1), dict(n=2)],
                              show_progress=False)
    assert out == [9, 1, 4]
