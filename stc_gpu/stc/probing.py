"""Layer-wise probing: L1 logistic probes for every layer of one (kind, pool), over a grid of C.

All layers of a (kind, pool) are fitted as one batched problem (they share labels), in groups
bounded by ``max_batch_bytes``; every (layer, C) fit is scored on the validation split and the
best C per layer is kept for sparsification (never "whichever C finished last"). The labels of a
multi-label task share the slabs and the batch (:func:`probe_labels`). A layer whose
chosen probe has no non-zero weight has no signal: it contributes no neurons (``no_signal``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from stc_gpu.metrics import classification_scores, metric_key
from stc_gpu.probe import L1LogisticRegression, alpha_from_sklearn_C, fit_path
from stc_gpu.stc.fit_options import FitOptions
from stc_gpu.stc.slabs import SplitRows, read_layer


@dataclass
class LayerProbe:
    """The validation-chosen probe of one (kind, pool, layer)."""

    kind: str
    pool: str
    layer: int
    C: float
    estimator: object          # fitted stc_gpu.probe.L1LogisticRegression
    val_score: float

    @property
    def coef(self) -> np.ndarray:
        """(K, d) standardized weights (K = 1 for binary): what the η rule ranks."""
        return np.atleast_2d(np.asarray(self.estimator.coef_, dtype=np.float64))


@dataclass
class ProbeSweep:
    """Every fit's record (``rows``), the chosen probe per layer (``chosen[layer]``) and the
    layers whose chosen probe is all zeros (``no_signal``)."""

    rows: list[dict] = field(default_factory=list)
    chosen: dict[int, LayerProbe] = field(default_factory=dict)
    no_signal: list[int] = field(default_factory=list)


def _select(scores: np.ndarray, Cs) -> int:
    """Index of the best validation score; ties go to the smaller C (the sparser probe)."""
    order = np.argsort(np.asarray(Cs), kind="stable")
    best = order[np.argmax(scores[order])]
    return int(best)


def probe_kind_pool(entry, kind: str, pool: str, layers, rows: SplitRows, Cs,
                    options: FitOptions = FitOptions(), *, on_fits=None
                    ) -> ProbeSweep:
    """Fit probes for ``layers`` of (kind, pool) over the ``Cs`` grid (scikit-learn units).

    Parameters
    ----------
    entry : store entry with ``features(kind, pool, layer) -> (n_rows, units)``.
    rows : the split rows and labels; only train rows are fitted, val rows scored.
    Cs : strengths in scikit-learn's ``C`` units; converted with the train size.
    options, on_fits : as for :func:`probe_labels`.
    """
    return probe_labels(entry, kind, pool, layers, [rows], Cs, options, on_fits=on_fits)[0]


def probe_labels(entry, kind: str, pool: str, layers, label_rows: Sequence[SplitRows], Cs,
                 options: FitOptions = FitOptions(), *, on_fits=None) -> list[ProbeSweep]:
    """:func:`probe_kind_pool` for several tasks on the same rows (the labels of a multi-label
    task): each layer's slab is read once and fitted for every task in ``label_rows`` (one
    :class:`SplitRows` per task, all with the same train / val / test rows); binary tasks are
    solved in one batch with the layers (:func:`~stc_gpu.probe.fit_path` with (n, T) labels).

    options : how every fit runs (:class:`~stc_gpu.stc.fit_options.FitOptions`).
    on_fits : optional callable(int) told how many (layer, C) fits each solver step finished.
    Returns one :class:`ProbeSweep` per task, in ``label_rows`` order.
    """
    rows = _shared_rows(label_rows)
    sweeps = [ProbeSweep() for _ in label_rows]
    n_train = len(rows.train)
    alphas = [alpha_from_sklearn_C(C, n_train) for C in Cs]
    layers = list(layers)
    units = entry.units(kind)
    per_layer_bytes = 4 * units * (n_train + len(rows.val))
    group = max(1, int(options.max_batch_bytes // max(per_layer_bytes, 1)))
    fit = dict(options.path_keywords(), on_fits=on_fits)
    metric = options.metric
    for start in range(0, len(layers), group):
        chunk = layers[start:start + group]
        slabs = [read_layer(entry, kind, pool, layer, rows)[:2] for layer in chunk]
        X_train = np.stack([s[0] for s in slabs])
        X_val = np.stack([s[1] for s in slabs])
        if len(label_rows) > 1 and all(_binary(task) for task in label_rows):
            # binary tasks: one batched solve of every (layer, task), problem p T + t
            Y_train = np.stack([task.y_train for task in label_rows], axis=1)
            Y_val = np.stack([task.y_val for task in label_rows], axis=1)
            result = fit_path(X_train, Y_train, alphas, eval_set=(X_val, Y_val), **fit)
            for t, (sweep, task) in enumerate(zip(sweeps, label_rows)):
                _record(sweep, result, chunk, task, kind, pool, Cs, alphas, metric,
                        problems=[p * len(label_rows) + t for p in range(len(chunk))])
            continue
        for sweep, task in zip(sweeps, label_rows):
            result = fit_path(X_train, task.y_train, alphas, eval_set=(X_val, task.y_val), **fit)
            _record(sweep, result, chunk, task, kind, pool, Cs, alphas, metric)
    return sweeps


def _binary(rows: SplitRows) -> bool:
    """Whether the task's labels are 0/1 with both in its train rows."""
    return bool(np.isin(rows.y_train, (0, 1)).all() and np.unique(rows.y_train).size == 2
                and np.isin(rows.y_val, (0, 1)).all())


def _shared_rows(label_rows: Sequence[SplitRows]) -> SplitRows:
    """The first of ``label_rows``, after checking that every one has the same rows."""
    first = label_rows[0]
    for other in label_rows[1:]:
        if not all(np.array_equal(getattr(first, name), getattr(other, name))
                   for name in ("train", "val", "test")):
            raise ValueError("the tasks of one sweep must share their train/val/test rows")
    return first


def _record(sweep: ProbeSweep, result, chunk, rows: SplitRows, kind, pool, Cs, alphas,
            metric, problems=None) -> None:
    """Every (layer, C) fit of ``result`` into ``sweep``, and the chosen probe per layer
    (layer i of ``chunk`` is problem ``problems[i]`` of the result, default i)."""
    for p, layer in zip(problems or range(len(chunk)), chunk):
        scores = np.empty(len(Cs))
        estimators = []
        for a, C in enumerate(Cs):
            est = L1LogisticRegression.from_path(result, p, a, best=True)
            val = classification_scores(rows.y_val, result.classes[result.best_val_pred[p, a]])
            scores[a] = val[metric_key(metric)]
            estimators.append(est)
            coef = np.atleast_2d(est.coef_)
            sweep.rows.append({
                "kind": kind, "pool": pool, "layer": int(layer), "C": float(C),
                "alpha": float(alphas[a]),
                "val_acc": float(val["acc"]),
                "val_f1": float(val["f1"]),
                "nnz": int(np.count_nonzero(np.any(coef != 0, axis=0))),
                "n_iter": int(est.n_iter_[0]),
            })
        best = _select(scores, Cs)
        sweep.chosen[int(layer)] = LayerProbe(kind, pool, int(layer), float(Cs[best]),
                                              estimators[best], float(scores[best]))
        if not np.any(estimators[best].coef_):
            sweep.no_signal.append(int(layer))
