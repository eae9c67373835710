"""Run a search's independent fits on a Dask cluster (dask.distributed; dask-cuda on GPU hosts).

Each task receives the store entry's path and reads its own Zarr slabs on the worker; no feature
array travels through the scheduler. A worker that dies mid-sweep has its tasks re-run elsewhere
(Dask recomputes tasks lost with a worker) and a task that raises is retried ``retries`` times, so
results are unchanged.
"""
from __future__ import annotations

from typing import Callable, Sequence

from tqdm.auto import tqdm

from stc_gpu.executors.protocol import costliest_first, fit_counts


class DaskExecutor:
    """Map tasks over a Dask cluster: a new local one (``n_workers``) or an existing ``scheduler``.

    Parameters
    ----------
    n_workers : start a ``LocalCluster`` (or ``LocalCUDACluster`` when ``gpu`` and dask-cuda is
        installed: one worker per GPU) with this many single-threaded worker processes.
    scheduler : address of a running scheduler (``tcp://host:8786``); overrides ``n_workers``.
    threads_per_task : torch threads each task may use (default: the worker's thread count).
    retries : how often a task that raised is re-run before the search fails.
    """

    #: One η per aggregation task: the finest independent unit the paper defines.
    etas_per_task = 1

    def __init__(self, n_workers: int | None = None, *, scheduler: str | None = None,
                 gpu: bool = False, threads_per_task: int | None = 1, retries: int = 2):
        try:
            from distributed import Client, LocalCluster
        except ImportError:  # pragma: no cover - dask is a dev/distributed extra
            raise ImportError("Dask is not installed: pip install 'stc-gpu[distributed]'") from None
        if scheduler is None and not n_workers:
            raise ValueError("give n_workers (a local cluster) or a scheduler address")
        self._cluster = None
        if scheduler is not None:
            self.client = Client(scheduler)
        else:
            if gpu:
                try:
                    from dask_cuda import LocalCUDACluster
                except ImportError:
                    raise ImportError("a GPU cluster needs dask-cuda: pip install dask-cuda") from None
                self._cluster = LocalCUDACluster(n_workers=n_workers)
            else:
                self._cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1,
                                             processes=True, dashboard_address=None)
            self.client = Client(self._cluster)
        self.threads_per_task = threads_per_task
        self.retries = retries

    def map(self, fn: Callable, jobs: Sequence[dict], *, desc: str = "",
            show_progress: bool = True, fits: Sequence[int] | None = None,
            work: Sequence[float] | None = None) -> list:
        """``[fn(**job) for job in jobs]`` computed on the cluster, in the order of ``jobs``.

        The progress bar counts fits (``fits[i]`` for job i), advanced as each task completes;
        the costliest jobs (``work``) get the highest scheduler priority.
        """
        from distributed import as_completed

        fits = fit_counts(jobs, fits)
        priority = {i: len(jobs) - rank
                    for rank, i in enumerate(costliest_first(len(jobs), work))}
        futures = [self.client.submit(fn, **job, threads=self.threads_per_task,
                                      retries=self.retries, pure=False, priority=priority[i])
                   for i, job in enumerate(jobs)]
        weight = {future.key: n for future, n in zip(futures, fits)}
        with tqdm(total=sum(fits), desc=f"{desc} (dask)", unit="fit",
                  disable=not show_progress) as bar:
            for future in as_completed(futures):
                bar.update(weight[future.key])
        return self.client.gather(futures)

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()

    def __enter__(self) -> "DaskExecutor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
