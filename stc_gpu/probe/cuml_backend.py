"""cuML backend: ``cuml.LogisticRegression`` (OWL-QN) on cupy data, our convention.

Import-guarded: :func:`cuml_available` says whether cuML and a CUDA device are usable.

Supported cuML releases: 25.02 to 26.08 (``SUPPORTED_CUML``; the ``gpu`` extra and
``environment.yml`` pin the same range). What differs between them, read from cuML's sources:

* ``LogisticRegression(penalty_normalized=...)`` is declared only from 25.12: 25.06-25.10 raise
  ``TypeError`` on it and 25.02-25.04 drop it with an "Unused keyword parameter" log. The
  penalty is normalised by ``n`` (QN's own default, ``l1_strength = 1 / (C n)`` next to the mean
  loss) in every one of these releases, so ``C = 1 / (alpha n)``, and the keyword is passed only
  where the constructor declares it.
* the iteration count is ``model.n_iter_`` from 25.08, ``model.solver_model.num_iters`` before.
* when OWL-QN hits ``max_iter`` it reports ``max_iter + 1`` iterations up to 25.10 and
  ``max_iter`` from 25.12; a fit that stopped on its own test reports at most ``max_iter``. cuML
  exposes no other convergence status, so ``converged`` is ``n_iter < max_iter`` (a fit that
  converged on exactly its last allowed iteration counts as not converged; a line-search stop
  before the budget, which cuML logs, counts as converged).
"""
from __future__ import annotations

import contextlib
import functools
import inspect

import numpy as np

from stc_gpu.probe.objective import cuml_C_from_alpha

#: The releases whose ``LogisticRegression`` this module was written against (min, max).
SUPPORTED_CUML = ("25.02", "26.08")
#: OWL-QN iteration budget (cuML's own default): QN iterations are cheap and many, unlike our
#: Newton steps, so the pipeline's ``max_iter`` is never passed here.
MAX_ITER = 1000


@functools.lru_cache(maxsize=1)
def cuml_available() -> bool:
    """True when cuML and cupy import and a CUDA device is visible."""
    try:
        import cupy
        import cuml  # noqa: F401

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # ImportError, or a CUDA runtime error without a device
        return False


def _accepts(cls, name: str) -> bool:
    """Whether ``cls.__init__`` declares keyword ``name`` (False when it cannot be told)."""
    try:
        return name in inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return False


def _n_iter(model) -> int | None:
    """OWL-QN iterations of a fitted model: ``n_iter_`` (>= 25.08) or the QN solver's count."""
    n_iter = getattr(model, "n_iter_", None)
    if n_iter is None:
        n_iter = getattr(getattr(model, "solver_model", None), "num_iters", None)
    if n_iter is None:
        return None
    return int(np.max(np.asarray(n_iter)))


def _device_of(X):
    """The cupy device context of ``X`` (``cupy.cuda.Device``), or a no-op without one."""
    device = getattr(X, "device", None)
    return device if hasattr(device, "__enter__") else contextlib.nullcontext()


def fit_one(X, y_index, n_classes: int, alpha: float, max_iter: int | None = None,
            tol: float = 1e-4):
    """Fit one problem on the GPU.

    X : (n, d) cupy float32/float64 (standardised); y_index : (n,) cupy class indices.
    max_iter : OWL-QN iterations (default :data:`MAX_ITER`); tol : cuML's own tolerance.
    Returns coef (K, d), intercept (K,) as numpy float64, the iteration count (capped at
    ``max_iter``) and whether cuML stopped before its budget ran out.
    """
    import cupy as cp
    from cuml.linear_model import LogisticRegression

    if alpha <= 0:
        raise ValueError(f"the cuml backend needs alpha > 0, got {alpha}")
    max_iter = MAX_ITER if max_iter is None else int(max_iter)
    kwargs = dict(
        penalty="l1",
        C=cuml_C_from_alpha(alpha, int(X.shape[0]), penalty_normalized=True),
        fit_intercept=True,
        max_iter=max_iter,
        tol=tol,
        output_type="cupy",
    )
    if _accepts(LogisticRegression, "penalty_normalized"):  # cuML >= 25.12; True before anyway
        kwargs["penalty_normalized"] = True
    model = LogisticRegression(**kwargs)
    with _device_of(X):  # cuML runs on the current device: make it the one X lives on
        model.fit(X, y_index.astype(X.dtype))
    K = 1 if n_classes == 2 else n_classes
    coef = cp.asnumpy(cp.asarray(model.coef_)).reshape(K, -1).astype(np.float64)
    intercept = cp.asnumpy(cp.asarray(model.intercept_)).reshape(K).astype(np.float64)
    n_iter = _n_iter(model)
    if n_iter is None:  # an unknown release: say "not converged" rather than guess
        return coef, intercept, -1, False
    return coef, intercept, min(n_iter, max_iter), n_iter < max_iter
