"""Layer-wise sparsification: the η-energy rule of Algorithm 1 (paper §3.3, lines 6-14).

A probe's squared weights are the *energy* of its neurons. Sorted in descending order (ties
broken by neuron index), neurons are added one by one while the cumulative energy is still
``<= η·‖w‖²``; the neuron whose energy makes the sum *exceed* ``η·‖w‖²`` is the last one added.

Edge cases Algorithm 1 leaves open (its loop would run past the last neuron):

- no neuron makes the sum exceed ``η·‖w‖²`` (``η = 1``): every neuron with non-zero energy;
- all weights are zero: no neuron. A probe without signal (the all-zero model won on validation)
  contributes nothing to the aggregation.

``‖w‖²`` is the last element of the cumulative sum in descending order, so the threshold and
the running sum are rounded the same way.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def salient_neurons(coef: np.ndarray, eta: float) -> np.ndarray:
    """Salient neuron ids of one probe.

    Parameters
    ----------
    coef : array (d,) or (K, d)
        Probe weights; for K classes the importance of a neuron is its squared weights summed
        over the classes.
    eta : float in (0, 1]
        Share of the probe's energy the salient neurons must exceed.

    Returns
    -------
    ids : int64 array (k,), 0 <= k <= d (k = 0 only for all-zero weights)
        Neuron ids in descending importance (ties by ascending id).
    """
    coef = np.asarray(coef)
    if coef.ndim not in (1, 2):
        raise ValueError(f"coef must have shape (d,) or (K, d), got shape {coef.shape}")
    coefs = coef.reshape(1, coef.shape[0] if coef.ndim == 2 else 1, coef.shape[-1])
    return salient_sets(coefs, [eta])[0][0]


def salient_sets(coefs: np.ndarray, etas: Sequence[float]) -> list[list[np.ndarray]]:
    """Salient neuron ids for many probes (layers) and many thresholds at once.

    Parameters
    ----------
    coefs : array (P, K, d)
        Weights of P probes over the same d neurons (K = 1 for a binary probe).
    etas : sequence of E floats in (0, 1]

    Returns
    -------
    sets : list of P lists of E int64 arrays
        ``sets[p][e]`` is :func:`salient_neurons` ``(coefs[p], etas[e])``.
    """
    coefs = np.asarray(coefs)
    if coefs.ndim != 3 or coefs.shape[2] == 0:
        raise ValueError(f"coefs must have shape (P, K, d) with d >= 1, got shape {coefs.shape}")
    if not np.issubdtype(coefs.dtype, np.number) or np.iscomplexobj(coefs):
        raise ValueError(f"coefs must be real numbers, got dtype {coefs.dtype}")
    if not np.all(np.isfinite(coefs)):
        bad = sorted({int(p) for p in np.nonzero(~np.isfinite(coefs))[0]})
        raise ValueError(f"coefs contain NaN or infinite weights (probes {bad})")
    etas = [_checked_eta(eta) for eta in etas]

    importance = np.square(coefs.astype(np.float64)).sum(axis=1)  # (P, d)
    order = np.argsort(-importance, axis=1, kind="stable")  # (P, d)
    energy = np.cumsum(np.take_along_axis(importance, order, axis=1), axis=1)  # (P, d)
    total = energy[:, -1:]  # (P, 1)
    n_nonzero = np.count_nonzero(importance, axis=1)  # (P,)

    counts = []  # E arrays (P,)
    for eta in etas:
        before_crossing = np.count_nonzero(energy <= eta * total, axis=1)  # (P,)
        crossed = before_crossing < energy.shape[1]
        counts.append(np.where(crossed, before_crossing + 1, n_nonzero))
    return [[order[p, : int(count[p])].astype(np.int64) for count in counts]
            for p in range(coefs.shape[0])]


def _checked_eta(eta: float) -> float:
    try:
        value = float(eta)
    except (TypeError, ValueError):
        raise ValueError(f"eta must be a number in (0, 1], got {eta!r}") from None
    if not 0.0 < value <= 1.0:
        raise ValueError(f"eta must be in (0, 1], got {eta!r}")
    return value
