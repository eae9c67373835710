"""What a search asks of an executor: map its independent tasks, count their fits on a bar."""
from __future__ import annotations

from typing import Callable, Protocol, Sequence, runtime_checkable


@runtime_checkable
class Executor(Protocol):
    """Runs the independent tasks of a search (:mod:`stc_gpu.stc.tasks`); results do not depend
    on the executor.

    Attributes
    ----------
    etas_per_task : η values per aggregation task; ``None`` puts all of them in one task.
    """

    etas_per_task: int | None

    def map(self, fn: Callable, jobs: Sequence[dict], *, desc: str = "",
            show_progress: bool = True, fits: Sequence[int] | None = None,
            work: Sequence[float] | None = None) -> list:
        """``[fn(**job) for job in jobs]`` in the order of ``jobs``, with one progress bar over
        the fits (``fits[i]`` for job i, default 1). ``work[i]``: job i's relative cost; the
        costliest jobs start first (:func:`costliest_first`), which shortens the stage when
        jobs run side by side."""


def fit_counts(jobs: Sequence[dict], fits: Sequence[int] | None) -> list[int]:
    """Fits per job, one each when not given."""
    return list(fits) if fits is not None else [1] * len(jobs)


def costliest_first(n_jobs: int, work: Sequence[float] | None) -> list[int]:
    """Job indices in the order to start them: decreasing ``work`` (ties and ``None``: the
    jobs' order), so that the long jobs do not end alone (LPT scheduling)."""
    if work is None:
        return list(range(n_jobs))
    if len(work) != n_jobs:
        raise ValueError(f"work has {len(work)} values for {n_jobs} jobs")
    return sorted(range(n_jobs), key=lambda i: -work[i])
