"""The validation search of one task: probe every (kind, pool, layer), sparsify, aggregate.

Every hyper-parameter (kind, pool, layer, C, η, L_temp) is chosen on the validation split; the
test split is not read here (:mod:`stc_gpu.stc.selection` scores it once, after the search).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from stc_gpu.config import STCConfig
from stc_gpu.stc.aggregate import AggCandidate, better_candidate, merge_best_by_depth, steps_for
from stc_gpu.stc.fit_options import FitOptions
from stc_gpu.stc.probing import LayerProbe
from stc_gpu.stc.slabs import SplitRows
from stc_gpu.executors.local import LocalExecutor
from stc_gpu.stc.tasks import aggregate_task, entry_path_of, probe_task


@dataclass
class SearchResult:
    """Everything the validation search produced for one task (no test scores yet)."""

    probe_rows: list[dict]
    agg_rows: list[dict]
    best_probe: LayerProbe
    best_agg: AggCandidate
    coefs: dict                # (kind, pool, layer) -> (K, units) weights of the chosen probe
    timings: dict
    #: the best aggregated candidate per ``(name, L_temp)`` over every pool, η and C
    agg_by_depth: dict = field(default_factory=dict)
    #: probes whose validation-chosen model has no non-zero weight ("kind.layer (pool)")
    no_signal: list = field(default_factory=list)


def search(entry, rows: SplitRows, config: STCConfig, *, executor=None,
           show_progress: bool = True, device: str | None = None) -> SearchResult:
    """Probe every (kind, pool, layer), sparsify, aggregate, and select on validation.

    ``executor`` runs the independent tasks (:class:`~stc_gpu.executors.LocalExecutor` by default,
    or :class:`~stc_gpu.executors.DaskExecutor`); results do not depend on it.
    ``device``: where every fit runs (default :func:`~stc_gpu.stc.fit_options.fit_device`).
    """
    return search_labels(entry, [rows], config, executor=executor, show_progress=show_progress,
                         device=device)[0]


def search_labels(entry, label_rows: list[SplitRows], config: STCConfig, *, executor=None,
                  show_progress: bool = True, device: str | None = None) -> list[SearchResult]:
    """:func:`search` for several tasks on the same rows (the labels of a multi-label task),
    one :class:`SearchResult` each: every slab is read once for all of them."""
    executor = executor or LocalExecutor(config.fit_threads)
    options = FitOptions.from_config(config, device)
    path = entry_path_of(entry)
    kinds = [k for k in config.kinds if k in entry.kinds]
    layers = {k: list(entry.layers(k)) for k in kinds}
    pools = [p for p in config.pools if p in entry.pools]
    n_tasks = len(label_rows)
    found = [SearchResult([], [], None, None, {}, {}) for _ in label_rows]

    t0 = time.perf_counter()
    probe_jobs = [dict(entry_path=path, kind=kind, pool=pool, layers=layers[kind],
                       label_rows=label_rows, Cs=config.C_grid, options=options)
                  for kind in kinds for pool in pools]
    probe_fits = [n_tasks * len(job["layers"]) * len(config.C_grid) for job in probe_jobs]
    # a job's cost grows with its fits and the width of its sites: the widest start first
    probe_work = [n * entry.units(job["kind"]) for n, job in zip(probe_fits, probe_jobs)]
    for job, sweeps in zip(probe_jobs, executor.map(probe_task, probe_jobs, desc="probes",
                                                    show_progress=show_progress,
                                                    fits=probe_fits, work=probe_work)):
        for res, sweep in zip(found, sweeps):
            res.probe_rows += sweep.rows
            res.no_signal += [f"{job['kind']}.{layer} ({job['pool']})"
                              for layer in sweep.no_signal]
            for layer, probe in sweep.chosen.items():
                res.coefs[job["kind"], job["pool"], layer] = probe.coef
                if res.best_probe is None or probe.val_score > res.best_probe.val_score:
                    res.best_probe = probe
    probes_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    names = list(kinds) + (["hidden+ffn"] if config.combine_kinds and len(kinds) == 2 else [])
    step = executor.etas_per_task or len(config.eta_grid)
    eta_groups = [config.eta_grid[i:i + step] for i in range(0, len(config.eta_grid), step)]
    agg_jobs = [dict(entry_path=path, name=name, pool=pool, layers=layers, label_rows=label_rows,
                     etas=etas, Cs=config.C_grid, options=options,
                     label_coefs=[{(k, l): res.coefs[k, pool, l] for k in kinds
                                   for l in layers[k]} for res in found])
                for name in names for pool in pools for etas in eta_groups]
    agg_fits = [n_tasks * len(steps_for(job["name"], layers)) * len(config.C_grid)
                * len(job["etas"]) for job in agg_jobs]
    agg_work = [n * sum(entry.units(kind) for kind in job["name"].split("+"))
                for n, job in zip(agg_fits, agg_jobs)]
    for sweeps in executor.map(aggregate_task, agg_jobs, desc="aggregation",
                               show_progress=show_progress, fits=agg_fits, work=agg_work):
        for res, sweep in zip(found, sweeps):
            res.agg_rows += sweep.rows
            merge_best_by_depth(res.agg_by_depth, sweep.best_by_depth, config.metric)
            if sweep.best is not None and better_candidate(sweep.best, res.best_agg,
                                                           config.metric):
                res.best_agg = sweep.best
    for res in found:
        res.timings.update(probes_s=probes_s, aggregation_s=time.perf_counter() - t0)
    return found
