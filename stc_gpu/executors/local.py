"""The in-process executor: tasks one after the other (the default)."""
from __future__ import annotations

from typing import Callable, Sequence

from tqdm.auto import tqdm

from stc_gpu.executors.protocol import fit_counts


class LocalExecutor:
    """Runs tasks one after the other in this process (the default)."""

    #: η values per aggregation task: all of them, so each layer slab is read once.
    etas_per_task: int | None = None

    def map(self, fn: Callable, jobs: Sequence[dict], *, desc: str = "",
            show_progress: bool = True, fits: Sequence[int] | None = None) -> list:
        """``[fn(**job, on_fits=...) for job in jobs]`` with one progress bar over the fits.

        ``fits[i]`` is how many fits job i runs; the tasks advance the bar as their solver
        finishes fits (``on_fits``), so it moves with the work and shows fits/s.
        """
        fits = fit_counts(jobs, fits)
        results = []
        with tqdm(total=sum(fits), desc=desc, unit="fit", disable=not show_progress) as bar:
            for job, n_fits in zip(jobs, fits):
                target = bar.n + n_fits
                results.append(fn(**job, on_fits=bar.update))
                if bar.n < target:  # fits a task skipped (no features) still count as done
                    bar.update(target - bar.n)
        return results
