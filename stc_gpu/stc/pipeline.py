"""The whole method as one call: extract (or reuse) -> probe -> sparsify -> aggregate -> report.

``run(config)`` is what ``stc-gpu run`` does; ``fit_task`` fits one task on a store entry and
:meth:`STCClassifier.fit` wraps it for texts.
Every hyper-parameter (kind, pool, layer, C, η, L_temp) is chosen on the validation split; the test
split is scored once, at the end, for the selected models: the two references (Embedding and the
model's own pooling, :mod:`stc_gpu.stc.baseline`), the best Probe and Agg.
"""
from __future__ import annotations

import contextlib
import importlib.resources
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stc_gpu.config import STCConfig
from stc_gpu.metrics import metric_key, score
from stc_gpu.stc.aggregate import (AggCandidate, better_candidate, merge_best_by_depth,
                                   steps_for)
from stc_gpu.stc.baseline import own_pooling_rule, reference_rows
from stc_gpu.stc.classifier import STCClassifier
from stc_gpu.stc.examples import report_examples
from stc_gpu.stc.probing import LayerProbe
from stc_gpu.stc.slabs import SplitRows, read_layer
from stc_gpu.vocabulary import DEFAULT_BLOCK_ROWS, FINAL


def demo_data_path() -> str:
    """The bundled RT snippets CSV (the built-in default dataset)."""
    return str(importlib.resources.files("stc_gpu") / "demo" / "rt_snippets.csv.gz")


@dataclass
class SearchResult:
    """Everything the validation search produced for one task (no test scores yet)."""

    probe_rows: list[dict]
    agg_rows: list[dict]
    best_probe: LayerProbe
    best_agg: AggCandidate
    coefs: dict                # (kind, pool, layer) -> (K, units) weights of the chosen probe
    timings: dict
    #: the best aggregated candidate per ``(name, L_temp)`` over every pool, η and C
    agg_by_depth: dict = field(default_factory=dict)
    #: probes whose validation-chosen model has no non-zero weight ("kind.layer (pool)")
    no_signal: list = field(default_factory=list)


def fit_device(config: STCConfig, extractor=None) -> str:
    """The device the probes and the aggregation run on.

    ``config.device`` when set (an explicit ``"cpu"`` keeps every fit on the CPU); else the
    extraction's device (``extractor.device``), so fits run where the forward pass ran; else
    ``"cuda"`` when CUDA is available, else ``"cpu"``. With ``backend="auto"`` the batched fits
    then run on our torch solver on that device (:func:`stc_gpu.probe.path.resolve_backend`).
    """
    if config.device is not None:
        return str(config.device)
    if extractor is not None and getattr(extractor, "device", None) is not None:
        return str(extractor.device)
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def search(entry, rows: SplitRows, config: STCConfig, *, executor=None,
           show_progress: bool = True, device: str | None = None) -> SearchResult:
    """Probe every (kind, pool, layer), sparsify, aggregate, and select on validation.

    ``executor`` runs the independent tasks (:class:`~stc_gpu.stc.tasks.LocalExecutor` by default,
    or :class:`~stc_gpu.distributed.dask_executor.DaskExecutor`); results do not depend on it.
    ``device``: where every fit runs (default :func:`fit_device` of ``config``).
    """
    return search_labels(entry, [rows], config, executor=executor, show_progress=show_progress,
                         device=device)[0]


def search_labels(entry, label_rows: list[SplitRows], config: STCConfig, *, executor=None,
                  show_progress: bool = True, device: str | None = None) -> list[SearchResult]:
    """:func:`search` for several tasks on the same rows (the labels of a multi-label task),
    one :class:`SearchResult` each: every slab is read once for all of them."""
    from stc_gpu.stc.tasks import LocalExecutor, aggregate_task, entry_path_of, probe_task

    executor = executor or LocalExecutor()
    device = fit_device(config) if device is None else str(device)
    path = entry_path_of(entry)
    kinds = [k for k in config.kinds if k in entry.kinds]
    layers = {k: list(entry.layers(k)) for k in kinds}
    pools = [p for p in config.pools if p in entry.pools]
    common = dict(metric=config.metric, backend=config.backend, device=device,
                  max_iter=config.max_iter, tol=config.tol, multiclass=config.multiclass,
                  patience=config.patience)
    n_tasks = len(label_rows)
    found = [SearchResult([], [], None, None, {}, {}) for _ in label_rows]

    t0 = time.perf_counter()
    probe_jobs = [dict(entry_path=path, kind=kind, pool=pool, layers=layers[kind],
                       label_rows=label_rows, Cs=config.C_grid, **common)
                  for kind in kinds for pool in pools]
    probe_fits = [n_tasks * len(job["layers"]) * len(config.C_grid) for job in probe_jobs]
    for job, sweeps in zip(probe_jobs, executor.map(probe_task, probe_jobs, desc="probes",
                                                    show_progress=show_progress,
                                                    fits=probe_fits)):
        for res, sweep in zip(found, sweeps):
            res.probe_rows += sweep.rows
            res.no_signal += [f"{job['kind']}.{layer} ({job['pool']})"
                              for layer in sweep.no_signal]
            for layer, probe in sweep.chosen.items():
                res.coefs[job["kind"], job["pool"], layer] = probe.coef
                if res.best_probe is None or probe.val_score > res.best_probe.val_score:
                    res.best_probe = probe
    probes_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    names = list(kinds) + (["hidden+ffn"] if config.combine_kinds and len(kinds) == 2 else [])
    step = executor.etas_per_task or len(config.eta_grid)
    eta_groups = [config.eta_grid[i:i + step] for i in range(0, len(config.eta_grid), step)]
    agg_jobs = [dict(entry_path=path, name=name, pool=pool, layers=layers, label_rows=label_rows,
                     etas=etas, Cs=config.C_grid,
                     label_coefs=[{(k, l): res.coefs[k, pool, l] for k in kinds
                                   for l in layers[k]} for res in found],
                     **common)
                for name in names for pool in pools for etas in eta_groups]
    agg_fits = [n_tasks * len(steps_for(job["name"], layers)) * len(config.C_grid)
                * len(job["etas"]) for job in agg_jobs]
    for sweeps in executor.map(aggregate_task, agg_jobs, desc="aggregation",
                               show_progress=show_progress, fits=agg_fits):
        for res, sweep in zip(found, sweeps):
            res.agg_rows += sweep.rows
            merge_best_by_depth(res.agg_by_depth, sweep.best_by_depth, config.metric)
            if sweep.best is not None and better_candidate(sweep.best, res.best_agg,
                                                           config.metric):
                res.best_agg = sweep.best
    for res in found:
        res.timings.update(probes_s=probes_s, aggregation_s=time.perf_counter() - t0)
    return found


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


def _test_scores(y_true, pred) -> dict:
    return {"test_acc": score(y_true, pred, "accuracy"), "test_f1": score(y_true, pred, "macro_f1")}


def fit_task(entry, labels, config: STCConfig, *, split_values=None, model_identity=None,
             executor=None, show_progress: bool = True, device: str | None = None):
    """Run the method for one task on a store entry.

    ``device``: where the probes and the aggregation run (default :func:`fit_device` of
    ``config``; the pipeline passes the extraction's device).

    Returns ``(classifier, results, rows)``: the selected :class:`STCClassifier`, a JSON-able dict
    with every configuration's validation scores, the selection, and the test scores of the
    references (``embedding``, ``own_pooling``), the best Probe and Agg. (test scored once, here,
    after selection), and the split rows.
    """
    labels = np.asarray(labels)
    if len(labels) != entry.n_rows:
        raise ValueError(f"{len(labels)} labels for {entry.n_rows} stored texts: they must match")
    encoder, rows, splits = split_rows(labels, config, split_values)
    found = search(entry, rows, config, executor=executor, show_progress=show_progress,
                   device=device)
    identity = model_identity or entry.metadata.get("model", {})
    clf, results, _ = task_results(entry, found, rows, splits, encoder.classes, identity, config)
    return clf, results, rows


def task_results(entry, found: SearchResult, rows: SplitRows, splits, classes, identity: dict,
                 config: STCConfig):
    """The selected classifier of one searched task, its results and its test predictions.

    The test split is scored here, once, after selection: the references (``embedding``,
    ``own_pooling``), the best Probe and Agg. Returns ``(classifier, results, predictions)``;
    ``predictions`` maps each of those approaches to its (n_test,) predicted class codes.
    """
    probe = found.best_probe
    _, _, X_test = read_layer(entry, probe.kind, probe.pool, probe.layer, rows)
    probe_pred = probe.estimator.predict(X_test)
    probe_sel = {"kind": probe.kind, "pool": probe.pool, "layer": probe.layer, "C": probe.C,
                 "val_score": probe.val_score, **_test_scores(rows.y_test, probe_pred)}
    agg = found.best_agg
    clf = classifier_from_candidate(agg, classes, identity, config)
    agg_pred = agg.estimator.predict(clf.features_from_entry(entry, rows.test))
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
        "probe_best": _best_per_layer(found.probe_rows, config.metric),
        "aggregation": found.agg_rows,
        "selection": selection,
        "timings": found.timings,
        "notes": notes,
    }
    return clf, results, predictions


def _own_pooling(identity: dict, config: STCConfig):
    """The own-pooling rule of the model ``identity`` describes (an extractor's ``describe()``)."""
    from stc_gpu.models.sentence_pooling import declared_pooling

    name = identity.get("model_name") or config.model
    return own_pooling_rule(declared_pooling(name, revision=identity.get("revision")),
                            identity.get("family", ""))


def classifier_from_candidate(agg: AggCandidate, classes, identity: dict,
                              config: STCConfig) -> STCClassifier:
    """The :class:`STCClassifier` of one aggregated candidate.

    ``classes`` are the label encoder's classes; ``identity`` the extractor's ``describe()`` (or a
    store entry's ``metadata["model"]``).
    """
    return STCClassifier.from_selection(
        config, model=identity.get("model_name") or config.model, revision=config.revision,
        model_identity=identity, pool=agg.pool, blocks=agg.blocks, head=agg.estimator,
        classes=classes, max_length=identity.get("max_length", config.max_length),
        selection={"kind": agg.name, "pool": agg.pool, "eta": agg.eta, "L_temp": agg.L_temp,
                   "C": agg.C})


def _best_per_layer(rows: list[dict], metric: str, keys=("kind", "pool", "layer")) -> list[dict]:
    """The best row per ``keys`` on validation, ties to the smaller C."""
    from stc_gpu.report.records import best_per

    by_C = sorted(rows, key=lambda r: r["C"])
    return list(best_per(by_C, keys, f"val_{metric_key(metric)}").values())


def extract(config: STCConfig, *, source=None, show_progress: bool = True, layers=None,
            context=None, wait: bool = False, compressor: str = "none"):
    """Extract (or reuse) the features of ``source`` (default ``config.data``, else the demo
    data) into ``config.store``.

    The ``final`` site (the model's output, which the references read) is extracted beside the
    configured kinds. Returns ``(entry, summary, extractor)``; no forward pass runs when the store
    already holds these texts for this model. The options of ``stc-gpu extract``: ``layers``
    (indices, instead of every layer up to ``config.max_layer``), ``context`` (a torchrun
    :class:`~stc_gpu.distributed.torchrun.DistributedContext`: this rank computes its share of
    the blocks on its device), ``wait`` and ``compressor`` (see
    :func:`~stc_gpu.extract.to_store.extract_to_store`).
    """
    from stc_gpu.distributed.torchrun import extract_distributed
    from stc_gpu.extract import Extractor
    from stc_gpu.extract.to_store import extract_to_store

    # The final site follows the last block: with a max_layer the model stops before it.
    final = (FINAL,) if config.max_layer is None else ()
    distributed = context is not None and context.distributed
    extractor = Extractor.from_pretrained(
        config.model, revision=config.revision, kinds=(*config.kinds, *final),
        pools=tuple(config.pools), layers=layers, max_layer=config.max_layer,
        max_length=config.max_length, device=context.device if distributed else config.device,
        dtype=config.dtype, token_budget=config.token_budget)
    source = source if source is not None else config.data or demo_data_path()
    options = dict(text_column=config.text_column, block_rows=config.block_rows,
                   max_texts=config.max_texts, progress=show_progress, wait=wait,
                   compressor=compressor)
    entry, summary = (extract_distributed(source, extractor, config.store, context, **options)
                      if context is not None else
                      extract_to_store(source, extractor, config.store, **options))
    return entry, summary, extractor


def entry_for(X, y, config: STCConfig, *, show_progress: bool = True):
    """``(entry, identity, extractor)`` for ``X``: a feature-store entry as it is (no identity or
    extractor), or texts (a 1-D sequence of str, as many as the labels ``y``) extracted with
    ``config`` (reused when stored)."""
    if hasattr(X, "features") and hasattr(X, "n_rows"):  # a feature-store entry
        return X, None, None
    from sklearn.utils.validation import check_consistent_length

    from stc_gpu.stc.classifier import _check_texts

    texts = _check_texts(X)
    check_consistent_length(texts, y)
    entry, _, extractor = extract(config, source=texts, show_progress=show_progress)
    return entry, extractor.describe(), extractor


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
    _write_json(out / "extraction.json", summary.to_dict())
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
    from stc_gpu.stc import multilabel_task

    multi = isinstance(y, LabelSets)
    t0 = time.perf_counter()
    fit = multilabel_task.fit_multilabel_task if multi else fit_task
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
    if multi:
        multilabel_task.write_report(task_dir, results, clf, entry, rows, data=data,
                                     config=config, extractor=extractor)
    else:
        examples = report_examples(clf, entry, rows, data, text_column=config.text_column,
                                   max_texts=config.max_texts, extractor=extractor)
        write_report(task_dir, results, clf, entry, rows, examples)
    return results


@contextlib.contextmanager
def executor_for(config: STCConfig, device: str):
    """A Dask executor when ``workers`` or ``scheduler`` is set, else None (in-process); its
    workers get GPUs when the fits run on CUDA (``device``, from :func:`fit_device`)."""
    if not (config.workers or config.scheduler):
        yield None
        return
    from stc_gpu.distributed.dask_executor import DaskExecutor

    gpu = device.startswith("cuda")
    with DaskExecutor(config.workers, scheduler=config.scheduler, gpu=gpu) as executor:
        yield executor


def token_lengths(extractor, data, config: STCConfig, block_rows: int = DEFAULT_BLOCK_ROWS) -> np.ndarray:
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


def _write_json(path: Path, value) -> None:
    from stc_gpu.report.tables import write_results_json

    write_results_json(path, value)


def write_report(task_dir: Path, results: dict, clf: STCClassifier, entry, rows: SplitRows,
                 examples=()) -> None:
    """results.json, table.md, the saved classifier, the plots and report.html (with the
    explained test ``examples`` of :func:`~stc_gpu.stc.examples.report_examples`), into
    ``task_dir``."""
    from stc_gpu.report.tables import table4_markdown

    task_dir.mkdir(parents=True, exist_ok=True)
    clf.save(task_dir / "classifier")
    write_pages(task_dir, results, clf, entry, rows, examples)
    _write_json(task_dir / "results.json", results)
    (task_dir / "table.md").write_text(table4_markdown(results))


def write_pages(task_dir: Path, results: dict, clf: STCClassifier, entry, rows: SplitRows,
                examples=()) -> None:
    """The plots and report.html of one task into ``task_dir``; their paths go into
    ``results`` (``plots``, ``report``)."""
    from stc_gpu.report.html import write_report_html

    results["plots"] = write_plots(task_dir, results, clf, entry, rows)
    results["report"] = str(write_report_html(task_dir / "report.html", results,
                                              config=clf.config_.to_dict(), examples=examples))


def write_plots(task_dir: Path, results: dict, clf: STCClassifier, entry, rows: SplitRows
                ) -> dict:
    """The PNG figures of one task (layer curve, what/which/where, salient histograms) into
    ``task_dir``; returns their paths by figure."""
    from stc_gpu.report import plots

    task_dir.mkdir(parents=True, exist_ok=True)
    sel = results["selection"]["agg"]
    metric = metric_key(results["metric"])
    probe_curve = results["probe_best"]
    if "+" in sel["kind"]:  # hidden+ffn: the better of the two kinds' probes at each layer
        probe_curve = [dict(r, kind=sel["kind"]) for r in
                       _best_per_layer(probe_curve, results["metric"], keys=("pool", "layer"))]
    return {
        "layer_curve": str(plots.plot_layer_curve(
            probe_curve, results["aggregation"], task_dir / "layer_curve.png",
            kind=sel["kind"], pool=sel["pool"], eta=sel["eta"], metric=metric)),
        "what_which_where": [str(plots.plot_what_which_where(
            results["aggregation"], task_dir / f"what_which_where_{kind}.png", kind=kind,
            metric=metric))
            for kind in sorted({r["kind"] for r in results["aggregation"]})],
        "salient_histograms": str(_salient_histograms(task_dir, clf, entry, rows, results)),
    }


def _salient_histograms(task_dir: Path, clf: STCClassifier, entry, rows: SplitRows,
                        results: dict) -> Path:
    """Figure 4a for the selected classifier: its salient neurons' validation values per class,
    with the validation score of the aggregated classifier at each L_temp above."""
    from stc_gpu.report.plots import plot_salient_histograms

    X = clf.features_from_entry(entry, rows.val)
    layer_features, neuron_ids, start = {}, {}, 0
    for b in clf.blocks_:
        name = f"{b.kind}.{b.layer}"
        layer_features[name] = X[:, start:start + len(b.ids)]
        neuron_ids[name] = list(b.ids)
        start += len(b.ids)
    sel = clf.selection_
    key = f"val_{metric_key(results['metric'])}"
    curve = {r["L_temp"]: r[key] for r in results["aggregation"]
             if (r["kind"], r["pool"], r["eta"], r["C"]) == (sel["kind"], sel["pool"], sel["eta"],
                                                             sel["C"])}
    scores = {f"{b.kind}.{b.layer}": curve[b.layer] for b in clf.blocks_ if b.layer in curve}
    return plot_salient_histograms(layer_features, rows.y_val, [str(c) for c in results["classes"]],
                                   task_dir / "salient_histograms.png", agg_scores=scores,
                                   neuron_ids=neuron_ids)
