"""The one L1-logistic objective every backend minimises, and converters to other conventions.

Convention (used everywhere in stc-gpu)::

    f(W, b) = (1/n) * sum_i loss(x_i W^T + b, y_i) + alpha * sum_{k,j} |W_kj|

* binary (2 classes): one weight vector, ``K = 1``, ``loss = log(1 + exp(-s_i m_i))`` with
  ``s_i = +1`` for ``classes[1]`` and ``-1`` for ``classes[0]`` (scikit-learn's sign convention);
* multiclass (``K >= 3`` classes), one weight row per class and the L1 penalty summed over all
  ``K x d`` weights (the η rule ranks a feature by its squared weights summed over the ``K`` rows),
  in one of two modes:

  - ``"ovr"`` (the default): K binary problems, class k against the rest, and ``f`` is the sum
    of their K objectives (``loss`` = the K binary losses of row i summed);
  - ``"multinomial"``: softmax, ``loss = -log softmax(m_i)[y_i]``;
* the intercept ``b`` (shape ``(K,)``) is never penalised; ``alpha >= 0`` is our strength.

scikit-learn minimises ``C * sum_i loss + ||W||_1`` (same minimiser as ours with
``alpha = 1 / (C n)``); cuML minimises ``mean loss + (1/C) ||W||_1 / (n if penalty_normalized)``.
"""
from __future__ import annotations

import numpy as np
import torch

from stc_gpu.vocabulary import DEFAULT_MULTICLASS, MULTICLASS_MODES



def alpha_from_sklearn_C(C: float, n_samples: int) -> float:
    """Our ``alpha`` for scikit-learn's inverse strength ``C`` on ``n_samples`` rows."""
    _check_positive(C=C, n_samples=n_samples)
    return 1.0 / (C * n_samples)


def sklearn_C_from_alpha(alpha: float, n_samples: int) -> float:
    """scikit-learn's ``C`` for our ``alpha`` on ``n_samples`` rows (``C = 1 / (alpha n)``)."""
    _check_positive(alpha=alpha, n_samples=n_samples)
    return 1.0 / (alpha * n_samples)


def cuml_C_from_alpha(alpha: float, n_samples: int, penalty_normalized: bool = True) -> float:
    """cuML ``LogisticRegression(C=...)`` for our ``alpha``.

    cuML uses ``l1_strength = 1 / C`` and divides it by ``n`` when ``penalty_normalized`` (its
    default), so ``C = 1 / (alpha n)`` then, and ``C = 1 / alpha`` otherwise.
    """
    _check_positive(alpha=alpha, n_samples=n_samples)
    return 1.0 / (alpha * n_samples) if penalty_normalized else 1.0 / alpha


def alpha_from_cuml_C(C: float, n_samples: int, penalty_normalized: bool = True) -> float:
    """Inverse of :func:`cuml_C_from_alpha`."""
    _check_positive(C=C, n_samples=n_samples)
    return 1.0 / (C * n_samples) if penalty_normalized else 1.0 / C


def _check_positive(**values: float) -> None:
    for name, value in values.items():
        if not np.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be a positive finite number, got {value!r}")


def n_outputs(n_classes: int) -> int:
    """Weight rows of a problem with ``n_classes`` classes (1 for binary)."""
    return 1 if n_classes == 2 else n_classes


class LogisticLoss:
    """The data term (the mean loss of the module docstring), on torch margins ``M (P, K, n)``.

    The one definition of the loss: the solvers minimise it and :func:`l1_objective` evaluates
    it. ``y`` (n,) class indices shared by every problem, or (P, n) 0/1 labels of P binary
    problems (one per row: the labels of a multi-label task); K = :func:`n_outputs` rows; ``U``
    units per problem (K binary problems for one-vs-rest and binary, one softmax problem for
    multinomial).
    """

    def __init__(self, y: torch.Tensor, n_classes: int, multiclass: str):
        if multiclass not in MULTICLASS_MODES:
            raise ValueError(f"multiclass must be one of {MULTICLASS_MODES}, got {multiclass!r}")
        self.K = n_outputs(n_classes)
        if y.ndim == 2 and self.K != 1:
            raise ValueError("labels per problem (P, n) are for binary problems only")
        self.softmax = multiclass == "multinomial" and self.K > 1
        self.U = 1 if self.softmax else self.K
        self.y = y
        if self.K > 1:
            target = torch.nn.functional.one_hot(y, self.K).to(torch.float64).T[None]
        else:
            target = y.to(torch.float64).view(-1, 1, y.shape[-1])
        self.target = target  # (1 or P, K, n)
        self.sign = 2 * self.target - 1

    def to_units(self, per_block: torch.Tensor) -> torch.Tensor:
        """(P, K) -> (P, U): a multinomial layer sums its blocks."""
        return per_block.sum(1, keepdim=True) if self.softmax else per_block

    def from_units(self, per_unit: torch.Tensor) -> torch.Tensor:
        """(P, U) -> (P, K): every block of a unit gets the unit's value."""
        return per_unit.expand(-1, self.K) if self.softmax else per_unit

    def loss(self, M: torch.Tensor) -> torch.Tensor:
        """Mean loss per unit (P, U)."""
        if self.softmax:
            picked = M.gather(1, self.y.view(1, 1, -1).expand(M.shape[0], 1, -1))[:, 0]
            return (torch.logsumexp(M, dim=1) - picked).mean(1, keepdim=True)
        # softplus is exact to float64 precision below its threshold (e^-50 beyond it)
        return torch.nn.functional.softplus(-self.sign * M, threshold=50.0).mean(2)

    def derivatives(self, M: torch.Tensor):
        """Loss per unit (P, U), residual ``dloss/dM`` (P, K, n) and Newton weights (P, K, n)."""
        n = M.shape[2]
        prob = torch.softmax(M, dim=1) if self.softmax else torch.sigmoid(M)
        return self.loss(M), (prob - self.target) / n, prob * (1 - prob) / n


def margins(X: np.ndarray, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
    """Decision values ``X coef^T + intercept``: ``X (n, d)``, ``coef (K, d)`` -> ``(n, K)``."""
    return np.asarray(X, dtype=np.float64) @ np.asarray(coef, np.float64).T + np.asarray(
        intercept, np.float64
    )


def mean_logistic_loss(M: np.ndarray, y_index: np.ndarray,
                       multiclass: str = DEFAULT_MULTICLASS) -> float:
    """Mean loss of margins ``M (n, K)`` for class indices ``y_index (n,)`` (see module doc)."""
    M = torch.as_tensor(np.asarray(M, dtype=np.float64)).T[None]  # (1, K, n)
    y = torch.as_tensor(np.asarray(y_index), dtype=torch.long)
    n_classes = 2 if M.shape[1] == 1 else M.shape[1]
    return float(LogisticLoss(y, n_classes, multiclass).loss(M).sum())


def l1_objective(
    X: np.ndarray, y_index: np.ndarray, coef: np.ndarray, intercept: np.ndarray, alpha: float,
    multiclass: str = DEFAULT_MULTICLASS,
) -> float:
    """Our objective ``f(W, b)`` in float64.

    Parameters
    ----------
    X : (n, d) features (already standardised if the model standardises).
    y_index : (n,) class indices in ``0..K_classes-1``.
    coef : (K, d) weights, ``K = 1`` for binary.
    intercept : (K,) intercepts.
    alpha : L1 strength of our convention.
    multiclass : "ovr" or "multinomial" (ignored for binary problems).
    """
    loss = mean_logistic_loss(margins(X, coef, intercept), np.asarray(y_index), multiclass)
    return loss + alpha * float(np.abs(np.asarray(coef, np.float64)).sum())
