"""Accuracy and macro-F1 of class codes, for one prediction or a batch of them.

Macro-F1 averages the per-class F1 over the classes present in ``y_true`` or in that row of
``y_pred`` (as scikit-learn's ``f1_score(average="macro")``); a class with no true and no
predicted rows does not count, and F1 is 0 for a class never predicted correctly.
"""
from __future__ import annotations

import numpy as np

from stc_gpu.vocabulary import METRICS



def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float | np.ndarray:
    """Share of rows predicted right.

    Parameters
    ----------
    y_true : int array (n,)
    y_pred : int array (n,) or (..., n)

    Returns
    -------
    float, or float64 array (...) for a batch of predictions.
    """
    y_true, y_pred = _checked(y_true, y_pred)
    scores = np.mean(y_pred == y_true, axis=-1)
    return float(scores) if np.ndim(scores) == 0 else scores


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float | np.ndarray:
    """Unweighted mean of the per-class F1 scores (binary and multiclass alike).

    Shapes as :func:`accuracy`: ``y_true`` (n,), ``y_pred`` (n,) or (..., n); a float, or an
    array (...) for a batch of predictions.
    """
    y_true, y_pred = _checked(y_true, y_pred)
    n_classes = int(max(y_true.max(), y_pred.max())) + 1
    batch = y_pred.reshape(-1, y_true.shape[0])  # (B, n)
    cells = (np.arange(batch.shape[0])[:, None] * n_classes + batch).reshape(-1)  # (B*n,)
    size = batch.shape[0] * n_classes
    true_count = np.bincount(y_true, minlength=n_classes)  # (K,)
    pred_count = np.bincount(cells, minlength=size).reshape(-1, n_classes)  # (B, K)
    hits = np.bincount(cells, weights=(batch == y_true).reshape(-1), minlength=size)
    hits = hits.reshape(-1, n_classes)  # (B, K) true positives
    denominator = true_count + pred_count  # 2TP + FP + FN
    present = denominator > 0
    f1 = np.divide(2.0 * hits, denominator, out=np.zeros(hits.shape), where=present)
    scores = f1.sum(axis=1) / present.sum(axis=1)
    scores = scores.reshape(y_pred.shape[:-1])
    return float(scores) if np.ndim(scores) == 0 else scores


def classification_scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """``{"acc": accuracy, "f1": macro-F1}`` of one prediction (n,)."""
    if np.ndim(y_pred) != 1:
        raise ValueError(f"y_pred must have shape (n,), got {np.shape(y_pred)}")
    return {"acc": accuracy(y_true, y_pred), "f1": macro_f1(y_true, y_pred)}


def score(y_true: np.ndarray, y_pred: np.ndarray, metric: str) -> float | np.ndarray:
    """The named metric, ``"accuracy"`` or ``"macro_f1"``, of class codes (shapes as above)."""
    if metric not in _METRICS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {sorted(_METRICS)}")
    return _METRICS[metric](y_true, y_pred)


_METRICS = {"accuracy": accuracy, "macro_f1": macro_f1}
assert tuple(_METRICS) == METRICS
_METRIC_KEYS = {"accuracy": "acc", "acc": "acc", "macro_f1": "f1", "macro-f1": "f1", "f1": "f1"}


def metric_key(metric: str) -> str:
    """``"acc"`` or ``"f1"``: the suffix of the record fields (``val_acc``...) holding ``metric``."""
    try:
        return _METRIC_KEYS[str(metric).lower()]
    except KeyError:
        raise ValueError(f"metric must be one of {sorted(_METRIC_KEYS)}, got {metric!r}") from None


def _checked(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.ndim != 1 or y_true.size == 0:
        raise ValueError(f"y_true must be a non-empty 1-d array of class codes, got shape {y_true.shape}")
    if y_pred.ndim == 0 or y_pred.size == 0 or y_pred.shape[-1] != y_true.shape[0]:
        raise ValueError(f"y_pred must have shape (..., {y_true.shape[0]}), got {y_pred.shape}")
    for name, codes in (("y_true", y_true), ("y_pred", y_pred)):
        if not (np.issubdtype(codes.dtype, np.integer) or codes.dtype == np.bool_):
            raise ValueError(f"{name} must hold integer class codes (see LabelEncoder), "
                             f"got dtype {codes.dtype}")
        if codes.size and codes.min() < 0:
            raise ValueError(f"{name} holds negative class codes")
    return y_true.astype(np.int64), y_pred.astype(np.int64)


def multilabel_scores(Y_true: np.ndarray, Y_pred: np.ndarray, names) -> dict:
    """Scores of label-set predictions, as scikit-learn's ``f1_score`` etc. on indicator rows.

    ``Y_true``, ``Y_pred``: (n, L) 0/1 or bool; ``names``: the L labels. Returns
    ``{"micro_f1", "macro_f1", "subset_acc", "per_label": {name: {precision, recall, f1,
    support}}}``: a label's F1 is its positive class's, micro-F1 pools the true positives, false
    positives and false negatives of every label, macro-F1 averages the per-label F1 and
    subset accuracy is the share of rows whose whole set is right. A score with nothing to count
    (no true and no predicted row) is 0, as scikit-learn's ``zero_division=0``.
    """
    Y_true, Y_pred = np.asarray(Y_true, dtype=bool), np.asarray(Y_pred, dtype=bool)
    if Y_true.ndim != 2 or Y_true.shape != Y_pred.shape or Y_true.shape[1] != len(names):
        raise ValueError(f"Y_true and Y_pred must both be (n, {len(names)}), got "
                         f"{Y_true.shape} and {Y_pred.shape}")
    tp = (Y_true & Y_pred).sum(0)
    pred, true = Y_pred.sum(0), Y_true.sum(0)

    def ratio(a, b):
        return np.divide(a, b, out=np.zeros(np.shape(a)), where=np.asarray(b) > 0)

    f1 = ratio(2.0 * tp, pred + true)
    per_label = {name: {"precision": float(p), "recall": float(r), "f1": float(f),
                        "support": int(s)}
                 for name, p, r, f, s in zip(names, ratio(tp, pred), ratio(tp, true), f1, true)}
    return {"micro_f1": float(ratio(2.0 * tp.sum(), pred.sum() + true.sum())),
            "macro_f1": float(f1.mean()), "subset_acc": float((Y_true == Y_pred).all(1).mean()),
            "per_label": per_label}
