"""cuML backend: ``cuml.LogisticRegression`` (OWL-QN) on cupy data, our convention.

Import-guarded: :func:`cuml_available` says whether cuML and a CUDA device are usable.
"""
from __future__ import annotations

import functools

import numpy as np

from stc_gpu.probe.objective import cuml_C_from_alpha


@functools.lru_cache(maxsize=1)
def cuml_available() -> bool:
    """True when cuML and cupy import and a CUDA device is visible."""
    try:
        import cupy
        import cuml  # noqa: F401

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # ImportError, or a CUDA runtime error without a device
        return False


def fit_one(X, y_index, n_classes: int, alpha: float, max_iter: int, tol: float):
    """Fit one problem on the GPU.

    X : (n, d) cupy float32/float64 (standardised); y_index : (n,) cupy class indices.
    Returns coef (K, d), intercept (K,) as numpy float64, and the iteration count.
    """
    import cupy as cp
    from cuml.linear_model import LogisticRegression

    if alpha <= 0:
        raise ValueError(f"the cuml backend needs alpha > 0, got {alpha}")
    model = LogisticRegression(
        penalty="l1",
        C=cuml_C_from_alpha(alpha, int(X.shape[0]), penalty_normalized=True),
        penalty_normalized=True,
        fit_intercept=True,
        max_iter=max_iter,
        tol=tol,
        output_type="cupy",
    )
    model.fit(X, y_index.astype(X.dtype))
    K = 1 if n_classes == 2 else n_classes
    coef = cp.asnumpy(cp.asarray(model.coef_)).reshape(K, -1).astype(np.float64)
    intercept = cp.asnumpy(cp.asarray(model.intercept_)).reshape(K).astype(np.float64)
    n_iter = int(np.max(np.asarray(getattr(model, "n_iter_", [-1]))))
    return coef, intercept, n_iter
