"""The head's input: the salient neurons of every feature block, side by side.

A block (:class:`~stc_gpu.stc.aggregate.FeatureBlock`) names one site ``kind.layer`` and the
ids of its salient neurons; the head reads the blocks' columns in order.
"""
from __future__ import annotations

import numpy as np


def head_input(blocks, pooled) -> np.ndarray:
    """(n, sum of len(block.ids)) float32 from ``pooled(kind, layer) -> (n, units)`` arrays."""
    return np.concatenate(
        [np.asarray(pooled(b.kind, b.layer), dtype=np.float32)[:, list(b.ids)] for b in blocks],
        axis=1)


def head_input_from_entry(entry, blocks, pool: str, rows=None) -> np.ndarray:
    """(n_rows, n_features) head input of ``blocks`` (pool ``pool``) from a feature-store entry,
    optionally a subset of ``rows``; each site is read once."""
    cache = {}

    def pooled(kind, layer):
        if (kind, layer) not in cache:
            full = np.asarray(entry.features(kind, pool, layer), dtype=np.float32)
            cache[kind, layer] = full if rows is None else full[np.asarray(rows)]
        return cache[kind, layer]

    return head_input(blocks, pooled)
