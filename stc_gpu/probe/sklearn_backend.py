"""scikit-learn reference backend: liblinear (binary) and saga (multinomial), our convention.

liblinear penalises its intercept; it is fitted here with ``intercept_scaling = 100`` so the
intercept's penalty is ``alpha |b| / 100`` (negligible on standardised data). saga does not
penalise the intercept.
"""
from __future__ import annotations

import inspect
import warnings

import numpy as np

from stc_gpu.probe.objective import sklearn_C_from_alpha

INTERCEPT_SCALING = 100.0


def _l1_kwargs() -> dict:
    from sklearn.linear_model import LogisticRegression

    default_penalty = inspect.signature(LogisticRegression).parameters["penalty"].default
    return {"l1_ratio": 1.0} if default_penalty == "deprecated" else {"penalty": "l1"}


def fit_one(
    X: np.ndarray, y_index: np.ndarray, n_classes: int, alpha: float, max_iter: int, tol: float
) -> tuple[np.ndarray, np.ndarray, int]:
    """Fit one problem: X (n, d) float64, y_index (n,) -> coef (K, d), intercept (K,), n_iter."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    if alpha <= 0:
        raise ValueError(f"the sklearn backend needs alpha > 0, got {alpha}")
    solver = "liblinear" if n_classes == 2 else "saga"
    model = LogisticRegression(
        C=sklearn_C_from_alpha(alpha, X.shape[0]),
        solver=solver,
        tol=tol,
        max_iter=max_iter,
        intercept_scaling=INTERCEPT_SCALING,
        **_l1_kwargs(),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y_index)
    return model.coef_.astype(np.float64), model.intercept_.astype(np.float64), int(
        np.max(model.n_iter_)
    )
