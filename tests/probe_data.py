"""Shared data of the probe tests: a hard synthetic binary problem and a reference scaler."""
from __future__ import annotations

import numpy as np


def standardize(X) -> np.ndarray:
    """z-scores of the columns of X in float64; constant columns are left centred (scale 1)."""
    X = np.asarray(X, dtype=np.float64)
    std = X.std(axis=0)
    return (X - X.mean(axis=0)) / np.where(std > 0, std, 1.0)


def synthetic_binary(n: int = 300, d: int = 40, seed: int = 0):
    """Correlated features, a few huge-variance and offset ones, sparse truth: X (n, d), y (n,)."""
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((n, 8))
    X = base @ rng.standard_normal((8, d)) + 0.5 * rng.standard_normal((n, d))
    X[:, :3] *= 300.0
    X[:, 3] += 1e3
    w = np.zeros(d)
    w[[0, 5, 9, 17]] = [0.004, 1.0, -0.8, 0.6]
    return X, (X @ w + rng.standard_normal(n) > 0).astype(int)
