"""Result tables: Markdown shaped like the paper's Table 4, per-layer tables, and the results JSON.

``results`` is the dict the pipeline produces (see :mod:`stc_gpu.stc.records` for the record
fields): ``task, model, dataset, metric, probes, probe_best, aggregation, selection, timings, flops``;
``selection`` maps ``embedding`` and ``own_pooling`` (the references of
:mod:`stc_gpu.stc.baseline`), ``probe`` and ``agg`` to the configuration picked on the validation
split, with its ``test_acc`` and ``test_f1``.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from stc_gpu.stc.records import best_per, matching, metric_key

#: (selection key, title) of each approach, in the order tables and summaries show them.
APPROACHES = (("embedding", "Embedding"), ("own_pooling", "Own pooling"), ("probe", "Probes"),
              ("agg", "Agg."))
_MISSING = "—"


#: A table as ``(header, body)``: column titles, then rows of cells (formatted strings).
Table = tuple[list[str], list[list[str]]]


def table4_markdown(results: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> str:
    """:func:`table4_rows` as Markdown."""
    return _markdown(*table4_rows(results))


def table4_rows(results: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> Table:
    """Test scores (%) of the two references, the best probe and STC, one row per result.

    Columns: Dataset/task | Model | Embedding acc | Embedding F1 | Own pooling acc | Own pooling F1
    | Probes acc | Probes F1 | Agg. acc | Agg. F1 (a missing approach shows "—"). Own pooling is
    the model's own sentence pooling (the Embedding for a model that declares none).
    """
    runs = _as_runs(results)
    header = ["Dataset/task", "Model"] + [f"{title} {m}" for _, title in APPROACHES
                                          for m in ("acc", "macro-F1")]
    body = []
    for run in runs:
        selection = run.get("selection") or {}
        cells = [_task_name(run), str(run.get("model", _MISSING))]
        for approach, _ in APPROACHES:
            chosen = selection.get(approach) or {}
            cells += [_percent(chosen.get("test_acc")), _percent(chosen.get("test_f1"))]
        body.append(cells)
    return header, body


def multilabel_markdown(results: Mapping[str, Any]) -> str:
    """:func:`multilabel_rows` as Markdown, under the task's name and model."""
    return (f"{_task_name(results)} ({results.get('model', _MISSING)})\n\n"
            + _markdown(*multilabel_rows(results)))


def multilabel_rows(results: Mapping[str, Any]) -> Table:
    """Test F1 (%) of a multi-label task: one row per label (its test rows, each approach's F1),
    then micro-F1, macro-F1 and subset accuracy over the test label sets
    (``results["scores"]``, of :func:`stc_gpu.metrics.multilabel_scores`)."""
    scores = results.get("scores") or {}
    approaches = [(key, title) for key, title in APPROACHES if key in scores]
    header = ["Label", "Test rows"] + [f"{title} F1" for _, title in approaches]
    body = []
    for label in results["labels"]:
        support = results["label_counts"][label]["test"]
        body.append([str(label), str(support)] + [
            _percent(scores[key]["per_label"][label]["f1"]) for key, _ in approaches])
    for name, title in (("micro_f1", "micro-F1"), ("macro_f1", "macro-F1"),
                        ("subset_acc", "subset accuracy")):
        body.append([title, str(results["n"]["test"])]
                    + [_percent(scores[key][name]) for key, _ in approaches])
    return header, body


def selection_markdown(results: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> str:
    """:func:`selection_rows` as Markdown."""
    return _markdown(*selection_rows(results))


def selection_rows(results: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> Table:
    """What the validation split picked for each approach: kind, pool, layer, C, η, L_temp,
    features, and whether the embedding was L2-normalised (own pooling)."""
    fields = ("kind", "pool", "layer", "C", "eta", "L_temp", "n_features", "normalize")
    header = ["Dataset/task", "Model", "Approach", *fields, "val acc", "val macro-F1"]
    body = []
    for run in _as_runs(results):
        for approach, title in APPROACHES:
            chosen = (run.get("selection") or {}).get(approach)
            if not chosen:
                continue
            if approach == "probe" and "val_acc" not in chosen:  # its scores are in probe_best
                chosen = {**next(iter(matching(run.get("probe_best", []), **{
                    key: chosen.get(key) for key in ("kind", "pool", "layer", "C")})), {}),
                    **chosen}
            body.append([_task_name(run), str(run.get("model", _MISSING)), title,
                         *(_plain(chosen.get(field)) for field in fields),
                         _percent(chosen.get("val_acc")), _percent(chosen.get("val_f1"))])
    return header, body


def layer_table_markdown(results: Mapping[str, Any], *, kind: str | None = None,
                         pool: str | None = None, eta: float | None = None) -> str:
    """:func:`layer_table_rows` as Markdown."""
    return _markdown(*layer_table_rows(results, kind=kind, pool=pool, eta=eta))


def layer_table_rows(results: Mapping[str, Any], *, kind: str | None = None,
                     pool: str | None = None, eta: float | None = None) -> Table:
    """Per-layer validation scores (%): the best probe of each layer next to the aggregated
    classifier with ``L_temp`` = that layer (the η scoring best on validation unless ``eta`` is given).

    One row per (kind, pool, layer) of ``results["probe_best"]`` matching the filters.
    """
    score = "val_" + metric_key(results.get("metric", "accuracy"))
    probes = matching(results.get("probe_best", []), kind=kind, pool=pool)
    if not probes:
        raise ValueError(f"no per-layer probe results for kind={kind!r}, pool={pool!r}")
    agg = best_per(matching(results.get("aggregation", []), kind=kind, pool=pool, eta=eta),
                   ("kind", "pool", "L_temp"), score)
    header = ["Kind", "Pool", "Layer", "Probe C", "Probe val acc", "Probe val macro-F1",
              "Agg. η", "Agg. features", "Agg. val acc", "Agg. val macro-F1"]
    body = []
    for row in sorted(probes, key=lambda r: (str(r["kind"]), str(r["pool"]), int(r["layer"]))):
        combined = agg.get((row["kind"], row["pool"], row["layer"]), {})
        body.append([str(row["kind"]), str(row["pool"]), str(row["layer"]), _plain(row.get("C")),
                     _percent(row.get("val_acc")), _percent(row.get("val_f1")),
                     _plain(combined.get("eta")), _plain(combined.get("n_features")),
                     _percent(combined.get("val_acc")), _percent(combined.get("val_f1"))])
    return header, body


def candidates_rows(results: Mapping[str, Any]) -> Table:
    """The best aggregated classifier of each (kind, pool) on validation, best first: what the
    selection chose among (the selected one marked)."""
    score = "val_" + metric_key(results.get("metric", "accuracy"))
    chosen = (results.get("selection") or {}).get("agg") or {}
    best = sorted(best_per(results.get("aggregation", []), ("kind", "pool"), score).values(),
                  key=lambda row: -row[score])
    fields = ("kind", "pool", "eta", "L_temp", "C", "n_features")
    header = ["Kind", "Pool", "η", "L_temp", "C", "Features", "val acc", "val macro-F1",
              "Selected"]
    return header, [[*(_plain(row.get(f)) for f in fields), _percent(row.get("val_acc")),
                     _percent(row.get("val_f1")),
                     "yes" if all(row.get(f) == chosen.get(f) for f in fields) else ""]
                    for row in best]


def timing_rows(results: Mapping[str, Any]) -> Table:
    """Measured seconds of each stage beside the cost model's FLOP estimate (``results["timings"]``,
    ``results["flops"]``), and the GFLOP/s achieved where the stage ran what was estimated."""
    seconds = dict(results.get("timings") or {})
    flops = (results.get("flops") or {}).get("flops") or {}
    reused = (results.get("extraction") or {}).get("blocks_written") == 0
    if {"fit_s", "probes_s", "aggregation_s"} <= set(seconds):
        seconds["other_s"] = seconds["fit_s"] - seconds["probes_s"] - seconds["aggregation_s"]
    if {"fit_s", "extraction_s"} <= set(seconds):
        seconds["total_s"] = seconds["fit_s"] + seconds["extraction_s"]
    stages = [  # (stage, seconds key, FLOPs key, whether the time measures those FLOPs)
        ("Extraction: forward passes" + (" (reused from the store: no forward pass ran; the "
                                         "estimate is what it costs)" if reused else ""),
         "extraction_s", "forward", not reused),
        (f"Probes: {len(results.get('probes', []))} fits", "probes_s", "lr_probes", True),
        (f"Aggregation: {len(results.get('aggregation', []))} fits", "aggregation_s",
         "lr_aggregation", True),
        ("Rest of the fit: references, test scoring", "other_s", None, False),
        ("STC total", "total_s", "stc_total", not reused),
        ("Fine-tuning, one epoch (estimate only)", None, "finetune", False),
    ]
    body = []
    for name, time_key, flop_key, rated in stages:
        time, cost = seconds.get(time_key), flops.get(flop_key)
        rate = cost / time / 1e9 if rated and cost is not None and time else None
        body.append([name, _MISSING if time is None else f"{time:.2f}",
                     _MISSING if cost is None else f"{cost:.3g}",
                     _MISSING if rate is None else f"{rate:.3g}"])
    return ["Stage", "Measured (s)", "Estimated FLOPs", "Achieved GFLOP/s"], body


def write_results_json(path: str | os.PathLike, results: Mapping[str, Any]) -> Path:
    """Write ``results`` as strict JSON (numpy values converted, NaN/inf as null), atomically.

    Returns the path written.
    """
    return write_text_atomic(path, json.dumps(to_jsonable(results), indent=2, allow_nan=False)
                             + "\n")


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file: an error leaves any old file
    whole. Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def read_results_json(path: str | os.PathLike) -> dict:
    """The results dict :func:`write_results_json` wrote."""
    with open(path, encoding="utf-8") as file:
        return json.load(file)


def to_jsonable(value: Any) -> Any:
    """``value`` with numpy scalars/arrays, tuples, sets and paths turned into JSON types;
    non-finite floats become None."""
    if isinstance(value, Mapping):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return [to_jsonable(item) for item in items]
    if isinstance(value, np.generic):
        return to_jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"cannot write {type(value).__name__} value {value!r} as JSON")


def _as_runs(results) -> list[Mapping[str, Any]]:
    runs = [results] if isinstance(results, Mapping) else list(results)
    if not runs:
        raise ValueError("no results to tabulate")
    return runs


def _task_name(run: Mapping[str, Any]) -> str:
    dataset, task = run.get("dataset"), run.get("task")
    if dataset and task and task != dataset:
        return f"{dataset} / {task}"
    return str(dataset or task or _MISSING)


def _percent(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return _MISSING
    return f"{100 * float(value):.2f}"


def _plain(value: Any) -> str:
    if value is None:
        return _MISSING
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.4g}"
    return str(value)


def _markdown(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    cells = [[cell.replace("|", r"\|") for cell in row] for row in (header, *body)]
    lines = ["| " + " | ".join(row) + " |" for row in cells]
    lines.insert(1, "|" + "|".join(" --- " for _ in header) + "|")
    return "\n".join(lines) + "\n"
