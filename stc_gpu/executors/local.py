"""The in-process executor: a search's tasks in this process, a few at a time (the default)."""
from __future__ import annotations

import concurrent.futures
import threading
from typing import Callable, Sequence

from tqdm.auto import tqdm

from stc_gpu.executors.protocol import costliest_first, fit_counts
from stc_gpu.vocabulary import DEFAULT_FIT_THREADS


class LocalExecutor:
    """Runs tasks in this process, up to ``threads`` at once (in threads; 1: one after the
    other). The tasks are independent, so the results and their order do not depend on
    ``threads``; the memory of the fits grows with it (each task holds its own slabs)."""

    #: η values per aggregation task: all of them, so each layer slab is read once.
    etas_per_task: int | None = None

    def __init__(self, threads: int = DEFAULT_FIT_THREADS):
        if int(threads) < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        self.threads = int(threads)

    def map(self, fn: Callable, jobs: Sequence[dict], *, desc: str = "",
            show_progress: bool = True, fits: Sequence[int] | None = None,
            work: Sequence[float] | None = None) -> list:
        """``[fn(**job, on_fits=...) for job in jobs]`` with one progress bar over the fits.

        ``fits[i]`` is how many fits job i runs; the tasks advance the bar as their solver
        finishes fits (``on_fits``), so it moves with the work and shows fits/s. ``work[i]``:
        job i's relative cost, the costliest start first. The first error of a task is raised
        once the running tasks end; tasks not started are cancelled.
        """
        fits = fit_counts(jobs, fits)
        lock = threading.Lock()
        with tqdm(total=sum(fits), desc=desc, unit="fit", disable=not show_progress) as bar:

            def advance(count: int) -> None:
                with lock:
                    bar.update(count)

            def run(job: dict, n_fits: int):
                done = 0

                def on_fits(count: int) -> None:
                    nonlocal done
                    done += count
                    advance(count)

                result = fn(**job, on_fits=on_fits)
                if done < n_fits:  # fits a task skipped (no features) still count as done
                    advance(n_fits - done)
                return result

            if self.threads == 1 or len(jobs) <= 1:
                return [run(job, n_fits) for job, n_fits in zip(jobs, fits)]
            pool = concurrent.futures.ThreadPoolExecutor(min(self.threads, len(jobs)),
                                                         thread_name_prefix="stc-task")
            futures = {i: pool.submit(run, jobs[i], fits[i])
                       for i in costliest_first(len(jobs), work)}
            try:
                return [futures[i].result() for i in range(len(jobs))]
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
