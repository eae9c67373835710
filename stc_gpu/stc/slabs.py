"""Reading (kind, pool, layer) feature slabs from a store entry, split into train/val/test rows."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SplitRows:
    """Row indices of the three splits, plus encoded labels for each (all 1-D int arrays)."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    y_train: np.ndarray
    y_val: np.ndarray
    y_test: np.ndarray

    @classmethod
    def from_labels(cls, y: np.ndarray, train, val, test) -> "SplitRows":
        train, val, test = (np.asarray(i, dtype=np.int64) for i in (train, val, test))
        return cls(train, val, test, y[train], y[val], y[test])


def read_layer(entry, kind: str, pool: str, layer: int, rows: SplitRows):
    """``(X_train, X_val, X_test)`` float32 arrays (n_split, units) of one layer's pooled features."""
    full = np.asarray(entry.features(kind, pool, layer), dtype=np.float32)
    return full[rows.train], full[rows.val], full[rows.test]
