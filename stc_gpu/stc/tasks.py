"""The independent fits of a search, as tasks that open their slabs from the store themselves.

A task gets the entry's *path* (never feature arrays), so the same function runs in-process or on a
Dask worker; both read the same Zarr chunks and give identical results. Tasks:

- :func:`probe_task`: the probes of one (kind, pool) for all its layers over the C grid.
- :func:`aggregate_task`: the aggregated classifiers of one (kind or kinds, pool) for some η.

Both fit every task of ``label_rows`` (one for a single-label task, one per label of a
multi-label task) on the slabs they read once, and return one sweep per task.
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Callable, Sequence

from tqdm.auto import tqdm

from stc_gpu.config import STCConfig
from stc_gpu.stc.aggregate import AggSweep, aggregate_labels
from stc_gpu.stc.fit_options import FitOptions
from stc_gpu.stc.probing import ProbeSweep, probe_labels


def _open(entry_path: str):
    from stc_gpu.store.feature_store import StoreEntry

    return StoreEntry.open(entry_path)


def _limit_threads(threads: int | None) -> None:
    if threads:
        import torch

        torch.set_num_threads(threads)


def probe_task(entry_path: str, kind: str, pool: str, layers, label_rows, Cs,
               options: FitOptions, *, threads=None, on_fits=None) -> list[ProbeSweep]:
    """:func:`stc_gpu.stc.probing.probe_labels` on the entry at ``entry_path``."""
    _limit_threads(threads)
    return probe_labels(_open(entry_path), kind, pool, layers, label_rows, Cs, options,
                        on_fits=on_fits)


def aggregate_task(entry_path: str, name: str, pool: str, layers, label_coefs, label_rows, etas,
                   Cs, options: FitOptions, *, threads=None, on_fits=None) -> list[AggSweep]:
    """:func:`stc_gpu.stc.aggregate.aggregate_labels` on the entry at ``entry_path``."""
    _limit_threads(threads)
    return aggregate_labels(_open(entry_path), name, pool, layers, label_coefs, label_rows, etas,
                            Cs, options, on_fits=on_fits)


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
        fits = list(fits) if fits is not None else [1] * len(jobs)
        results = []
        with tqdm(total=sum(fits), desc=desc, unit="fit", disable=not show_progress) as bar:
            for job, n_fits in zip(jobs, fits):
                target = bar.n + n_fits
                results.append(fn(**job, on_fits=bar.update))
                if bar.n < target:  # fits a task skipped (no features) still count as done
                    bar.update(target - bar.n)
        return results


def entry_path_of(entry) -> str:
    return str(Path(entry.path).resolve())


@contextlib.contextmanager
def executor_for(config: STCConfig, device: str):
    """A Dask executor when ``workers`` or ``scheduler`` is set, else None (in-process); its
    workers get GPUs when the fits run on CUDA (``device``, from
    :func:`~stc_gpu.stc.fit_options.fit_device`)."""
    if not (config.workers or config.scheduler):
        yield None
        return
    from stc_gpu.distributed.dask_executor import DaskExecutor

    gpu = device.startswith("cuda")
    with DaskExecutor(config.workers, scheduler=config.scheduler, gpu=gpu) as executor:
        yield executor
