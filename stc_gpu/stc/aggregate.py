"""Cross-layer aggregation (paper §3.4): salient neurons of layers 0..L_temp, one L1 classifier each.

``L_temp`` is inclusive, as §3.4's formula has it (layers ``0..L_temp``, L_temp = 0..L for hidden
states, 0..L-1 for FFN activations); Algorithm 1's loop (``while l < L_temp``) reads exclusive.

For one η the aggregated matrix is built incrementally, layer after layer (never re-gathered per
L_temp); the classifiers for every L_temp are fitted as one batched problem, each seeing only its
own prefix of columns (the rest are zero, which an L1 fit leaves at zero weight). The labels of a
multi-label task share the slab reads (:func:`aggregate_labels`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from stc_gpu.metrics import classification_scores, metric_key
from stc_gpu.probe import L1LogisticRegression, alpha_from_sklearn_C, fit_path
from stc_gpu.stc.fit_options import FitOptions
from stc_gpu.stc.slabs import SplitRows, read_layer
from stc_gpu.stc.sparsify import salient_neurons


@dataclass(frozen=True)
class FeatureBlock:
    """The salient neurons ``ids`` (importance order) of one captured site ``kind.layer``."""

    kind: str
    layer: int
    ids: tuple[int, ...]


@dataclass
class AggCandidate:
    """One fitted aggregated classifier with its configuration and validation scores."""

    name: str                      # "hidden", "ffn" or "hidden+ffn"
    pool: str
    eta: float
    L_temp: int
    C: float
    blocks: list[FeatureBlock]
    estimator: object
    val_acc: float
    val_f1: float

    @property
    def n_features(self) -> int:
        return sum(len(b.ids) for b in self.blocks)


@dataclass
class AggSweep:
    """Validation rows of a sweep, its best candidate, and its best per ``(name, L_temp)``."""

    rows: list[dict] = field(default_factory=list)
    best: AggCandidate | None = None
    best_by_depth: dict[tuple[str, int], AggCandidate] = field(default_factory=dict)

    def offer(self, cand: AggCandidate, metric: str) -> None:
        """Keep ``cand`` as the best overall and/or the best of its ``(name, L_temp)``."""
        if better_candidate(cand, self.best, metric):
            self.best = cand
        depth = (cand.name, cand.L_temp)
        if better_candidate(cand, self.best_by_depth.get(depth), metric):
            self.best_by_depth[depth] = cand


def merge_best_by_depth(into: dict[tuple[str, int], AggCandidate],
                        other: dict[tuple[str, int], AggCandidate], metric: str) -> None:
    """Update ``into`` in place with the candidates of ``other`` that beat its own."""
    for depth, cand in other.items():
        if better_candidate(cand, into.get(depth), metric):
            into[depth] = cand


def best_within(by_depth: dict[tuple[str, int], AggCandidate], allowed, metric: str
                ) -> AggCandidate | None:
    """The best candidate of ``by_depth`` whose ``(name, L_temp)`` passes ``allowed(name, L_temp)``.

    Selection on validation with the sweep's own tie-breaking; None when nothing is allowed.
    """
    best = None
    for (name, L_temp), cand in sorted(by_depth.items()):
        if allowed(name, L_temp) and better_candidate(cand, best, metric):
            best = cand
    return best


def steps_for(name: str, layers: dict[str, list[int]]) -> list[tuple[int, list[tuple[str, int]]]]:
    """Aggregation steps ``(L_temp, [(kind, layer), ...])`` in depth order.

    One kind: one site per step. ``"hidden+ffn"``: step l holds hidden.l and ffn.l (hidden.L last).
    """
    if name != "hidden+ffn":
        return [(layer, [(name, layer)]) for layer in layers[name]]
    depth = sorted(set(layers["hidden"]) | set(layers["ffn"]))
    return [(l, [(k, l) for k in ("hidden", "ffn") if l in layers[k]]) for l in depth]


def better_candidate(cand: AggCandidate, best: AggCandidate | None, metric: str) -> bool:
    """Higher validation score wins; ties prefer fewer layers, then fewer features, then smaller C."""
    if best is None:
        return True
    key = f"val_{metric_key(metric)}"
    a, b = getattr(cand, key), getattr(best, key)
    if a != b:
        return a > b
    return (cand.L_temp, cand.n_features, cand.C) < (best.L_temp, best.n_features, best.C)


def aggregate(entry, name: str, pool: str, layers: dict[str, list[int]], coefs: dict,
              rows: SplitRows, etas, Cs, options: FitOptions = FitOptions(), *,
              on_fits=None) -> AggSweep:
    """Aggregate salient neurons for every η and L_temp of one (kind or kinds, pool).

    Parameters
    ----------
    coefs : dict (kind, layer) -> (K, units) weights of the chosen layer probe (the η rule squares
        and sums them over classes itself). A layer without signal (all-zero weights) adds no
        neuron; an L_temp whose layers 0..L_temp add none has no classifier.
    layers : dict kind -> captured layer indices.
    options, on_fits : as for :func:`aggregate_labels`.
    """
    return aggregate_labels(entry, name, pool, layers, [coefs], [rows], etas, Cs, options,
                            on_fits=on_fits)[0]


def aggregate_labels(entry, name: str, pool: str, layers: dict[str, list[int]],
                     label_coefs: Sequence[dict], label_rows: Sequence[SplitRows], etas, Cs,
                     options: FitOptions = FitOptions(), *, on_fits=None) -> list[AggSweep]:
    """:func:`aggregate` for several tasks on the same rows (the labels of a multi-label task):
    each site's slab is read once, and each task keeps the union of its own salient columns.

    ``label_coefs[t]`` and ``label_rows[t]`` are task t's probe weights and split rows (all with
    the same rows). ``options``: how every fit runs (:class:`~stc_gpu.stc.fit_options.FitOptions`);
    on_fits : optional callable(int) told how many (L_temp, C) fits each solver step finished.
    Returns one :class:`AggSweep` per task.
    """
    steps = steps_for(name, layers)
    sites = [site for _, group in steps for site in group]
    eta_ids = [{site: [salient_neurons(coefs[site], eta) for eta in etas] for site in sites}
               for coefs in label_coefs]
    # Read every site once; keep only the union of each task's salient columns over all η.
    unions = [{site: np.unique(np.concatenate(ids[site])) for site in sites} for ids in eta_ids]
    cols: list[dict] = [{} for _ in label_rows]
    for site in sites:
        X_train, X_val, _ = read_layer(entry, site[0], pool, site[1], label_rows[0])
        for task_cols, union in zip(cols, unions):
            task_cols[site] = (X_train[:, union[site]], X_val[:, union[site]])
        del X_train, X_val
    spec = _Sweep(name, pool, tuple(Cs),
                  tuple(alpha_from_sklearn_C(C, len(label_rows[0].train)) for C in Cs),
                  options, on_fits)
    return [_sweep_etas(spec, steps, ids, union, task_cols, rows, etas)
            for ids, union, task_cols, rows in zip(eta_ids, unions, cols, label_rows)]


@dataclass(frozen=True)
class _Sweep:
    """What every fit of one aggregation sweep shares: the (kind or kinds, pool) it aggregates,
    the C grid and its alphas, the fit options and the progress callback."""

    name: str
    pool: str
    Cs: tuple
    alphas: tuple
    options: FitOptions
    on_fits: object = None


def _sweep_etas(spec: _Sweep, steps, eta_ids, union, cols, rows: SplitRows, etas) -> AggSweep:
    """One task's sweep over η: for each, its salient columns of layers 0..L_temp, fitted per
    L_temp prefix. ``cols[site]`` holds (train, val) columns ``union[site]`` of each site. An η
    whose salient sets equal the previous η's (small η often keep one neuron per layer) reuses
    its fits: the problems are the same."""
    sweep = AggSweep()
    previous_blocks, fits = None, None
    for e, eta in enumerate(etas):
        blocks, train_parts, val_parts, widths = [], [], [], []
        for L_temp, group in steps:
            for site in group:
                ids = eta_ids[site][e]
                if len(ids) == 0:  # a layer without signal
                    continue
                pos = np.searchsorted(union[site], ids)
                train_parts.append(cols[site][0][:, pos])
                val_parts.append(cols[site][1][:, pos])
                blocks.append(FeatureBlock(site[0], site[1], tuple(int(i) for i in ids)))
            width = sum(p.shape[1] for p in train_parts)
            if width > 0:
                widths.append((L_temp, len(blocks), width))
        if not widths:
            continue
        if blocks != previous_blocks:
            fits = _fit_prefixes(spec, np.concatenate(train_parts, axis=1),
                                 np.concatenate(val_parts, axis=1), rows, widths)
        elif spec.on_fits is not None:  # reused fits still count as done
            spec.on_fits(len(widths) * len(spec.Cs))
        previous_blocks = blocks
        _offer(spec, sweep, eta, fits, blocks)
    return sweep


@dataclass(frozen=True)
class _PrefixFit:
    """The validation-chosen fit of one (L_temp prefix, C) of an η."""

    L_temp: int
    n_blocks: int
    width: int
    C: float
    estimator: L1LogisticRegression
    val_acc: float
    val_f1: float


def _fit_prefixes(spec: _Sweep, X_train, X_val, rows: SplitRows, widths) -> list[_PrefixFit]:
    """Fit one classifier per L_temp prefix of the aggregated columns, batched in groups.

    The prefixes share one copy of the columns (``fit_path(prefixes=...)``); ``widths`` holds
    ``(L_temp, n_blocks, width)`` per prefix.
    """
    per_problem = 4 * X_train.shape[1] * (X_train.shape[0] + X_val.shape[0])
    group = max(1, int(spec.options.max_batch_bytes // max(per_problem, 1)))
    fits = []
    for start in range(0, len(widths), group):
        chunk = widths[start:start + group]
        top = chunk[-1][2]  # the widest prefix of the chunk
        result = fit_path(X_train[:, :top], rows.y_train, list(spec.alphas),
                          eval_set=(X_val[:, :top], rows.y_val),
                          prefixes=[w for _, _, w in chunk], on_fits=spec.on_fits,
                          **spec.options.path_keywords())
        for p, (L_temp, n_blocks, width) in enumerate(chunk):
            for a, C in enumerate(spec.Cs):
                val = classification_scores(rows.y_val, result.classes[result.best_val_pred[p, a]])
                fits.append(_PrefixFit(int(L_temp), n_blocks, int(width), float(C),
                                       L1LogisticRegression.from_path(result, p, a, best=True),
                                       val["acc"], val["f1"]))
    return fits


def _offer(spec: _Sweep, sweep: AggSweep, eta: float, fits: list[_PrefixFit], blocks) -> None:
    """The fits of one η as candidates of ``sweep``, and as its validation rows."""
    for fit in fits:
        chosen = blocks[:fit.n_blocks]
        cand = AggCandidate(spec.name, spec.pool, float(eta), fit.L_temp, fit.C, chosen,
                            fit.estimator, fit.val_acc, fit.val_f1)
        sweep.rows.append({
            "kind": spec.name, "pool": spec.pool, "eta": float(eta), "L_temp": fit.L_temp,
            "C": fit.C, "n_features": fit.width, "n_layers": len({b.layer for b in chosen}),
            "val_acc": fit.val_acc, "val_f1": fit.val_f1,
            "n_iter": int(fit.estimator.n_iter_[0])})
        sweep.offer(cand, metric=spec.options.metric)
