"""Benchmark: the probe sweep of one layer group, batched torch solver vs scikit-learn.

One GPT-2-small-sized layer group by default: 12 layers x 3,072 FFN units x 20,000 rows, 5 alphas,
synthetic activations (shared latent factors -> correlated, GELU-shaped units, a few huge-variance
units), binary labels from the latents. The torch backend fits all layers x alphas in one batched
path; liblinear (and saga) fit one (layer, alpha) at a time on the same standardised data. sklearn
can be timed on the first ``--sklearn-layers`` / ``--saga-layers`` layers only; its per-layer time
is then extrapolated to all layers (the table says so). Objectives are our convention
(:mod:`stc_gpu.probe.objective`), evaluated in float64 on the same standardised rows.

    python benchmarks/bench_probe.py --quick
    python benchmarks/bench_probe.py --device cuda          # on a GPU machine (cuML beside it)
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from stc_gpu.probe import fit_path, l1_objective
from stc_gpu.probe.cuml_backend import cuml_available
from stc_gpu.probe.standardize import fit_scaler

DEFAULT_FRACTIONS = (0.5, 0.3, 0.2, 0.1, 0.05)


def make_layers(layers: int, units: int, rows: int, seed: int = 0):
    """X (layers, rows, units) float32 and y (rows,): GELU(latents @ loadings + noise)."""
    rng = np.random.default_rng(seed)
    factors = rng.standard_normal((rows, 48)).astype(np.float32)
    y = (factors[:, :6] @ rng.standard_normal(6) + rng.standard_normal(rows) > 0).astype(np.int64)
    X = np.empty((layers, rows, units), dtype=np.float32)
    for layer in range(layers):
        loadings = rng.standard_normal((48, units)).astype(np.float32) / np.sqrt(48)
        pre = factors @ loadings + rng.standard_normal((rows, units), dtype=np.float32)
        X[layer] = torch.nn.functional.gelu(torch.from_numpy(pre)).numpy()
        X[layer, :, :4] *= 300.0  # a few huge-variance units
    return X, y


def alpha_max(X: np.ndarray, y: np.ndarray) -> float:
    """Largest alpha with a non-zero weight in any layer (standardised, intercept-only start)."""
    mean, scale = fit_scaler(torch.from_numpy(X))
    residual = (y - y.mean()) / len(y)
    top = 0.0
    for layer in range(X.shape[0]):
        grad = residual @ X[layer] / scale[layer].numpy()  # centring cancels: sum(residual) = 0
        top = max(top, float(np.abs(grad).max()))
    return top


def _standardized(X_layer: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return (X_layer.astype(np.float64) - mean) / scale


def run_sklearn(solver, X, y, alphas, layers, mean, scale, max_iter, tol):
    """Per-(layer, alpha) fits: seconds per layer, objectives and nnz (layers, A)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    from stc_gpu.probe.objective import sklearn_C_from_alpha
    from stc_gpu.probe.sklearn_backend import INTERCEPT_SCALING, _l1_kwargs

    objective = np.zeros((layers, len(alphas)))
    nnz = np.zeros((layers, len(alphas)), dtype=int)
    start = time.perf_counter()
    for layer in range(layers):
        Z = _standardized(X[layer], mean[layer], scale[layer])
        for a, alpha in enumerate(alphas):
            model = LogisticRegression(
                C=sklearn_C_from_alpha(alpha, len(y)), solver=solver, tol=tol, max_iter=max_iter,
                intercept_scaling=INTERCEPT_SCALING, **_l1_kwargs(),
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(Z, y)
            objective[layer, a] = l1_objective(Z, y, model.coef_, model.intercept_, alpha)
            nnz[layer, a] = int((model.coef_ != 0).sum())
    return (time.perf_counter() - start) / layers, objective, nnz


def run_ours(backend, X, y, alphas, device, mean, scale):
    """One batched path over all layers: seconds, objectives / nnz (layers, A)."""
    if device is not None and device.startswith("cuda"):
        data = torch.from_numpy(X).to(device)
        torch.cuda.synchronize()
    else:
        data = X
    if backend == "cuml":
        import cupy as cp

        data = cp.from_dlpack(data)
    start = time.perf_counter()
    result = fit_path(data, y, alphas, backend=backend, device=device, max_iter=100, tol=1e-6)
    seconds = time.perf_counter() - start
    objective = np.zeros((X.shape[0], len(alphas)))
    for layer in range(X.shape[0]):  # re-evaluated in float64 like sklearn's
        Z = _standardized(X[layer], mean[layer], scale[layer])
        for a, alpha in enumerate(alphas):
            objective[layer, a] = l1_objective(
                Z, y, result.coef[layer, a], result.intercept[layer, a], alpha)
    nnz = (result.coef != 0).sum(axis=(2, 3))
    return seconds, objective, nnz, result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--units", type=int, default=3072)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--alphas", type=str, default=None,
                        help="comma-separated alphas; default: fractions "
                             f"{DEFAULT_FRACTIONS} of alpha_max (sparse probes)")
    parser.add_argument("--quick", action="store_true", help="2 layers x 768 units x 4,000 rows")
    parser.add_argument("--device", default="cpu", help="torch device for our solver")
    parser.add_argument("--sklearn-layers", type=int, default=2,
                        help="layers timed with liblinear (extrapolated per layer); 0 skips")
    parser.add_argument("--saga-layers", type=int, default=1,
                        help="layers timed with saga (extrapolated per layer); 0 skips")
    parser.add_argument("--saga-max-iter", type=int, default=200)
    parser.add_argument("--out", type=Path, default=None,
                        help="the full report (objectives per fit) here; default "
                             "benchmarks/bench_probe.json unless --json is given")
    parser.add_argument("--json", type=Path, default=None,
                        help="a summary in the benchmarks convention (what python -m benchmarks "
                             "reads)")
    args = parser.parse_args(argv)
    if args.quick:
        args.layers, args.units, args.rows = 2, 768, 4000

    t0 = time.perf_counter()
    X, y = make_layers(args.layers, args.units, args.rows)
    print(f"data: {args.layers} layers x {args.units} units x {args.rows} rows "
          f"({X.nbytes / 2**30:.2f} GiB float32), made in {time.perf_counter() - t0:.1f} s")
    mean, scale = (t.numpy() for t in fit_scaler(torch.from_numpy(X)))
    if args.alphas:
        alphas = [float(a) for a in args.alphas.split(",")]
    else:
        top = alpha_max(X, y)
        alphas = [top * f for f in DEFAULT_FRACTIONS]
    print("alphas:", ", ".join(f"{a:.3g}" for a in alphas),
          f"(sklearn C = {', '.join(f'{1 / (a * args.rows):.3g}' for a in alphas)})")

    rows = []
    seconds, objective, nnz, result = run_ours("torch", X, y, alphas, args.device, mean, scale)
    rows.append(dict(method=f"torch ({args.device}, batched)", layers_timed=args.layers,
                     seconds_all=seconds, objective=objective, nnz=nnz,
                     newton_steps=result.n_iter.tolist()))
    if args.device.startswith("cuda") and cuml_available():
        seconds, objective, nnz, _ = run_ours("cuml", X, y, alphas, args.device, mean, scale)
        rows.append(dict(method="cuml (per fit)", layers_timed=args.layers, seconds_all=seconds,
                         objective=objective, nnz=nnz))
    for solver, layers, max_iter, tol in (
        ("liblinear", args.sklearn_layers, 1000, 1e-4),
        ("saga", args.saga_layers, args.saga_max_iter, 1e-4),
    ):
        layers = min(layers, args.layers)
        if layers <= 0:
            continue
        per_layer, objective, nnz = run_sklearn(solver, X, y, alphas, layers, mean, scale,
                                                max_iter, tol)
        rows.append(dict(method=f"sklearn {solver}", layers_timed=layers,
                         seconds_all=per_layer * args.layers, objective=objective, nnz=nnz))

    ours = rows[0]
    print(f"\n{'method':<26}{'layers timed':>13}{'s (all layers)':>16}{'speed-up':>10}"
          f"{'rel. objective gap vs ours':>28}{'mean nnz':>10}")
    for row in rows:
        k = row["layers_timed"]
        gap = (row["objective"][:k] - ours["objective"][:k]) / ours["objective"][:k]
        row["rel_objective_gap_vs_torch_max"] = float(gap.max())
        row["rel_objective_gap_vs_torch_min"] = float(gap.min())
        row["speedup_of_torch"] = row["seconds_all"] / ours["seconds_all"]
        extrapolated = "*" if k < args.layers else ""
        print(f"{row['method']:<26}{k:>13}{row['seconds_all']:>15.1f}{extrapolated:1}"
              f"{row['speedup_of_torch']:>9.1f}x"
              f"{gap.min():>+14.2e} .. {gap.max():>+10.2e}{row['nnz'][:k].mean():>10.1f}")
    if any(row["layers_timed"] < args.layers for row in rows):
        print("* sklearn timed on the first layers only; per-layer time x all layers "
              "(extrapolated)")
    if args.json is not None:
        _write_summary(args.json, rows, args)
    if args.out is None and args.json is not None:
        return
    args.out = args.out or Path("benchmarks/bench_probe.json")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = dict(
        sizes=dict(layers=args.layers, units=args.units, rows=args.rows), alphas=alphas,
        device=args.device, torch_threads=torch.get_num_threads(), machine=platform.processor()
        or platform.machine(), torch=torch.__version__,
        results=[{k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in row.items()}
                 for row in rows],
    )
    args.out.write_text(json.dumps(report, indent=1))
    print(f"wrote {args.out}")


def _write_summary(path: Path, rows: list[dict], args) -> None:
    """The rows as the :mod:`benchmarks` convention (scalars only) at ``path``."""
    summary = [{"method": row["method"], "layers_timed": row["layers_timed"],
                "seconds_all": round(row["seconds_all"], 2),
                "speedup_of_torch": round(row["speedup_of_torch"], 2),
                "rel_objective_gap_max": float(f"{row['rel_objective_gap_vs_torch_max']:.3g}"),
                "mean_nnz": round(float(np.mean(row["nnz"][:row["layers_timed"]])), 1)}
               for row in rows]
    notes = [f"{args.layers} layers x {args.units} units x {args.rows} rows, synthetic "
             f"activations, {torch.get_num_threads()} torch threads, device {args.device}",
             "sklearn timed on the first layers_timed layers; seconds_all extrapolates per layer"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"name": "probe", "title": __doc__.splitlines()[0],
                                "rows": summary, "notes": notes}, indent=2) + "\n")


if __name__ == "__main__":
    main()
