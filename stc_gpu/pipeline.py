"""``stc-gpu run`` as one call: extract (or reuse) -> select every task -> estimate -> report.

The orchestration above the core: it reads the data's labels, extracts once
(:func:`stc_gpu.extract.configured.extract`), selects each task on validation
(:func:`stc_gpu.stc.selection.select_task`, or the multi-label one), builds the classifiers
(:meth:`STCClassifier.from_candidate`) and writes their reports (:mod:`stc_gpu.report`).

Python API: :func:`run` (what ``stc-gpu run`` does), :func:`extract`, :func:`fit_task` (one task
on a store entry, to its classifier) and :func:`demo_data_path`.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from stc_gpu.config import STCConfig
from stc_gpu.data.demo import demo_data_path
from stc_gpu.extract.configured import extract
from stc_gpu.report.tables import write_results_json
from stc_gpu.stc.classifier import STCClassifier
from stc_gpu.stc.fit_options import fit_device
from stc_gpu.stc.multilabel import MultiLabelSTC
from stc_gpu.stc.selection import model_identity_of, select_task, split_rows
from stc_gpu.stc.slabs import SplitRows
from stc_gpu.executors import executor_for
from stc_gpu.vocabulary import DEFAULT_BLOCK_ROWS

__all__ = ["run", "extract", "fit_task", "fit_multilabel_task", "demo_data_path"]


def fit_task(entry, labels, config: STCConfig, *, model_identity=None, **options):
    """Run the method for one task on a store entry: :func:`~stc_gpu.stc.selection.select_task`
    (same keywords), then its classifier.

    Returns ``(classifier, results, rows)``: the selected :class:`STCClassifier`, the task's
    JSON-able results and the split rows.
    """
    agg, results, rows = select_task(entry, labels, config, model_identity=model_identity,
                                     **options)
    identity = model_identity_of(entry, model_identity)
    return STCClassifier.from_candidate(agg, results["classes"], identity, config), results, rows


def fit_multilabel_task(entry, labels, config: STCConfig, *, model_identity=None, **options):
    """:func:`fit_task` for a multi-label task (``labels`` a
    :class:`~stc_gpu.data.label_sets.LabelSets`): ``(MultiLabelSTC, results, rows)``."""
    from stc_gpu.stc.multilabel_task import select_multilabel_task

    candidates, results, rows = select_multilabel_task(entry, labels, config,
                                                       model_identity=model_identity, **options)
    identity = model_identity_of(entry, model_identity)
    return MultiLabelSTC.from_candidates(labels.names, candidates, identity, config), results, rows


def run(config: STCConfig, *, show_progress: bool = True) -> dict:
    """``stc-gpu run``: the whole pipeline for every label column; writes the report to ``out``.

    Returns ``{task: results}``. Layout of ``config.out``: ``config.json``, ``extraction.json`` and
    per task ``report.html``, ``results.json``, ``table.md``, ``classifier/`` and the PNG plots
    (in ``<task>/`` sub-folders when there are several label columns); a multi-label task has
    its ``results.json``, ``table.md`` and ``classifier/`` there and each label's
    ``report.html`` and plots in ``labels/<label>/``.
    """
    from stc_gpu.data.readers import read_column

    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    data = config.data or demo_data_path()
    # Read and split the labels first: a bad label column fails before any forward pass.
    rows = slice(None, config.max_texts)
    split_values = read_column(data, config.split_column)[rows] if config.split_column else None
    labels = {col: _task_labels(data, col, config, rows, split_values)
              for col in config.label_columns}
    t0 = time.perf_counter()
    entry, summary, extractor = extract(config, show_progress=show_progress)
    extraction_s = time.perf_counter() - t0
    config.save(out / "config.json")
    write_results_json(out / "extraction.json", summary.to_dict())
    identity = extractor.describe()
    lengths = token_lengths(extractor, data, config)
    all_results = {}
    with executor_for(config, fit_device(config, extractor)) as executor:
        for task, y in labels.items():
            all_results[task] = _run_task(task, y, out / task if len(labels) > 1 else out, entry,
                                          summary, extractor, identity, lengths, data,
                                          extraction_s, split_values, config, executor,
                                          show_progress)
    return all_results


def _task_labels(data, column: str, config: STCConfig, rows: slice, split_values):
    """The labels of one task, (n,) values or a :class:`~stc_gpu.data.label_sets.LabelSets`
    (``config.multi_label``), checked and split once so that bad labels fail here."""
    from stc_gpu.data.readers import read_column, read_raw_column, source_name
    from stc_gpu.stc import multilabel_task

    try:
        if not config.multi_label:
            y = read_column(data, column)[rows]
            split_rows(y, config, split_values)
            return y
        y = multilabel_task.label_sets(read_raw_column(data, column, as_text=True)[rows], config)
        multilabel_task.split_labels(y, config, split_values)
        return y
    except ValueError as err:
        if str(err).startswith(source_name(data)):  # the reader's message names the file
            raise
        raise ValueError(f"label column {column!r}: {err}") from None


def _run_task(task, y, task_dir, entry, summary, extractor, identity, lengths, data,
              extraction_s, split_values, config, executor, show_progress) -> dict:
    """Fit one task, estimate its cost and write its report; returns its results."""
    from stc_gpu.data.label_sets import LabelSets

    multi = isinstance(y, LabelSets)
    t0 = time.perf_counter()
    fit = fit_multilabel_task if multi else fit_task
    clf, results, rows = fit(entry, y, config, split_values=split_values, model_identity=identity,
                             executor=executor, show_progress=show_progress,
                             device=fit_device(config, extractor))
    results.update(task=task, model=config.model, dataset=Path(data).name,
                   store_entry=str(entry.path), extraction=summary.to_dict(),
                   truncation=truncation_record(lengths, extractor.max_length, rows))
    results["timings"].update(extraction_s=extraction_s, fit_s=time.perf_counter() - t0)
    mean_tokens = float(np.minimum(lengths, extractor.max_length).mean())
    per_task = list(results["per_label"].values()) if multi else [results]
    results["flops"] = {**_estimate_flops(extractor, mean_tokens, entry, per_task),
                        "model": config.model}
    _write_task_report(task_dir, results, clf, entry, rows, data, config, extractor, multi)
    return results


def _write_task_report(task_dir, results, clf, entry, rows, data, config, extractor, multi):
    """The report of one task (its explained test texts read from ``data``)."""
    from stc_gpu.stc.examples import report_examples

    def examples(estimator, source, task_rows):
        return report_examples(estimator, source, task_rows, data, text_column=config.text_column,
                               max_texts=config.max_texts, extractor=extractor)

    if not multi:
        from stc_gpu.report.task_report import write_report

        write_report(task_dir, results, clf, entry, rows, examples(clf, entry, rows))
        return
    from stc_gpu.report.multilabel_report import write_multilabel_report
    from stc_gpu.stc.multilabel import label_folders
    from stc_gpu.stc.slabs import CachedSlabs

    slabs = CachedSlabs(entry)
    write_multilabel_report(
        task_dir, results, clf, slabs, rows, folders=label_folders(results["labels"]),
        examples=[examples(est, slabs, rows.task(j)) for j, est in enumerate(clf.estimators_)],
        config=config.to_dict())


def token_lengths(extractor, data, config: STCConfig,
                  block_rows: int = DEFAULT_BLOCK_ROWS) -> np.ndarray:
    """(n_texts,) int64 tokens of every text *before* truncation, at most ``max_length + 1``
    (one more than the extractor keeps, so a count above ``max_length`` means "was cut")."""
    from stc_gpu.data.readers import iter_text_blocks
    from stc_gpu.extract.batching import tokenize

    limit = extractor.max_length + 1
    blocks = iter_text_blocks(data, block_rows, text_column=config.text_column,
                              max_texts=config.max_texts)
    return np.concatenate([tokenize(extractor.tokenizer, texts, limit).lengths
                           for texts in blocks] or [np.zeros(0, np.int64)])


def truncation_record(lengths: np.ndarray, max_length: int, rows: SplitRows) -> dict:
    """How many texts were cut at ``max_length`` tokens, in all and per split (JSON-able)."""
    cut = lengths > max_length
    return {"max_length": int(max_length), "texts": int(cut.size), "truncated": int(cut.sum()),
            "by_split": {name: int(cut[getattr(rows, name)].sum())
                         for name in ("train", "val", "test")}}


def _estimate_flops(extractor, mean_tokens: float, entry, tasks: list[dict]) -> dict:
    """The cost model's estimate for this run vs fine-tuning the same model for one epoch.

    ``tasks``: the results of every fitted task (one, or one per label of a multi-label task),
    whose probe and aggregation fits all count.
    """
    from stc_gpu.cost import estimate_run_flops

    probes = [r for t in tasks for r in t["probes"]]
    agg = [r for t in tasks for r in t["aggregation"]]
    widths = {"hidden": extractor.units.get("hidden"), "ffn": extractor.units.get("ffn")}
    return estimate_run_flops(
        extractor.model.config, n_train_texts=tasks[0]["n"]["train"], mean_tokens=mean_tokens,
        n_probe_fits=len(probes), n_agg_fits=len(agg), n_extracted_texts=entry.n_rows,
        probe_width=float(np.mean([widths[r["kind"]] for r in probes])),
        agg_width=float(np.mean([r["n_features"] for r in agg])),
        lr_iterations=float(np.mean([r["n_iter"] for r in probes + agg])) or 1.0,
        n_classes=len(tasks[0]["classes"]))
