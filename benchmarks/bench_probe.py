"""Benchmark: the probe sweeps of the fit engine, batched torch solver vs scikit-learn.

Problem sets, each a group of layers sharing labels (what the pipeline fits in one call):

* **binary, synthetic**: one GPT-2-small-sized layer group, 12 layers x 3,072 FFN units x 20,000
  rows, 5 alphas (fractions of alpha_max: sparse probes); synthetic activations (shared latent
  factors -> correlated, GELU-shaped units, a few huge-variance units), labels from the latents;
* **multiclass, synthetic**: K = 3, 8 and 20 classes from the same generator, 6 layers x 1,536
  units x 3,000 rows (20 Newsgroups' shape with all-MiniLM-L6-v2's FFN), alphas likewise;
* **the demo store** (the pipeline's real shapes): 3,000 RT snippets through all-MiniLM-L6-v2,
  the pipeline's own split (1,920 training rows) and one sweep per (kind, pool), e.g. ffn/max
  (6 layers x 1,536 units) and hidden/mean (7 x 384), over the paper's C grid
  {0.1, 0.2, 1, 10, 100} converted with :func:`stc_gpu.probe.alpha_from_sklearn_C`.

For every set, side by side: the torch backend fits all layers x alphas in one batched
``fit_path`` call, at the pipeline's own settings (``max_iter=30, tol=1e-4``, validation rows
scored at every step) and at converged settings (``max_iter=100, tol=1e-6``); liblinear (binary)
and saga (binary, and multinomial for K > 2) fit the same standardised problems one (layer, alpha)
at a time. sklearn can be timed on the first ``--sklearn-layers`` / ``--saga-layers`` layers only;
its per-layer time is then extrapolated to all layers (the rows say so). When ``fit_path`` takes
``multiclass=``, K > 2 is fitted both ``"multinomial"`` (against saga) and ``"ovr"`` (against
liblinear, one binary fit per class). Objectives are our convention
(:mod:`stc_gpu.probe.objective`), evaluated in float64 on the same standardised rows, for the
final iterate (``result.coef``, not the validation checkpoint ``best_coef``); the objective gap is
ours minus sklearn's (negative: ours is lower).

    python -m benchmarks.bench_probe --quick
    python -m benchmarks.bench_probe --device cuda          # on a GPU machine (cuML beside it)
    python -m benchmarks.bench_probe --sets demo --store /tmp/demo_store

The problem sets are built in :mod:`benchmarks.probe_problems`, the fits timed and compared in
:mod:`benchmarks.probe_fits`.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks import check_result, markdown_table
from benchmarks.probe_fits import compare, supports_multiclass
from benchmarks.probe_problems import (BUILD_STORE, DEFAULT_FRACTIONS, DEMO_STORES, Problem,
                                       demo_entry, demo_problems, synthetic_problem)

SETS = ("binary", "multiclass", "demo")
FULL = dict(binary=(12, 3072, 20_000), multiclass=(6, 1536, 3000), classes=(3, 8, 20),
            demo_sweeps=None)  # None: every (kind, pool) in the store
QUICK = dict(binary=(2, 512, 2000), multiclass=(1, 64, 600), classes=(3, 20),
             demo_sweeps=("hidden/mean",))


def build_problems(sets, *, binary, multiclass, classes, demo_sweeps, alphas=None,
                   store=None, device="cpu", notes=None):
    """The problem sets named in ``sets`` (see :data:`SETS`), in that order."""
    notes = [] if notes is None else notes
    problems = []
    if "binary" in sets:
        problems.append(synthetic_problem("synthetic binary", *binary, alphas=alphas))
    if "multiclass" in sets:
        for K in classes:
            problems.append(synthetic_problem(f"synthetic K={K}", *multiclass, n_classes=K))
    if "demo" in sets:
        try:
            entry, note = demo_entry(store, device=device)
        except Exception as err:  # no model / no store: the other sets still run
            notes.append(f"demo store rows skipped: {type(err).__name__}: {err}")
        else:
            notes.append(note)
            problems += demo_problems(entry, demo_sweeps)
    return problems


def benchmark(quick: bool, device: str, *, sets=SETS, sizes: dict | None = None,
              store: str | None = None, sklearn_layers: int | None = None,
              saga_layers: int = 1, saga_max_iter: int = 200, alphas=None,
              problems: list[Problem] | None = None) -> tuple[dict, list[dict]]:
    """``(summary, records)``: the benchmarks-convention result and the detailed records."""
    sizes = {**(QUICK if quick else FULL), **(sizes or {})}
    sklearn_layers = (1 if quick else 2) if sklearn_layers is None else sklearn_layers
    notes = []
    start = time.perf_counter()
    if problems is None:
        problems = build_problems(sets, binary=sizes["binary"], multiclass=sizes["multiclass"],
                                  classes=sizes["classes"], demo_sweeps=sizes["demo_sweeps"],
                                  alphas=alphas, store=store, device=device, notes=notes)
    records = []
    for problem in problems:
        t0 = time.perf_counter()
        records.append(compare(problem, device, sklearn_layers=sklearn_layers,
                               saga_layers=saga_layers, saga_max_iter=saga_max_iter))
        print(f"{problem.name} ({problem.shape}, K={problem.n_classes}): "
              f"{time.perf_counter() - t0:.1f} s", flush=True)
    rows = [row for record in records for row in record["rows"]]
    notes += [
        f"device {device}, {torch.get_num_threads()} torch threads; shape = layers x units x "
        "training rows; multiclass mode "
        + ("multinomial and ovr (fit_path takes multiclass=)" if supports_multiclass()
           else "multinomial (this fit_path has no multiclass= keyword)"),
        "torch: every layer x alpha in one fit_path call; pipeline = its settings (max_iter 30, "
        "tol 1e-4, validation rows scored each step), converged = max_iter 100, tol 1e-6; "
        "converged: share of fits the solver reports converged",
        "sklearn fits one (layer, alpha) at a time on the same standardised rows; ref_s "
        "extrapolates its per-layer time to all layers when ref_layers says so; ratio = "
        "ref_s / torch_s",
        "gap = our objective minus sklearn's (float64, same rows, final iterate), max and min "
        "over the timed layers x alphas; ovr: the sum of the K binary objectives",
        f"wall time of the whole benchmark {time.perf_counter() - start:.0f} s",
    ]
    summary = {"name": "probe", "title": __doc__.splitlines()[0], "rows": rows, "notes": notes}
    return summary, records


def run(quick: bool, device: str, **kwargs) -> dict:
    """The benchmarks-convention result (see :func:`benchmark` for ``kwargs``)."""
    return benchmark(quick, device, **kwargs)[0]


def _plain(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=None, help="binary synthetic set (12)")
    parser.add_argument("--units", type=int, default=None, help="binary synthetic set (3,072)")
    parser.add_argument("--rows", type=int, default=None,
                        help="binary synthetic set, training rows (20,000)")
    parser.add_argument("--alphas", type=str, default=None,
                        help="comma-separated alphas of the binary synthetic set; default: "
                             f"fractions {DEFAULT_FRACTIONS} of alpha_max (sparse probes)")
    parser.add_argument("--classes", type=str, default=None,
                        help="comma-separated K of the multiclass sets (3,8,20)")
    parser.add_argument("--mc-shape", type=str, default=None,
                        help="LAYERSxUNITSxROWS of the multiclass sets (6x1536x3000)")
    parser.add_argument("--sets", type=str, default=",".join(SETS),
                        help=f"comma-separated problem sets out of {', '.join(SETS)}")
    parser.add_argument("--demo-sweeps", type=str, default=None,
                        help="comma-separated kind/pool sweeps of the demo store (default all; "
                             "quick: hidden/mean)")
    parser.add_argument("--store", type=str, default=None,
                        help=f"a feature store holding the demo entry (default: look in "
                             f"{', '.join(DEMO_STORES)}, else extract into {BUILD_STORE})")
    parser.add_argument("--quick", action="store_true",
                        help="small synthetic sizes, demo hidden/mean only (about a minute)")
    parser.add_argument("--device", default="cpu", help="torch device for our solver")
    parser.add_argument("--sklearn-layers", type=int, default=None,
                        help="layers timed with liblinear (extrapolated per layer); 0 skips "
                             "(default 2, quick 1)")
    parser.add_argument("--saga-layers", type=int, default=1,
                        help="layers timed with saga (extrapolated per layer); 0 skips")
    parser.add_argument("--saga-max-iter", type=int, default=200)
    parser.add_argument("--out", type=Path, default=None,
                        help="the full report (objectives per fit) here; default "
                             "benchmarks/bench_probe.json for full runs without --json "
                             "(never written by --quick unless given)")
    parser.add_argument("--json", type=Path, default=None,
                        help="a summary in the benchmarks convention (what python -m benchmarks "
                             "reads)")
    args = parser.parse_args(argv)

    base = QUICK if args.quick else FULL
    sizes = {}
    if any(v is not None for v in (args.layers, args.units, args.rows)):
        sizes["binary"] = tuple(v if v is not None else d for v, d in
                                zip((args.layers, args.units, args.rows), base["binary"]))
    if args.mc_shape:
        sizes["multiclass"] = tuple(int(v) for v in args.mc_shape.lower().split("x"))
    if args.classes is not None:
        sizes["classes"] = tuple(int(k) for k in args.classes.split(",") if k)
    if args.demo_sweeps is not None:
        sizes["demo_sweeps"] = tuple(s for s in args.demo_sweeps.split(",") if s)
    sets = [s for s in args.sets.split(",") if s]
    unknown = sorted(set(sets) - set(SETS))
    if unknown:
        parser.error(f"unknown set(s) {', '.join(unknown)}; choose from {', '.join(SETS)}")
    alphas = [float(a) for a in args.alphas.split(",")] if args.alphas else None

    summary, records = benchmark(
        args.quick, args.device, sets=sets, sizes=sizes, store=args.store,
        sklearn_layers=args.sklearn_layers, saga_layers=args.saga_layers,
        saga_max_iter=args.saga_max_iter, alphas=alphas)
    check_result(summary)
    print(f"\n{summary['title']}\n\n{markdown_table(summary['rows'])}\n")
    for note in summary["notes"]:
        print(f"- {note}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    out = args.out
    if out is None and (args.json is not None or args.quick):
        return summary
    out = out or Path("benchmarks/bench_probe.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    report = dict(
        quick=args.quick, device=args.device, torch_threads=torch.get_num_threads(),
        machine=platform.processor() or platform.machine(), torch=torch.__version__,
        problems=[{k: _plain(v) for k, v in record.items() if k != "rows"}
                  for record in records],
        summary=summary,
    )
    out.write_text(json.dumps(report, indent=1, default=str))
    print(f"wrote {out}")
    return summary


if __name__ == "__main__":
    main()
