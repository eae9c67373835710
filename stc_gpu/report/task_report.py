"""The files of one fitted task: results.json, table.md, the classifier, the plots, report.html.

``clf`` is the task's fitted :class:`~stc_gpu.stc.classifier.STCClassifier` (its ``save``,
``features_from_entry``, ``blocks_``, ``selection_`` and ``config_`` are used); ``entry`` the store
entry it was fitted on and ``rows`` its :class:`~stc_gpu.stc.slabs.SplitRows`.
"""
from __future__ import annotations

from pathlib import Path

from stc_gpu.metrics import metric_key
from stc_gpu.report import plots
from stc_gpu.report.html import write_report_html
from stc_gpu.stc.records import best_per_layer
from stc_gpu.report.tables import table4_markdown, write_results_json


def write_report(task_dir: Path, results: dict, clf, entry, rows,
                 examples=()) -> None:
    """results.json, table.md, the saved classifier, the plots and report.html (with the
    explained test ``examples`` of :func:`~stc_gpu.stc.examples.report_examples`), into
    ``task_dir``."""
    task_dir.mkdir(parents=True, exist_ok=True)
    clf.save(task_dir / "classifier")
    write_pages(task_dir, results, clf, entry, rows, examples)
    write_results_json(task_dir / "results.json", results)
    (task_dir / "table.md").write_text(table4_markdown(results))


def write_pages(task_dir: Path, results: dict, clf, entry, rows,
                examples=()) -> None:
    """The plots and report.html of one task into ``task_dir``; their paths go into
    ``results`` (``plots``, ``report``)."""
    results["plots"] = write_plots(task_dir, results, clf, entry, rows)
    results["report"] = str(write_report_html(task_dir / "report.html", results,
                                              config=clf.config_.to_dict(), examples=examples))


def write_plots(task_dir: Path, results: dict, clf, entry, rows
                ) -> dict:
    """The PNG figures of one task (layer curve, what/which/where, salient histograms) into
    ``task_dir``; returns their paths by figure."""
    task_dir.mkdir(parents=True, exist_ok=True)
    sel = results["selection"]["agg"]
    metric = metric_key(results["metric"])
    probe_curve = results["probe_best"]
    if "+" in sel["kind"]:  # hidden+ffn: the better of the two kinds' probes at each layer
        probe_curve = [dict(r, kind=sel["kind"]) for r in
                       best_per_layer(probe_curve, results["metric"], keys=("pool", "layer"))]
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


def _salient_histograms(task_dir: Path, clf, entry, rows,
                        results: dict) -> Path:
    """Figure 4a for the selected classifier: its salient neurons' validation values per class,
    with the validation score of the aggregated classifier at each L_temp above."""
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
    return plots.plot_salient_histograms(layer_features, rows.y_val, [str(c) for c in results["classes"]],
                                   task_dir / "salient_histograms.png", agg_scores=scores,
                                   neuron_ids=neuron_ids)
