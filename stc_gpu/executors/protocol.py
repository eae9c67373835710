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
            show_progress: bool = True, fits: Sequence[int] | None = None) -> list:
        """``[fn(**job) for job in jobs]`` in the order of ``jobs``, with one progress bar over
        the fits (``fits[i]`` for job i, default 1)."""


def fit_counts(jobs: Sequence[dict], fits: Sequence[int] | None) -> list[int]:
    """Fits per job, one each when not given."""
    return list(fits) if fits is not None else [1] * len(jobs)
