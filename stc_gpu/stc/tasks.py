"""The independent fits of a search, as tasks that open their slabs from the store themselves.

A task gets the entry's *path* (never feature arrays), so the same function runs in-process or on a
Dask worker; both read the same Zarr chunks and give identical results. Tasks:

- :func:`probe_task`: the probes of one (kind, pool) for all its layers over the C grid.
- :func:`aggregate_task`: the aggregated classifiers of one (kind or kinds, pool) for some η.

Both fit every task of ``label_rows`` (one for a single-label task, one per label of a
multi-label task) on the slabs they read once, and return one sweep per task.
"""
from __future__ import annotations

from pathlib import Path

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


def entry_path_of(entry) -> str:
    return str(Path(entry.path).resolve())
