"""One task from labels to its selected candidate: split, search, then score the test split once.

:func:`select_task` is what :meth:`STCClassifier.fit` and ``stc-gpu run`` call; it returns the
selected aggregated candidate (:class:`~stc_gpu.stc.aggregate.AggCandidate`), from which
:meth:`STCClassifier.from_candidate` builds the classifier. The test split is scored here, once,
after selection: the two references (Embedding and the model's own pooling,
:mod:`stc_gpu.stc.baseline`), the best Probe and Agg.
"""
from __future__ import annotations

import numpy as np

from stc_gpu.config import STCConfig
from stc_gpu.metrics import score
from stc_gpu.stc.records import best_per_layer
from stc_gpu.stc.baseline import own_pooling_rule, reference_rows
from stc_gpu.stc.features import head_input_from_entry
from stc_gpu.stc.search import SearchResult, search
from stc_gpu.stc.slabs import SplitRows, read_layer


def split_rows(labels, config: STCConfig, split_values=None):
    """Encode labels and split (stratified, recorded seed); returns (encoder, SplitRows, splits).

    A split column (``split_values``) with test rows keeps them: ``config.test_fraction`` only
    carves a test split when the column has none. Drawn splits need
    :data:`~stc_gpu.data.splits.MIN_SPLIT_ROWS` rows of each class (an error naming the class).
    """
    from stc_gpu.data.labels import LabelEncoder
    from stc_gpu.data.splits import MIN_SPLIT_ROWS, make_splits

    encoder = LabelEncoder.fit(labels)
    y = encoder.encode(labels)
    if split_values is None:
        counts = np.bincount(y, minlength=encoder.n_classes)
        small = [(c, int(k)) for c, k in zip(encoder.classes, counts) if k < MIN_SPLIT_ROWS]
        if small:
            raise ValueError(
                f"class {small[0][0]!r} has only {small[0][1]} row(s); a train/validation/test "
                f"split needs at least {MIN_SPLIT_ROWS} of each class: add rows of it, or drop "
                "or merge it" + (f" (also: {', '.join(repr(c) for c, _ in small[1:])})"
                                 if len(small) > 1 else ""))
    splits = make_splits(y, val_fraction=config.val_fraction,
                         test_fraction=carved_test_fraction(config, split_values),
                         given=split_values, seed=config.seed)
    return encoder, SplitRows.from_labels(y, splits.train, splits.val, splits.test), splits


def carved_test_fraction(config: STCConfig, split_values=None) -> float | None:
    """The share of rows to carve as test: None when the split column has test rows."""
    given_test = split_values is not None and any(
        str(v).strip().lower() == "test" for v in split_values)
    return None if given_test else config.test_fraction


def model_identity_of(entry, given: dict | None = None) -> dict:
    """The identity of the model ``entry``'s features come from: ``given`` (an extractor's
    ``describe()``) when there is one, else what the entry recorded (``metadata["model"]``)."""
    return given or entry.metadata.get("model", {})


def select_task(entry, labels, config: STCConfig, *, split_values=None, model_identity=None,
                executor=None, show_progress: bool = True, device: str | None = None):
    """Run the method for one task on a store entry, up to its selected candidate.

    ``device``: where the probes and the aggregation run (default
    :func:`~stc_gpu.stc.fit_options.fit_device` of ``config``). Returns ``(agg, results, rows)``:
    the selected :class:`~stc_gpu.stc.aggregate.AggCandidate`, a JSON-able dict with every
    configuration's validation scores, the selection and the test scores of the references
    (``embedding``, ``own_pooling``), the best Probe and Agg., and the split rows.
    """
    labels = np.asarray(labels)
    if len(labels) != entry.n_rows:
        raise ValueError(f"{len(labels)} labels for {entry.n_rows} stored texts: they must match")
    encoder, rows, splits = split_rows(labels, config, split_values)
    found = search(entry, rows, config, executor=executor, show_progress=show_progress,
                   device=device)
    results, _ = task_results(entry, found, rows, splits, encoder.classes,
                              model_identity_of(entry, model_identity), config)
    return found.best_agg, results, rows


def _test_scores(y_true, pred) -> dict:
    return {"test_acc": score(y_true, pred, "accuracy"), "test_f1": score(y_true, pred, "macro_f1")}


def task_results(entry, found: SearchResult, rows: SplitRows, splits, classes, identity: dict,
                 config: STCConfig):
    """The results of one searched task and its test predictions.

    The test split is scored here, once, after selection: the references (``embedding``,
    ``own_pooling``), the best Probe and Agg. Returns ``(results, predictions)``; ``predictions``
    maps each of those approaches to its (n_test,) predicted class codes.
    """
    probe = found.best_probe
    _, _, X_test = read_layer(entry, probe.kind, probe.pool, probe.layer, rows)
    probe_pred = probe.estimator.predict(X_test)
    probe_sel = {"kind": probe.kind, "pool": probe.pool, "layer": probe.layer, "C": probe.C,
                 "val_score": probe.val_score, **_test_scores(rows.y_test, probe_pred)}
    agg = found.best_agg
    agg_pred = agg.estimator.predict(head_input_from_entry(entry, agg.blocks, agg.pool,
                                                           rows.test))
    agg_sel = {"kind": agg.name, "pool": agg.pool, "eta": agg.eta, "L_temp": agg.L_temp,
               "C": agg.C, "n_features": agg.n_features, "val_acc": agg.val_acc,
               "val_f1": agg.val_f1, **_test_scores(rows.y_test, agg_pred)}
    references, notes = reference_rows(entry, rows, config.C_grid, _own_pooling(identity, config),
                                       metric=config.metric, seed=config.seed)
    predictions = {name: row.pop("test_pred") for name, row in references.items()}
    predictions.update(probe=probe_pred, agg=agg_pred)
    selection = {**references, "probe": probe_sel, "agg": agg_sel}
    if found.no_signal:
        notes.append("no signal (the all-zero probe scored best on validation), so no neurons "
                     "aggregated from: " + ", ".join(found.no_signal))
    results = {
        "metric": config.metric,
        "classes": list(classes),
        "splits": splits.to_json(),
        "n": {"train": len(rows.train), "val": len(rows.val), "test": len(rows.test)},
        "probes": found.probe_rows,
        "probe_best": best_per_layer(found.probe_rows, config.metric),
        "aggregation": found.agg_rows,
        "selection": selection,
        "timings": found.timings,
        "notes": notes,
    }
    return results, predictions


def _own_pooling(identity: dict, config: STCConfig):
    """The own-pooling rule of the model ``identity`` describes (an extractor's ``describe()``)."""
    from stc_gpu.models.sentence_pooling import declared_pooling

    name = identity.get("model_name") or config.model
    return own_pooling_rule(declared_pooling(name, revision=identity.get("revision")),
                            identity.get("family", ""))
