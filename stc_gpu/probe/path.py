"""``fit_path``: L1-logistic probes for P problems sharing labels, over a path of A strengths.

Labels of several binary tasks on the same rows (the labels of a multi-label task, ``y`` (n, T))
are solved in the same batch: each problem once per task, reading one copy of its features.

Iterations as a hyper-parameter (``eval_set``): the paper picks each probe's number of training
iterations on the validation split. With ``eval_set`` the torch backend scores the validation rows
after every Newton step of an alpha with ``metric`` and keeps the best checkpoint per (problem,
alpha) in ``best_coef``, with the step (``best_iter``) and the objective (``best_objective``) that
really produced it; the warm start (the previous alpha's solution) is never a checkpoint of the next
alpha, and among equal scores the later, more converged step wins. The trade-off: an early
checkpoint acts as extra regularisation and can score better on validation, but it is not the
minimiser of the documented objective, and picking it on validation makes the validation score
optimistic; report a test score. The sklearn and cuml backends only score the final iterate
(``best_iter == n_iter``).
"""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from stc_gpu.probe import cuml_backend, sklearn_backend
from stc_gpu.probe.arrays import as_tensor, encode_labels, is_cupy, to_numpy
from stc_gpu.probe.objective import l1_objective, n_outputs
from stc_gpu.probe.standardize import (
    check_finite,
    fit_scaler,
    feature_major_copy,
    standardize_feature_major_,
    working_dtype,
)
from stc_gpu.probe.checkpoints import checkpoint_score
from stc_gpu.probe.torch_solver import PathArrays, solve_path, validate_alphas
from stc_gpu.vocabulary import BACKENDS, DEFAULT_MULTICLASS, METRICS, MULTICLASS_MODES

logger = logging.getLogger(__name__)


@dataclass(kw_only=True)
class PathResult(PathArrays):
    """Probes for P problems x A strengths (alphas in the given order).

    Attributes
    ----------
    coef : (P, A, K, d) weights in the standardised space (``K = 1`` for binary, else one row per
        class); lists of problems with different widths are zero-padded to the largest ``d``.
    intercept : (P, A, K); objective, n_iter, converged : (P, A).
    classes : (K_classes,) labels; alphas : (A,); n_features : (P,) true width of each problem.
    mean, scale : (P, d) the training-row scaler (None when ``standardize=False``).
    backend : the backend that ran; multiclass : "ovr" or "multinomial"; metric : the
        checkpoint metric.
    val_score (P, A) of the final iterate with an eval set, and best_val_score, best_iter,
        best_objective (P, A), best_coef, best_intercept at the best checkpoint, whose
        validation predictions are ``classes[best_val_pred]`` (P, A, n_val).

    ``L1LogisticRegression.from_path(result, p, a)`` is the fitted model of one (problem, alpha).
    """

    classes: np.ndarray
    alphas: np.ndarray
    n_features: np.ndarray
    mean: np.ndarray | None
    scale: np.ndarray | None
    backend: str
    multiclass: str = DEFAULT_MULTICLASS
    metric: str = "accuracy"
    params: dict = field(default_factory=dict)


def resolve_backend(backend: str, X: Any, device: str | torch.device | None = None,
                    n_fits: int = 1) -> str:
    """The backend that will run.

    ``auto`` means our torch solver on the fit's device, except for one single fit
    (``n_fits == 1``) on a CUDA device with cuML usable, which goes to cuML. cuML fits one problem
    at a time (its OWL-QN launches per problem: many small models are slow there, cuML issue
    #3588), while a path of P problems x A strengths is one batched solve for ours. The fit runs
    on ``device`` when given (an explicit ``"cpu"`` keeps GPU-resident data on the torch CPU
    solver), else where ``X`` lives.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "cuml" and not cuml_backend.cuml_available():
        raise ValueError("backend='cuml' needs cuML, cupy and a CUDA device")
    if backend != "auto":
        return backend
    if device is not None:
        on_gpu = torch.device(device).type == "cuda"
    else:
        first = X[0] if isinstance(X, (list, tuple)) else X
        on_gpu = is_cupy(first) or (isinstance(first, torch.Tensor) and first.is_cuda)
    single = n_fits == 1
    return "cuml" if single and on_gpu and cuml_backend.cuml_available() else "torch"


def _n_problems(X: Any) -> int:
    if isinstance(X, (list, tuple)):
        return len(X)
    return int(X.shape[0]) if getattr(X, "ndim", 2) == 3 else 1


def _stack_problems(X: Any, device) -> tuple[torch.Tensor, np.ndarray]:
    """(P, n, d) tensor (zero-padded if a list of widths) and each problem's width (P,)."""
    if isinstance(X, (list, tuple)):
        if len(X) == 0:
            raise ValueError("X is an empty list of problems")
        parts = [as_tensor(x, device) for x in X]
        if any(part.ndim != 2 for part in parts):
            raise ValueError("each problem in a list X must be a 2-D (n, d) array")
        rows = {part.shape[0] for part in parts}
        if len(rows) != 1:
            raise ValueError(f"all problems must have the same number of rows, got {sorted(rows)}")
        widths = np.array([part.shape[1] for part in parts])
        dtype = functools.reduce(torch.promote_types, [part.dtype for part in parts])
        stacked = torch.zeros(
            (len(parts), parts[0].shape[0], int(widths.max())), dtype=dtype, device=parts[0].device
        )
        for p, part in enumerate(parts):
            stacked[p, :, : part.shape[1]] = part
        return stacked, widths
    tensor = as_tensor(X, device)
    if tensor.ndim == 2:
        tensor = tensor[None]
    if tensor.ndim != 3:
        raise ValueError(f"X must be (n, d), (P, n, d) or a list of (n, d), got shape {tuple(tensor.shape)}")
    return tensor, np.full(tensor.shape[0], tensor.shape[2])


def _n_tasks(y: Any, prefixes) -> int:
    """How many binary tasks ``y`` (n,) or (n, T) holds (1 for one label vector)."""
    shape = np.shape(to_numpy(y))
    if len(shape) < 2 or shape[1] == 1:
        return 1
    if prefixes is not None:
        raise ValueError("prefixes take one label vector y (n,), not labels of several tasks")
    return int(shape[1])


def _task_labels(y: Any, n_rows: int, eval_set: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``(classes [0, 1], y_index (T, n))`` of (n, T) 0/1 labels of T binary tasks."""
    y = to_numpy(y)
    what = "eval_set y" if eval_set else "y"
    if y.ndim != 2 or not np.isin(y, (0, 1)).all():
        raise ValueError(f"{what} of several tasks must be an (n, T) array of 0/1 labels")
    if len(y) != n_rows:
        raise ValueError(f"X has {n_rows} rows but {what} has {len(y)} labels")
    one_class = np.flatnonzero(~(y.any(0) & ~y.all(0)))
    if not eval_set and len(one_class):
        raise ValueError(f"tasks {one_class.tolist()} of y have only one class; a probe needs "
                         "both")
    return np.array([0, 1]), y.T.astype(np.int64)


def _val_labels(classes: np.ndarray, y_val: Any) -> np.ndarray:
    y_val = to_numpy(y_val).reshape(-1)
    index = np.searchsorted(classes, y_val)
    index = np.clip(index, 0, len(classes) - 1)
    if not np.all(classes[index] == y_val):
        raise ValueError("eval_set labels contain classes not seen in y")
    return index.astype(np.int64)


def fit_path(
    X: Any,
    y: Any,
    alphas: Sequence[float],
    *,
    backend: str = "auto",
    device: str | torch.device | None = None,
    standardize: bool = True,
    eval_set: tuple[Any, Any] | None = None,
    max_iter: int = 100,
    tol: float = 1e-6,
    multiclass: str = DEFAULT_MULTICLASS,
    metric: str = "accuracy",
    patience: int | None = None,
    prefixes: Sequence[int] | None = None,
    progress: bool = False,
    on_fits=None,
) -> PathResult:
    """Fit L1-logistic probes for P problems sharing labels ``y`` over strengths ``alphas``.

    Parameters
    ----------
    X : (P, n, d) or (n, d) array, or a list of P (n, d_p) arrays (numpy float16/32/64, torch,
        or cupy); float16 is computed in float32.
    y : (n,) labels (two or more classes; binary -> sigmoid, more -> multinomial softmax), or
        (n, T) 0/1 labels of T binary tasks on the same rows (the labels of a multi-label task):
        each of X's P problems is then fitted for every task in one batch, and the result holds
        ``P T`` problems, problem ``p T + t`` for X's problem p and task t (no ``prefixes``).
    alphas : A strengths of our convention (:mod:`stc_gpu.probe.objective`).
    backend : "torch", "cuml", "sklearn" or "auto" (see :func:`resolve_backend`).
    device : torch device for the torch backend (default: where X lives).
    standardize : z-score features with training-row statistics (saved in the result).
    eval_set : optional ``(X_val, y_val)``, X_val shaped like X and y_val like y; see the module
        docstring.
    max_iter : Newton steps per alpha (torch) or the backend's own iteration limit.
    tol : relative Newton-decrement tolerance (torch) or the backend's own tolerance.
    multiclass : "ovr" (K binary problems, batched) or "multinomial" (softmax) for 3+ classes.
    metric : "accuracy" or "macro_f1", the validation score that ranks checkpoints.
    patience : with ``eval_set`` (torch backend), stop an alpha of a problem once its validation
        score has not risen for this many Newton steps (None: run to convergence or max_iter).
    prefixes : P widths: with one (n, d) ``X``, problem p is ``X[:, :prefixes[p]]`` (nested
        column prefixes, as the aggregation's L_temp). ``X`` is copied and standardised once,
        not per problem, and the results are those of the list of the P prefixes.
    progress : show a tqdm bar over the alphas and log one line per alpha (torch backend).
    on_fits : optional callable(int), told after each strength how many (problem, alpha) fits
        finished (the torch backend reports every alpha, the others once at the end).
    """
    if multiclass not in MULTICLASS_MODES:
        raise ValueError(f"multiclass must be one of {MULTICLASS_MODES}, got {multiclass!r}")
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    tasks = _n_tasks(y, prefixes)
    n_problems = _n_problems(X) * tasks if prefixes is None else len(prefixes)
    name = resolve_backend(backend, X, device, n_fits=n_problems * len(np.atleast_1d(alphas)))
    logger.info("fitting L1 logistic probes with the %s backend", name)
    device = torch.device(device) if device is not None else None
    if name == "cuml":
        device = device or torch.device("cuda")
    stacked, widths = _stack_problems(X, None)  # moved to the device chunk by chunk below
    if stacked.shape[1] == 0 or stacked.shape[2] == 0:
        raise ValueError(f"X has no rows or no features: shape {tuple(stacked.shape)}")
    if prefixes is not None:
        widths = np.asarray(prefixes, dtype=np.int64).reshape(-1)
        if stacked.shape[0] != 1 or widths.size == 0 or widths.min() < 1 or (
                widths.max() > stacked.shape[2]):
            raise ValueError(f"prefixes need one (n, d) X and widths in 1..d, got X of shape "
                             f"{tuple(stacked.shape)} and prefixes {list(widths)}")
    classes, y_index = (encode_labels(y, stacked.shape[1]) if tasks == 1
                        else _task_labels(y, stacked.shape[1]))
    alphas_arr = validate_alphas(alphas)
    solve_device = stacked.device if device is None else device
    Zt = feature_major_copy(stacked, working_dtype(stacked.dtype), solve_device)
    del stacked
    if standardize:
        mean, scale = fit_scaler(Zt.transpose(-1, -2))
        standardize_feature_major_(Zt, mean, scale)
    else:
        check_finite(Zt.transpose(-1, -2))
        mean = scale = None
    val = None
    if eval_set is not None:
        Xv, yv = eval_set
        Xv_stacked, _ = _stack_problems(Xv, None)
        if Xv_stacked.shape[0] != Zt.shape[0] or Xv_stacked.shape[2] != Zt.shape[1]:
            raise ValueError("eval_set X must have the same problems and widths as X")
        yv_index = (_val_labels(classes, yv) if y_index.ndim == 1
                    else _task_labels(yv, Xv_stacked.shape[1], eval_set=True)[1])
        if Xv_stacked.shape[1] != yv_index.shape[-1] or yv_index.shape[:-1] != y_index.shape[:-1]:
            raise ValueError("eval_set X and y have different lengths")
        Ztv = feature_major_copy(Xv_stacked, Zt.dtype, solve_device)
        check_finite(Ztv.transpose(-1, -2))
        if standardize:
            standardize_feature_major_(Ztv, mean, scale)
        val = (Ztv, yv_index)
    if name == "torch":
        with tqdm(total=len(alphas_arr), desc="L1 probe path", unit="alpha",
                  disable=not progress) as bar:

            def report(line: str) -> None:
                logger.info(line)
                bar.update(1)
                if on_fits is not None:
                    on_fits(n_problems)

            raw = solve_path(
                Zt, y_index, len(classes), alphas_arr, multiclass=multiclass, max_iter=max_iter,
                tol=tol, eval_set=val, metric=metric, patience=patience, widths=prefixes,
                progress=report if progress or on_fits is not None else None,
            )
    else:
        if prefixes is not None:  # one fit per prefix: materialise the zero-padded problems
            Zt = _zero_padded_prefixes(Zt, widths)
            val = None if val is None else (_zero_padded_prefixes(val[0], widths), val[1])
        raw = _fit_each(name, Zt, y_index, len(classes), alphas_arr, max_iter, tol, val,
                        multiclass=multiclass, metric=metric)
        if on_fits is not None:
            on_fits(n_problems * len(alphas_arr))
    if tasks > 1:  # the width and scaler of each feature matrix, for each of its tasks
        widths = np.repeat(widths, tasks)
        if mean is not None:
            mean, scale = (t.repeat_interleave(tasks, dim=0) for t in (mean, scale))
    if prefixes is not None and mean is not None:
        mean, scale = (t.expand(n_problems, -1) for t in (mean, scale))
    return PathResult(
        **vars(raw), classes=classes, alphas=alphas_arr, n_features=widths,
        mean=None if mean is None else mean.cpu().numpy(),
        scale=None if scale is None else scale.cpu().numpy(), backend=name,
        multiclass=multiclass, metric=metric,
        params=dict(backend=backend, standardize=standardize, max_iter=max_iter, tol=tol,
                    device=None if device is None else str(device), multiclass=multiclass),
    )


def _zero_padded_prefixes(Zt: torch.Tensor, widths: np.ndarray) -> torch.Tensor:
    """(P, d, n) copies of a shared feature-major (1, d, n), rows past each width zeroed."""
    out = Zt.expand(len(widths), -1, -1).clone()
    for p, width in enumerate(widths):
        out[p, int(width):] = 0
    return out


def _fit_each(name, Zt, y_index, n_classes, alphas, max_iter, tol, val, *,
              multiclass=DEFAULT_MULTICLASS, metric="accuracy",
              backend_max_iter: int | None = None) -> PathArrays:
    """sklearn / cuml: one fit per (problem, alpha) on feature-major Zt (S, d, n); objectives
    evaluated with ours. ``y_index`` (T, n) of T binary tasks makes ``P = S T`` problems, problem
    ``s T + t`` for matrix s and task t (else P = S).

    ``max_iter`` is our Newton-step cap and is not passed on: each backend runs its own
    iteration budget (``cuml_backend.MAX_ITER`` OWL-QN iterations, ``sklearn_backend.MAX_ITER``
    liblinear iterations / saga epochs) unless ``backend_max_iter`` sets one. ``converged`` is
    the backend's own verdict; fits that ran out of budget are logged as a warning.
    """
    del max_iter  # Newton steps of the torch solver; meaningless to OWL-QN / liblinear / saga
    S, d, n = Zt.shape
    T = 1 if y_index.ndim == 1 else y_index.shape[0]
    P = S * T
    K = n_outputs(n_classes)
    A = len(alphas)
    out = PathArrays(
        coef=np.zeros((P, A, K, d)), intercept=np.zeros((P, A, K)), objective=np.zeros((P, A)),
        n_iter=np.zeros((P, A), dtype=np.int64), converged=np.zeros((P, A), dtype=bool),
    )
    if val is not None:
        out.val_score = np.zeros((P, A))
        out.best_val_pred = np.zeros((P, A, val[1].shape[-1]), dtype=np.int64)
    for p in range(P):
        s, t = divmod(p, T)
        y_p = y_index if T == 1 else y_index[t]
        X_host = np.ascontiguousarray(Zt[s].T.cpu().numpy(), dtype=np.float64)
        if name == "cuml":
            import cupy as cp

            X_fit, y_fit = cp.from_dlpack(Zt[s]).T, cp.asarray(y_p)  # F-ordered (n, d)
            fit_one = cuml_backend.fit_one
        else:
            X_fit, y_fit, fit_one = X_host, y_p, sklearn_backend.fit_one
        for a, alpha in enumerate(alphas):
            coef, intercept, n_iter, converged = _fit_one_mode(
                fit_one, X_fit, y_fit, n_classes, float(alpha), backend_max_iter, tol, multiclass)
            out.coef[p, a], out.intercept[p, a], out.n_iter[p, a] = coef, intercept, n_iter
            out.converged[p, a] = converged
            out.objective[p, a] = l1_objective(X_host, y_p, coef, intercept, float(alpha),
                                               multiclass=multiclass)
            if val is not None:
                Mv = val[0][s].T.cpu().numpy().astype(np.float64) @ coef.T + intercept
                pred = (Mv[:, 0] > 0).astype(np.int64) if K == 1 else Mv.argmax(1)
                out.best_val_pred[p, a] = pred
                yv = val[1] if T == 1 else val[1][t]
                out.val_score[p, a] = float(checkpoint_score(
                    torch.from_numpy(pred)[None], torch.from_numpy(yv), n_classes, metric)[0])
    if not out.converged.all():
        budget = backend_max_iter
        if budget is None:
            budget = (cuml_backend.MAX_ITER if name == "cuml"
                      else sklearn_backend.MAX_ITER[sklearn_backend.solver_for(n_classes)])
        logger.warning(
            "%s backend: %d of %d fits did not converge within %d iterations (tol=%g); their "
            "objectives may be above the minimum (converged=False in the result)",
            name, int((~out.converged).sum()), out.converged.size, budget, tol)
    if val is not None:
        out.best_val_score = out.val_score.copy()
        out.best_iter = out.n_iter.copy()
        out.best_objective = out.objective.copy()
        out.best_coef, out.best_intercept = out.coef, out.intercept
    return out


def _fit_one_mode(fit_one, X, y_index, n_classes, alpha, max_iter, tol, multiclass):
    """One backend fit in ``multiclass`` mode: one-vs-rest runs K binary fits (class k against
    the rest); returns coef (K, d), intercept (K,), the largest iteration count and whether
    every fit converged."""
    if n_classes == 2 or multiclass == "multinomial":
        return fit_one(X, y_index, n_classes, alpha, max_iter, tol)
    fits = [fit_one(X, (y_index == k).astype(y_index.dtype), 2, alpha, max_iter, tol)
            for k in range(n_classes)]
    coef = np.concatenate([f[0] for f in fits])
    intercept = np.concatenate([f[1] for f in fits])
    return coef, intercept, max(f[2] for f in fits), all(f[3] for f in fits)
