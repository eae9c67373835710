"""``L1LogisticRegression``: one scikit-learn estimator over the torch, cuml and sklearn backends."""
from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from stc_gpu.probe.arrays import is_cupy, to_numpy
from stc_gpu.probe.path import PathResult, fit_path
from stc_gpu.vocabulary import DEFAULT_MULTICLASS, MULTICLASS_MODES

logger = logging.getLogger(__name__)


def _is_device_array(X: Any) -> bool:
    return isinstance(X, torch.Tensor) or is_cupy(X)


class L1LogisticRegression(ClassifierMixin, BaseEstimator):
    """L1-regularised logistic regression with the objective of :mod:`stc_gpu.probe.objective`.

    ``mean log-loss + alpha ||W||_1``, intercept not penalised; binary problems have one weight
    row (sigmoid), multiclass problems one row per class (one-vs-rest or multinomial softmax).

    Parameters
    ----------
    alpha : L1 strength (``alpha = 1 / (C n)`` for scikit-learn's ``C``).
    backend : "auto" (cuml for GPU-resident data when cuML is usable, else torch; see
        :func:`stc_gpu.probe.path.resolve_backend`), "torch",
        "cuml" or "sklearn" (liblinear for binary, saga for multinomial).
    standardize : z-score features with the training rows' mean / std; the scaler is saved with
        the model and applied by predict / decision_function.
    max_iter : Newton steps (torch only); the cuml and sklearn backends run their own iteration
        budgets (``cuml_backend.MAX_ITER``, ``sklearn_backend.MAX_ITER``) and report whether
        they converged.
    tol : relative Newton-decrement tolerance (torch), or the backend's own tolerance.
    device : torch device for the torch backend (default: where X lives).
    multiclass : "ovr" (K binary problems, class k against the rest; probabilities are the
        normalised sigmoids, as scikit-learn's one-vs-rest) or "multinomial" (softmax).

    Attributes
    ----------
    coef_ : (K, d) weights **in the standardised space** (K = 1 for binary); the η rule ranks
        feature j by ``sum_k coef_[k, j] ** 2``. ``coef_original_space()`` undoes the scaling.
    intercept_ : (K,); classes_ : (K_classes,); n_iter_ : (1,) iterations; objective_ : float,
        our objective on the standardised training rows; backend_ : the backend that ran;
        mean_, scale_ : (d,) scaler (None without standardisation); n_features_in_.
    """

    def __init__(
        self,
        alpha: float = 1e-3,
        *,
        backend: str = "auto",
        standardize: bool = True,
        max_iter: int = 100,
        tol: float = 1e-6,
        device: str | None = None,
        multiclass: str = DEFAULT_MULTICLASS,
    ):
        self.alpha = alpha
        self.backend = backend
        self.standardize = standardize
        self.max_iter = max_iter
        self.tol = tol
        self.device = device
        self.multiclass = multiclass

    def fit(self, X: Any, y: Any, eval_set: tuple[Any, Any] | None = None):
        """Fit on X (n, d) (numpy, torch or cupy) and labels y (n,).

        ``eval_set=(X_val, y_val)`` keeps the Newton-step checkpoint with the best validation
        accuracy (see :mod:`stc_gpu.probe.path` for the trade-off).
        """
        if self.multiclass not in MULTICLASS_MODES:
            raise ValueError(f"multiclass must be one of {MULTICLASS_MODES}, got {self.multiclass!r}")
        if not np.isfinite(self.alpha) or self.alpha < 0:
            raise ValueError(f"alpha must be a non-negative number, got {self.alpha!r}")
        if _is_device_array(X):
            if X.ndim != 2:
                raise ValueError(f"X must be 2-D (n, d), got shape {tuple(X.shape)}")
            y = column_or_1d(to_numpy(y), warn=True)
            self.n_features_in_ = int(X.shape[1])
        else:
            X, y = validate_data(
                self, X, y, dtype=[np.float64, np.float32, np.float16], y_numeric=False
            )
        check_classification_targets(y)
        result = fit_path(
            X, y, [self.alpha], backend=self.backend, device=self.device,
            standardize=self.standardize, eval_set=eval_set, max_iter=self.max_iter, tol=self.tol,
            multiclass=self.multiclass,
        )
        self._take_path_fit(result, 0, 0, best=eval_set is not None)
        logger.info("L1LogisticRegression fitted with the %s backend", self.backend_)
        return self

    @classmethod
    def from_path(cls, result: PathResult, p: int, a: int,
                  best: bool = False) -> "L1LogisticRegression":
        """The fitted model of problem ``p`` at strength ``a`` of a :func:`fit_path` result.

        ``best=True`` takes the best validation checkpoint (needs a path fitted with an eval set).
        """
        model = cls(alpha=float(result.alphas[a]), **result.params)
        model._take_path_fit(result, p, a, best)
        return model

    def _take_path_fit(self, result: PathResult, p: int, a: int, best: bool) -> None:
        if best and result.best_coef is None:
            raise ValueError("best=True needs a path fitted with eval_set")
        d = int(result.n_features[p])
        self._set_fitted(
            coef=(result.best_coef if best else result.coef)[p, a, :, :d],
            intercept=(result.best_intercept if best else result.intercept)[p, a],
            classes=result.classes,
            mean=None if result.mean is None else result.mean[p, :d],
            scale=None if result.scale is None else result.scale[p, :d],
            n_iter=int((result.best_iter if best else result.n_iter)[p, a]),
            objective=float((result.best_objective if best else result.objective)[p, a]),
            backend=result.backend,
        )

    def _set_fitted(self, *, coef, intercept, classes, mean, scale, n_iter, objective, backend):
        self.coef_ = np.asarray(coef, dtype=np.float64)
        self.intercept_ = np.asarray(intercept, dtype=np.float64).reshape(-1)
        self.classes_ = np.asarray(classes)
        self.mean_ = None if mean is None else np.asarray(mean, dtype=np.float64)
        self.scale_ = None if scale is None else np.asarray(scale, dtype=np.float64)
        self.n_iter_ = np.array([n_iter])
        self.objective_ = objective
        self.backend_ = backend
        self.n_features_in_ = self.coef_.shape[1]

    def _transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "coef_")
        if _is_device_array(X):
            X = to_numpy(X)
        X = validate_data(self, X, dtype=[np.float64, np.float32, np.float16], reset=False)
        X = np.asarray(X, dtype=np.float64)
        return X if self.mean_ is None else (X - self.mean_) / self.scale_

    def decision_function(self, X: Any) -> np.ndarray:
        """Margins: (n,) for binary (positive -> ``classes_[1]``), (n, K) for multiclass."""
        M = self._transform(X) @ self.coef_.T + self.intercept_
        return M[:, 0] if M.shape[1] == 1 else M

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (n, K_classes)."""
        M = self.decision_function(X)
        if M.ndim == 1:
            p = expit(M)  # no overflow on saturated margins
            return np.stack([1 - p, p], axis=1)
        # one-vs-rest: the K sigmoids normalised, as log-sigmoids (a row of all-saturated
        # negative margins stays finite); multinomial: the softmax
        L = -np.logaddexp(0.0, -M) if self.multiclass == "ovr" else M
        E = np.exp(L - L.max(axis=1, keepdims=True))
        return E / E.sum(axis=1, keepdims=True)

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """Log of :meth:`predict_proba`."""
        return np.log(self.predict_proba(X))

    def predict(self, X: Any) -> np.ndarray:
        """Predicted labels (n,)."""
        M = self.decision_function(X)
        index = (M > 0).astype(int) if M.ndim == 1 else M.argmax(axis=1)
        return self.classes_[index]

    def coef_original_space(self) -> tuple[np.ndarray, np.ndarray]:
        """``(coef (K, d), intercept (K,))`` acting on raw, unstandardised features."""
        check_is_fitted(self, "coef_")
        if self.mean_ is None:
            return self.coef_.copy(), self.intercept_.copy()
        coef = self.coef_ / self.scale_
        return coef, self.intercept_ - coef @ self.mean_

    def save(self, path) -> None:
        """Write the fitted probe to directory ``path`` as ``probe.npz`` + ``probe.json``."""
        from stc_gpu.probe.io import save_probe

        save_probe(self, path)

    @classmethod
    def load(cls, path) -> "L1LogisticRegression":
        """Read a probe written by :meth:`save` (CPU only, no pickle)."""
        from stc_gpu.probe.io import load_probe

        return load_probe(cls, path)
