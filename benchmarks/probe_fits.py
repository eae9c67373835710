"""The fits :mod:`benchmarks.bench_probe` times on one problem: our batched ``fit_path`` at the
pipeline's and at converged settings, cuML beside it on CUDA, scikit-learn's liblinear and saga
one (layer, alpha) at a time; the objectives of all of them on the same standardised rows, and
the summary rows that compare each of ours with the references of its mode.
"""
from __future__ import annotations

import inspect
import time
import warnings

import numpy as np
import torch

from benchmarks.probe_problems import Problem
from stc_gpu.config import STCConfig
from stc_gpu.probe import fit_path, l1_objective
from stc_gpu.probe.cuml_backend import cuml_available
from stc_gpu.probe.standardize import fit_scaler

_PIPELINE = STCConfig()
#: (label, max_iter, tol, score the validation rows, patience): the pipeline's settings (its
#: defaults, with validation early stopping) and converged ones.
SETTINGS = (("pipeline", _PIPELINE.max_iter, _PIPELINE.tol, True, _PIPELINE.patience),
            ("converged", 100, 1e-6, False, None))


def _standardized(X_layer: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return (X_layer.astype(np.float64) - mean) / scale


def supports_multiclass() -> bool:
    """Whether ``fit_path`` takes ``multiclass=`` ("ovr" | "multinomial")."""
    return "multiclass" in inspect.signature(fit_path).parameters


def _objectives(Z_of, y, coef, intercept, alphas, layers, ovr=False):
    """(layers, A) objectives; ``ovr``: the sum of the K binary (class k vs rest) objectives."""
    objective = np.zeros((layers, len(alphas)))
    for layer in range(layers):
        Z = Z_of(layer)
        for a, alpha in enumerate(alphas):
            W, b = coef[layer, a], intercept[layer, a]
            if ovr:
                objective[layer, a] = sum(
                    l1_objective(Z, (y == k).astype(np.int64), W[k:k + 1], b[k:k + 1], alpha)
                    for k in range(W.shape[0]))
            else:  # binary, or one softmax
                objective[layer, a] = l1_objective(Z, y, W, b, alpha, multiclass="multinomial")
    return objective


def run_sklearn(solver, X, y, alphas, layers, mean, scale, max_iter, tol, ovr=False):
    """Per-(layer, alpha) fits: seconds per layer, objectives and nnz (layers, A).

    ``ovr``: one binary fit per class (class k vs rest), objectives and times summed.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    from stc_gpu.probe.objective import sklearn_C_from_alpha
    from stc_gpu.probe.sklearn_backend import INTERCEPT_SCALING, _l1_kwargs

    K = int(y.max()) + 1
    targets = [(y == k).astype(np.int64) for k in range(K)] if ovr else [y]
    objective = np.zeros((layers, len(alphas)))
    nnz = np.zeros((layers, len(alphas)), dtype=int)
    seconds = 0.0
    for layer in range(layers):
        Z = _standardized(X[layer], mean[layer], scale[layer])
        for a, alpha in enumerate(alphas):
            for target in targets:
                model = LogisticRegression(
                    C=sklearn_C_from_alpha(alpha, len(y)), solver=solver, tol=tol,
                    max_iter=max_iter, intercept_scaling=INTERCEPT_SCALING, **_l1_kwargs(),
                )
                start = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    model.fit(Z, target)
                seconds += time.perf_counter() - start
                objective[layer, a] += l1_objective(Z, target, model.coef_, model.intercept_,
                                                    alpha, multiclass="multinomial")
                nnz[layer, a] += int((model.coef_ != 0).sum())
    return seconds / max(layers, 1), objective, nnz


def run_ours(backend, X, y, alphas, device, mean, scale, *, max_iter=100, tol=1e-6,
             eval_set=None, multiclass=None, patience=None):
    """One batched path over all layers: seconds, objectives / nnz (layers, A), the result.

    Objectives are those of the final iterate (``result.coef``), re-evaluated in float64.
    """
    cuda = device is not None and device.startswith("cuda")
    data = torch.from_numpy(X).to(device) if cuda else X
    if eval_set is not None and cuda:
        eval_set = (torch.from_numpy(eval_set[0]).to(device), eval_set[1])
    if cuda:
        torch.cuda.synchronize()
    if backend == "cuml":
        import cupy as cp

        data = cp.from_dlpack(data)
    extra = {"multiclass": multiclass} if multiclass is not None else {}
    start = time.perf_counter()
    result = fit_path(data, y, alphas, backend=backend, device=device, max_iter=max_iter,
                      tol=tol, eval_set=eval_set, patience=patience if eval_set else None,
                      **extra)
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    del data
    objective = _objectives(lambda layer: _standardized(X[layer], mean[layer], scale[layer]), y,
                            result.coef, result.intercept, alphas, X.shape[0],
                            ovr=multiclass == "ovr")
    nnz = (result.coef != 0).sum(axis=(2, 3))
    return seconds, objective, nnz, result


def _settings_label(label: str, max_iter: int, tol: float, patience: int | None) -> str:
    extra = f", patience {patience}" if patience else ""
    return f"{label} ({max_iter}, {tol:g}{extra})"


def compare(problem: Problem, device: str, *, sklearn_layers: int = 2, saga_layers: int = 1,
            saga_max_iter: int = 200, with_cuml: bool | None = None) -> dict:
    """Fit ``problem`` with every method; the detailed record (arrays) and its summary rows."""
    X, y, alphas = problem.X, problem.y, problem.alphas
    P = X.shape[0]
    K = problem.n_classes
    mean, scale = (t.numpy() for t in fit_scaler(torch.from_numpy(X)))
    modes = [None]
    if K > 2 and supports_multiclass():
        modes = ["multinomial", "ovr"]
    methods = []
    for mode in modes:
        for label, max_iter, tol, scored, patience in SETTINGS:
            seconds, objective, nnz, result = run_ours(
                "torch", X, y, alphas, device, mean, scale, max_iter=max_iter, tol=tol,
                eval_set=(problem.X_val, problem.y_val) if scored else None, multiclass=mode,
                patience=patience)
            methods.append(dict(
                method=f"torch ({device}, batched)", mode=mode or ("multinomial" if K > 2
                                                                   else "binary"),
                settings=_settings_label(label, max_iter, tol, patience if scored else None),
                layers_timed=P, seconds_all=seconds,
                objective=objective, nnz=nnz, newton_steps=result.n_iter.tolist(),
                converged=float(np.mean(result.converged)), torch=True))
    use_cuml = device.startswith("cuda") and cuml_available() if with_cuml is None else with_cuml
    if use_cuml:
        seconds, objective, nnz, _ = run_ours("cuml", X, y, alphas, device, mean, scale)
        methods.append(dict(method="cuml (per fit)", mode="binary" if K == 2 else "multinomial",
                            settings="converged (100, 1e-06)", layers_timed=P,
                            seconds_all=seconds, objective=objective, nnz=nnz, torch=False))
    references = []
    if K == 2:
        references.append(("liblinear", sklearn_layers, 1000, False, "binary"))
    elif "ovr" in modes:
        references.append(("liblinear", sklearn_layers, 1000, True, "ovr"))
    references.append(("saga", saga_layers, saga_max_iter, False,
                       "binary" if K == 2 else "multinomial"))
    for solver, layers, max_iter, ovr, mode in references:
        layers = min(layers, P)
        if layers <= 0:
            continue
        per_layer, objective, nnz = run_sklearn(solver, X, y, alphas, layers, mean, scale,
                                                max_iter, 1e-4, ovr=ovr)
        methods.append(dict(method=f"sklearn {solver}" + (" (per class)" if ovr else ""),
                            mode=mode, settings=f"max_iter {max_iter}, tol 1e-4",
                            layers_timed=layers, seconds_all=per_layer * P,
                            objective=objective, nnz=nnz, torch=False))
    rows = summary_rows(problem, methods)
    return dict(name=problem.name, n_classes=K, sizes=dict(zip(("layers", "rows", "units"),
                                                               X.shape)),
                alphas=list(map(float, alphas)), alpha_note=problem.alpha_note,
                results=methods, rows=rows)


def summary_rows(problem: Problem, methods: list[dict]) -> list[dict]:
    """One row per (torch setting, reference of the same mode): time, ratio, objective gap."""
    P = problem.X.shape[0]
    rows = []
    for ours in (m for m in methods if m["torch"]):
        refs = [m for m in methods if not m["torch"] and m["mode"] == ours["mode"]]
        base = {"problem": problem.name, "K": problem.n_classes, "shape": problem.shape,
                "alphas": problem.alpha_note, "mode": ours["mode"],
                "torch": ours["settings"], "torch_s": round(ours["seconds_all"], 3),
                "converged": round(ours["converged"], 2)}
        if not refs:
            rows.append({**base, "reference": "(none timed)"})
        for ref in refs:
            k = ref["layers_timed"]
            gap = ours["objective"][:k] - ref["objective"][:k]
            rows.append({
                **base, "reference": ref["method"].replace("sklearn ", ""),
                "ref_layers": f"{k} of {P}" + (" (extrapolated)" if k < P else ""),
                "ref_s": round(ref["seconds_all"], 3),
                "ratio": round(ref["seconds_all"] / max(ours["seconds_all"], 1e-9), 3),
                "gap_max": float(f"{gap.max():.3g}"), "gap_min": float(f"{gap.min():.3g}"),
                "nnz_ours": round(float(ours["nnz"][:k].mean()), 1),
                "nnz_ref": round(float(ref["nnz"][:k].mean()), 1)})
    return rows
