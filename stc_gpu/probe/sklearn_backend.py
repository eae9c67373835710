"""scikit-learn reference backend: liblinear (binary) and saga (multinomial), our convention.

liblinear penalises its intercept; it is fitted here with ``intercept_scaling = 100`` so the
intercept's penalty is ``alpha |b| / 100`` (negligible on standardised data). saga does not
penalise the intercept.

Iteration budgets are the solvers' own (:data:`MAX_ITER`), not our Newton steps: liblinear's
iterations are Newton-like outer steps, saga's are epochs over the rows. At ``tol = 1e-4`` on
standardised probes over the paper's C grid, liblinear needed at most ~50 and saga up to ~3000
(2000 rows x 384 features, 4 classes, C = 10-100; weak regularisation is the slow case), so the
budgets leave a wide margin. ``ConvergenceWarning`` is not silenced: a fit that runs out of
budget warns as scikit-learn always does and comes back with ``converged = False``.
"""
from __future__ import annotations

import inspect

import numpy as np

from stc_gpu.probe.objective import sklearn_C_from_alpha

INTERCEPT_SCALING = 100.0
#: Iteration budget per solver (liblinear outer iterations, saga epochs).
MAX_ITER = {"liblinear": 1000, "saga": 20_000}


def _l1_kwargs() -> dict:
    from sklearn.linear_model import LogisticRegression

    default_penalty = inspect.signature(LogisticRegression).parameters["penalty"].default
    return {"l1_ratio": 1.0} if default_penalty == "deprecated" else {"penalty": "l1"}


def solver_for(n_classes: int) -> str:
    """liblinear for two classes, saga (multinomial) for more."""
    return "liblinear" if n_classes == 2 else "saga"


def fit_one(
    X: np.ndarray, y_index: np.ndarray, n_classes: int, alpha: float,
    max_iter: int | None = None, tol: float = 1e-4,
) -> tuple[np.ndarray, np.ndarray, int, bool]:
    """Fit one problem: X (n, d) float64, y_index (n,).

    max_iter : the solver's iteration budget (default ``MAX_ITER[solver]``).
    Returns coef (K, d), intercept (K,), n_iter and converged (scikit-learn's own test: it
    warns exactly when ``n_iter`` reaches ``max_iter``).
    """
    from sklearn.linear_model import LogisticRegression

    if alpha <= 0:
        raise ValueError(f"the sklearn backend needs alpha > 0, got {alpha}")
    solver = solver_for(n_classes)
    max_iter = MAX_ITER[solver] if max_iter is None else int(max_iter)
    model = LogisticRegression(
        C=sklearn_C_from_alpha(alpha, X.shape[0]),
        solver=solver,
        tol=tol,
        max_iter=max_iter,
        intercept_scaling=INTERCEPT_SCALING,
        random_state=0,  # liblinear and saga shuffle their coordinates: reproducible fits
        **_l1_kwargs(),
    )
    model.fit(X, y_index)
    n_iter = int(np.max(model.n_iter_))
    return (model.coef_.astype(np.float64), model.intercept_.astype(np.float64), n_iter,
            n_iter < max_iter)
