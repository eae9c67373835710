"""Reading (kind, pool, layer) feature slabs from a store entry, split into train/val/test rows."""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, replace

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

    def task(self, j: int) -> "SplitRows":
        """The rows of task ``j`` when the labels are (n_split, T) columns, one per binary task
        (the labels of a multi-label task)."""
        return replace(self, y_train=self.y_train[:, j], y_val=self.y_val[:, j],
                       y_test=self.y_test[:, j])


class CachedSlabs:
    """A store entry that keeps the slabs it reads (``features(kind, pool, layer)`` of all
    rows) in memory, least recently used first out beyond ``max_bytes``: tasks over the same
    rows then read each slab once. Everything else is the entry's own."""

    def __init__(self, entry, max_bytes: int = 1 << 30):
        self._entry = entry
        self._max_bytes = max_bytes
        self._slabs: OrderedDict = OrderedDict()

    def features(self, kind: str, pool: str, layer: int, rows=None, **options):
        if rows is not None or options:
            return self._entry.features(kind, pool, layer, rows, **options)
        key = (kind, pool, layer)
        if key in self._slabs:
            self._slabs.move_to_end(key)
        else:
            self._slabs[key] = np.asarray(self._entry.features(kind, pool, layer))
            while len(self._slabs) > 1 and sum(
                    a.nbytes for a in self._slabs.values()) > self._max_bytes:
                self._slabs.popitem(last=False)
        return self._slabs[key]

    def __getattr__(self, name: str):
        return getattr(self._entry, name)


def read_layer(entry, kind: str, pool: str, layer: int, rows: SplitRows):
    """``(X_train, X_val, X_test)`` float32 arrays (n_split, units) of one layer's pooled features."""
    full = np.asarray(entry.features(kind, pool, layer), dtype=np.float32)
    return full[rows.train], full[rows.val], full[rows.test]
