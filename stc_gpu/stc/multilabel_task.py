"""A multi-label task up to its selection: one split, one search over every label.

Every label is a binary task (does it apply?) on the same train / validation / test rows. The
search reads each slab once for all labels (:func:`stc_gpu.stc.search.search_labels`), each
label selects its own probe and aggregation on validation, and the test split is scored once per
label and approach, then over the label sets: micro- and macro-F1 and subset accuracy
(:func:`stc_gpu.metrics.multilabel_scores`).
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from stc_gpu.config import STCConfig
from stc_gpu.data.label_sets import (LabelSets, check_label_sets, check_splits, label_counts,
                                     split_label_sets)
from stc_gpu.metrics import multilabel_scores
from stc_gpu.stc.search import search_labels
from stc_gpu.stc.selection import carved_test_fraction, model_identity_of, task_results
from stc_gpu.stc.slabs import CachedSlabs, SplitRows

#: Per-label result keys that the task's results hold once for all labels.
_SHARED = ("splits", "timings")


def label_sets(values: Iterable, config: STCConfig, names: Sequence[str] | None = None
               ) -> LabelSets:
    """The checked label sets of ``values`` (one per row, see
    :func:`~stc_gpu.data.label_sets.parse_label_sets`; text split at
    ``config.label_separator``)."""
    labels = LabelSets.from_sets(values, names, separator=config.label_separator)
    check_label_sets(labels)
    return labels


def split_labels(labels: LabelSets, config: STCConfig, split_values=None):
    """The rows every label shares (as :func:`stc_gpu.stc.selection.split_rows` draws them),
    checked so that each label has rows in train, validation and test."""
    splits = split_label_sets(labels, val_fraction=config.val_fraction,
                              test_fraction=carved_test_fraction(config, split_values),
                              given=split_values, seed=config.seed)
    check_splits(labels, splits)
    return splits


def select_multilabel_task(entry, labels: LabelSets, config: STCConfig, *, split_values=None,
                           model_identity=None, executor=None, show_progress: bool = True,
                           device: str | None = None):
    """:func:`stc_gpu.stc.selection.select_task` for a multi-label task.

    Returns ``(candidates, results, rows)``: the selected aggregated candidate of each label (in
    ``labels.names`` order; :meth:`MultiLabelSTC.from_candidates` builds the classifier), a
    JSON-able dict (the labels, the shared splits, ``label_counts`` per split, ``scores`` of each
    approach on the test label sets, and ``per_label`` each label's own results as
    ``select_task`` gives them) and the split rows, whose labels are the (n_split, L) indicator
    columns.
    """
    if labels.n_rows != entry.n_rows:
        raise ValueError(f"{labels.n_rows} label sets for {entry.n_rows} stored texts: they "
                         "must match")
    check_label_sets(labels)
    splits = split_labels(labels, config, split_values)
    rows = SplitRows.from_labels(labels.Y.astype(np.int64), splits.train, splits.val,
                                 splits.test)
    tasks = [rows.task(j) for j in range(len(labels.names))]
    found = search_labels(entry, tasks, config, executor=executor, show_progress=show_progress,
                          device=device)
    identity = model_identity_of(entry, model_identity)
    slabs = CachedSlabs(entry)
    per_label, predictions = {}, []
    for name, task, res in zip(labels.names, tasks, found):
        results, pred = task_results(slabs, res, task, splits, [0, 1], identity, config)
        per_label[name] = {k: v for k, v in results.items() if k not in _SHARED}
        predictions.append(pred)
    approaches = [a for a in predictions[0] if all(a in p for p in predictions)]
    results = {
        "multi_label": True,
        "metric": config.metric,
        "labels": list(labels.names),
        "label_separator": config.label_separator,
        "splits": splits.to_json(),
        "n": {"train": len(rows.train), "val": len(rows.val), "test": len(rows.test)},
        "label_counts": label_counts(labels, splits),
        "scores": {a: multilabel_scores(rows.y_test, np.stack([p[a] for p in predictions], 1),
                                        labels.names) for a in approaches},
        "per_label": per_label,
        "timings": dict(found[0].timings),
        "notes": _merged_notes(per_label),
    }
    return [res.best_agg for res in found], results, rows


def _merged_notes(per_label: dict) -> list[str]:
    """Each label's notes once: plain when every label has it, else after the labels' names."""
    having: dict[str, list[str]] = {}
    for name, results in per_label.items():
        for note in results["notes"]:
            having.setdefault(note, []).append(name)
    return [note if len(names) == len(per_label) else f"{', '.join(names)}: {note}"
            for note, names in having.items()]
