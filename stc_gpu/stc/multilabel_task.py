"""A multi-label task end to end: one split, one search over every label, one report.

Every label is a binary task (does it apply?) on the same train / validation / test rows. The
search reads each slab once for all labels (:func:`stc_gpu.stc.pipeline.search_labels`), each
label selects its own probe and aggregation on validation, and the test split is scored once per
label and approach, then over the label sets: micro- and macro-F1 and subset accuracy
(:func:`stc_gpu.metrics.multilabel_scores`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from stc_gpu.config import STCConfig
from stc_gpu.data.label_sets import (LabelSets, check_label_sets, check_splits, label_counts,
                                     split_label_sets)
from stc_gpu.metrics import multilabel_scores
from stc_gpu.report.tables import APPROACHES
from stc_gpu.stc import pipeline
from stc_gpu.stc.multilabel import MultiLabelSTC, label_folders
from stc_gpu.stc.slabs import CachedSlabs, SplitRows

#: Per-label result keys that the task's results hold once for all labels.
_SHARED = ("splits", "timings")
#: The task's result keys that only a multi-label task has (a label's page leaves them out).
_MULTI_LABEL_ONLY = ("multi_label", "labels", "label_separator", "label_counts", "scores",
                     "per_label", "report")


def label_sets(values: Iterable, config: STCConfig, names: Sequence[str] | None = None
               ) -> LabelSets:
    """The checked label sets of ``values`` (one per row, see
    :func:`~stc_gpu.data.label_sets.parse_label_sets`; text split at
    ``config.label_separator``)."""
    labels = LabelSets.from_sets(values, names, separator=config.label_separator)
    check_label_sets(labels)
    return labels


def split_labels(labels: LabelSets, config: STCConfig, split_values=None):
    """The rows every label shares (as :func:`stc_gpu.stc.pipeline.split_rows` draws them),
    checked so that each label has rows in train, validation and test."""
    splits = split_label_sets(labels, val_fraction=config.val_fraction,
                              test_fraction=pipeline.carved_test_fraction(config, split_values),
                              given=split_values, seed=config.seed)
    check_splits(labels, splits)
    return splits


def fit_multilabel_task(entry, labels: LabelSets, config: STCConfig, *, split_values=None,
                        model_identity=None, executor=None, show_progress: bool = True,
                        device: str | None = None):
    """:func:`stc_gpu.stc.pipeline.fit_task` for a multi-label task.

    Returns ``(classifier, results, rows)``: the :class:`MultiLabelSTC`, a JSON-able dict (the
    labels, the shared splits, ``label_counts`` per split, ``scores`` of each approach on the
    test label sets, and ``per_label`` each label's own results as ``fit_task`` gives them) and
    the split rows, whose labels are the (n_split, L) indicator columns.
    """
    if labels.n_rows != entry.n_rows:
        raise ValueError(f"{labels.n_rows} label sets for {entry.n_rows} stored texts: they "
                         "must match")
    check_label_sets(labels)
    splits = split_labels(labels, config, split_values)
    rows = SplitRows.from_labels(labels.Y.astype(np.int64), splits.train, splits.val,
                                 splits.test)
    tasks = [rows.task(j) for j in range(len(labels.names))]
    found = pipeline.search_labels(entry, tasks, config, executor=executor,
                                   show_progress=show_progress, device=device)
    identity = model_identity or entry.metadata.get("model", {})
    slabs = CachedSlabs(entry)
    estimators, per_label, predictions = [], {}, []
    for name, task, res in zip(labels.names, tasks, found):
        clf, results, pred = pipeline.task_results(slabs, res, task, splits, [0, 1], identity,
                                                   config)
        estimators.append(clf)
        per_label[name] = {k: v for k, v in results.items() if k not in _SHARED}
        predictions.append(pred)
    approaches = [a for a, _ in APPROACHES if all(a in p for p in predictions)]
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
    return MultiLabelSTC.from_estimators(labels.names, estimators, config), results, rows


def _merged_notes(per_label: dict) -> list[str]:
    """Each label's notes once: plain when every label has it, else after the labels' names."""
    having: dict[str, list[str]] = {}
    for name, results in per_label.items():
        for note in results["notes"]:
            having.setdefault(note, []).append(name)
    return [note if len(names) == len(per_label) else f"{', '.join(names)}: {note}"
            for note, names in having.items()]


def write_report(task_dir: Path, results: dict, clf: MultiLabelSTC, entry, rows: SplitRows, *,
                 data, config: STCConfig, extractor=None) -> None:
    """results.json, table.md (per label and over the label sets), report.html (linking each
    label's) and the classifier into ``task_dir``; each label's plots and report.html (with its
    explained test texts, read from ``data``) into ``task_dir/labels/<label>/``."""
    from stc_gpu.report.html import multilabel_report_html
    from stc_gpu.report.tables import multilabel_markdown, write_results_json, write_text_atomic
    from stc_gpu.stc.examples import report_examples

    task_dir.mkdir(parents=True, exist_ok=True)
    clf.save(task_dir / "classifier")
    slabs = CachedSlabs(entry)
    shared = {k: v for k, v in results.items() if k not in _MULTI_LABEL_ONLY}
    pages = {}
    for j, (name, folder) in enumerate(zip(results["labels"], label_folders(results["labels"]))):
        page = {**shared, **results["per_label"][name], "task": f"{results.get('task')}: {name}"}
        examples = report_examples(clf.estimators_[j], slabs, rows.task(j), data,
                                   text_column=config.text_column, max_texts=config.max_texts,
                                   extractor=extractor)
        pipeline.write_pages(task_dir / "labels" / folder, page, clf.estimators_[j], slabs,
                             rows.task(j), examples)
        results["per_label"][name].update(plots=page["plots"], report=page["report"])
        pages[name] = f"labels/{folder}/report.html"
    results["report"] = str(write_text_atomic(task_dir / "report.html", multilabel_report_html(
        results, config=config.to_dict(), label_pages=pages)))
    write_results_json(task_dir / "results.json", results)
    (task_dir / "table.md").write_text(multilabel_markdown(results))
