"""Scale-out of the probe and aggregation sweep: in-process vs 1 vs 2 local Dask workers.

One store entry is extracted once; then :func:`stc_gpu.stc.search` (every probe and
aggregation fit, validation selection) runs three times on it, same rows and grids: with the
in-process executor (torch's default thread count), and on local Dask clusters of 1 and 2
single-threaded worker processes. ``search_s`` is the search alone; ``startup_s`` the cluster's
start. Each row says whether its validation rows, probe weights and selections are identical to the
in-process run's.

    python -m benchmarks.bench_scaleout_probe [--quick] [--device cuda] [--json PATH]
"""
from __future__ import annotations

import contextlib
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.stc_inputs import (QUICK_GRIDS, describe_grids, sample_rt_snippets,
                                   write_labelled_csv)
from stc_gpu.config import STCConfig
from stc_gpu.vocabulary import DEFAULT_MODEL



def _row_key(row: dict) -> tuple:
    return tuple(sorted(row.items()))


def same_search(a, b) -> bool:
    """Whether two :class:`~stc_gpu.stc.SearchResult` hold the same fits and choices.

    Validation rows (any order), per-layer probe weights (exactly) and the selected probe and
    aggregation (configuration and validation scores) are compared; timings are not.
    """
    if sorted(map(_row_key, a.probe_rows)) != sorted(map(_row_key, b.probe_rows)):
        return False
    if sorted(map(_row_key, a.agg_rows)) != sorted(map(_row_key, b.agg_rows)):
        return False
    if a.coefs.keys() != b.coefs.keys() or not all(
            np.array_equal(a.coefs[k], b.coefs[k]) for k in a.coefs):
        return False
    probe = ("kind", "pool", "layer", "C", "val_score")
    agg = ("name", "pool", "eta", "L_temp", "C", "val_acc", "val_f1", "blocks")
    return all(getattr(a.best_probe, f) == getattr(b.best_probe, f) for f in probe) and all(
        getattr(a.best_agg, f) == getattr(b.best_agg, f) for f in agg)


def _executor(n_workers: int | None):
    """None (in-process) or a local Dask cluster of ``n_workers`` single-threaded processes."""
    if n_workers is None:
        return contextlib.nullcontext()
    from stc_gpu.executors import DaskExecutor

    return DaskExecutor(n_workers, threads_per_task=1)


def run(quick: bool, device: str, *, model: str = DEFAULT_MODEL, corpus=None,
        grids: dict | None = None) -> dict:
    """Extract once, then search in-process and on 1 and 2 Dask workers; keywords override sizes."""
    from stc_gpu import pipeline
    from stc_gpu.stc.search import SearchResult, search
    from stc_gpu.stc.selection import split_rows

    texts, labels = corpus or sample_rt_snippets(400 if quick else 2000)
    grids = (QUICK_GRIDS if quick else {}) if grids is None else grids
    rows, results = [], {}
    with tempfile.TemporaryDirectory(prefix="stc_scaleout_probe_") as tmp:
        config = STCConfig(model=model, device=device, store=str(Path(tmp) / "store"),
                           data=str(write_labelled_csv(Path(tmp) / "data.csv", texts, labels)),
                           **grids)
        entry = pipeline.extract(config, show_progress=False)[0]
        _, split, _ = split_rows(labels, config)
        for label, n_workers in (("in-process", None), ("dask x1", 1), ("dask x2", 2)):
            start = time.perf_counter()
            with _executor(n_workers) as executor:
                startup_s = time.perf_counter() - start
                start = time.perf_counter()
                results[label] = search(entry, split, config, executor=executor,
                                                 show_progress=False)
                search_s = time.perf_counter() - start
            found = results[label]
            rows.append({"executor": label, "workers": n_workers or 0,
                         "startup_s": round(startup_s, 2), "search_s": round(search_s, 2),
                         "probes_s": round(found.timings["probes_s"], 2),
                         "aggregation_s": round(found.timings["aggregation_s"], 2),
                         "fits": len(found.probe_rows) + len(found.agg_rows),
                         "identical_to_in_process": same_search(found, results["in-process"])})
    one = rows[1]["search_s"]
    for row in rows:
        row["speedup_vs_dask_x1"] = round(one / row["search_s"], 3)
    notes = [f"{model} features of {len(texts)} RT snippets (train {len(split.train)}, "
             f"validation {len(split.val)}), device {device}",
             "in-process: one task per (kind, pool) and all eta at once, torch's default threads; "
             "Dask: one task per (kind, pool) probe sweep and per (kind, pool, eta), one thread per "
             "worker process, each task reading its own slabs from the store",
             describe_grids(grids)]
    return {"name": "scaleout_probe",
            "title": "Probe and aggregation sweep: in-process vs 1 vs 2 Dask workers",
            "rows": rows, "notes": notes}


def main(argv: list[str] | None = None) -> dict:
    from benchmarks import bench_main

    return bench_main(run, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    main()
