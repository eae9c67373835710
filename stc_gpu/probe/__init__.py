"""L1 logistic probes: one objective (:mod:`.objective`), torch / cuml / sklearn backends.

``L1LogisticRegression`` is a scikit-learn estimator; ``fit_path`` fits P problems sharing labels
over a path of strengths in one batched computation.
"""
from stc_gpu.probe.estimator import L1LogisticRegression
from stc_gpu.probe.objective import (
    alpha_from_cuml_C,
    alpha_from_sklearn_C,
    cuml_C_from_alpha,
    l1_objective,
    sklearn_C_from_alpha,
)
from stc_gpu.probe.path import PathResult, fit_path
from stc_gpu.probe.standardize import fit_scaler

__all__ = [
    "L1LogisticRegression",
    "PathResult",
    "fit_path",
    "fit_scaler",
    "l1_objective",
    "alpha_from_sklearn_C",
    "sklearn_C_from_alpha",
    "cuml_C_from_alpha",
    "alpha_from_cuml_C",
]
