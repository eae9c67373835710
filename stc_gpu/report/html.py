"""``report.html``: one self-contained page per task (figures as base64 PNG, no network, no scripts).

Sections: the test scores shaped like the paper's Table 4 (with the Embedding and the model's
own-pooling references), what validation selected and what it chose among, Figures 2, 3 and 4a
(the PNGs the run wrote), measured time per stage beside the FLOP estimate, the notes, the
configuration, and explained test texts (token-wise view and exact attribution, right and wrong
predictions). Every number comes from ``results`` (what ``results.json`` holds) through
:mod:`stc_gpu.report.tables`.
"""
from __future__ import annotations

import base64
import html
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from stc_gpu.report.heatmap import explanation_section, html_page
from stc_gpu.report.tables import (Table, candidates_rows, layer_table_rows, multilabel_rows,
                                   selection_rows, table4_rows, timing_rows, write_text_atomic)

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

_CSS = """
body { max-width: 75em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.4em 0 1em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: right; }
th { background: #f2f2f2; } td:first-child, th:first-child { text-align: left; }
.figures { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
figure { margin: 0.6em 0 1.2em; flex: 1 1 32em; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #555; }
.meta { font-size: 0.9em; color: #444; }
"""


def write_report_html(path: str | os.PathLike, results: Mapping[str, Any], *,
                      config: Mapping[str, Any], examples: Sequence[Mapping] = ()) -> Path:
    """Write :func:`report_html` to ``path`` (atomically); returns the path."""
    return write_text_atomic(path, report_html(results, config=config, examples=examples))


def report_html(results: Mapping[str, Any], *, config: Mapping[str, Any],
                examples: Sequence[Mapping] = ()) -> str:
    """The report page of one task.

    ``results``: the task's results (``results.json``), with ``plots`` naming the PNGs;
    ``config``: the run's configuration (``STCConfig.to_dict()``); ``examples``: mappings with
    ``explanation`` (a :class:`~stc_gpu.stc.attribution.TokenExplanation`), ``true`` (the text's
    label) and ``correct`` (see :func:`stc_gpu.stc.examples.report_examples`).
    """
    task = str(results.get("task") or results.get("dataset") or "task")
    parts = [_meta(results),
             "<h2>Test scores (%), shaped like the paper's Table 4</h2>",
             _table(table4_rows(results)),
             '<p class="meta">Embedding: a logistic regression on the last layer\'s first/last '
             "token (the paper's baseline); Own pooling: on the model's own sentence embedding; "
             "Probes: the best single layer; Agg.: STC. Every choice was made on the validation "
             "split; the test split was scored once, after it.</p>",
             "<h2>Selection on validation</h2>", _table(selection_rows(results)),
             "<h3>The best aggregated classifier of each kind and pool</h3>",
             _table(candidates_rows(results))]
    chosen = (results.get("selection") or {}).get("agg") or {}
    try:
        layers = layer_table_rows(results, kind=chosen.get("kind"), pool=chosen.get("pool"))
    except ValueError:  # e.g. hidden+ffn: no per-layer probe of that kind
        layers = None
    if layers:
        parts += [f"<h3>Layer by layer ({html.escape(str(chosen.get('kind')))}, "
                  f"{html.escape(str(chosen.get('pool')))} pool)</h3>", _table(layers)]
    parts += ["<h2>Figures</h2>", '<div class="figures">', *_figures(results.get("plots") or {}),
              "</div>",
              "<h2>Time and cost</h2>", _table(timing_rows(results)), _cost_note(results)]
    parts += _notes(results)
    if examples:
        parts += ["<h2>Test texts, explained</h2>",
                  '<p class="meta">The most confident right and wrong predictions on the test '
                  "split, each explained for its predicted class.</p>"]
        classes = [str(c) for c in results.get("classes", [])]
        parts += [explanation_section(
            ex["explanation"], classes,
            heading=f"{'right' if ex['correct'] else 'wrong'}: true {ex['true']}, predicted "
                    f"{ex['explanation'].predicted}") for ex in examples]
    parts += _configuration(config)
    return html_page(f"STC report: {task}", "\n".join(parts), css=_CSS)


def multilabel_report_html(results: Mapping[str, Any], *, config: Mapping[str, Any],
                           label_pages: Mapping[str, str]) -> str:
    """The report page of a multi-label task: each label's test F1 per approach and the scores
    over the label sets (:func:`~stc_gpu.report.tables.multilabel_rows`), a link to each label's
    own report (``label_pages``: label -> relative path), the notes and the configuration."""
    task = str(results.get("task") or results.get("dataset") or "task")
    links = "".join(f'<li><a href="{html.escape(page)}">{html.escape(str(label))}</a></li>'
                    for label, page in label_pages.items())
    parts = [_meta(results),
             "<h2>Test scores (%) per label and over the label sets</h2>",
             _table(multilabel_rows(results)),
             '<p class="meta">A label\'s F1 is that of its positive class; micro-F1 pools every '
             "label's true and false positives and negatives, macro-F1 averages the labels' F1, "
             "subset accuracy counts texts whose whole label set is right. Each label's "
             "classifier was selected on the validation split on its own.</p>",
             f"<h2>Each label's report</h2><ul>{links}</ul>",
             *_notes(results), *_configuration(config)]
    return html_page(f"STC report: {task} (multi-label)", "\n".join(parts), css=_CSS)


def _notes(results: Mapping[str, Any]) -> list[str]:
    """The notes section: the run's notes and how many texts were cut."""
    notes = list(results.get("notes") or [])
    cut = results.get("truncation")
    if cut:
        notes.append(f"{cut['truncated']:,} of {cut['texts']:,} texts were cut at "
                     f"{cut['max_length']:,} tokens")
    if not notes:
        return []
    return ["<h2>Notes</h2><ul>" + "".join(f"<li>{html.escape(str(n))}</li>" for n in notes)
            + "</ul>"]


def _configuration(config: Mapping[str, Any]) -> list[str]:
    return ["<h2>Configuration</h2>", _table((["Option", "Value"], [
        [str(k), json.dumps(v)] for k, v in config.items()]))]


def png_data_uri(path: str | os.PathLike) -> str:
    """A PNG file as a ``data:image/png;base64,...`` URI (ValueError if it is not a PNG)."""
    data = Path(path).read_bytes()
    if not data.startswith(_PNG_SIGNATURE):
        raise ValueError(f"{path} is not a PNG file")
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _meta(results: Mapping[str, Any]) -> str:
    n = results.get("n") or {}
    items = [("model", results.get("model")), ("data", results.get("dataset")),
             ("classes", ", ".join(map(str, results.get("classes", [])))),
             ("texts", " / ".join(f"{n[k]:,} {k}" for k in ("train", "val", "test") if k in n)),
             ("selection metric", results.get("metric")), ("store entry", results.get("store_entry"))]
    return '<p class="meta">' + " · ".join(f"<b>{name}</b>: {html.escape(str(value))}"
                                          for name, value in items if value) + "</p>"


def _figures(plots: Mapping[str, Any]) -> list[str]:
    captions = [("layer_curve", "Figure 2: the best probe of each layer against the aggregated "
                                "classifier of layers 0..L_temp (validation)"),
                ("what_which_where", "Figure 3: every aggregation configuration (pool, η) against "
                                     "depth, with its number of features"),
                ("salient_histograms", "Figure 4a: the selected salient neurons' values per class "
                                       "(validation), layer by layer")]
    out = []
    for key, caption in captions:
        paths = plots.get(key) or []
        for path in [paths] if isinstance(paths, (str, os.PathLike)) else paths:
            if not Path(path).exists():
                raise FileNotFoundError(f"the report's figure {path} is missing")
            out.append(f'<figure><img alt="{html.escape(key)}" src="{png_data_uri(path)}">'
                       f"<figcaption>{html.escape(caption)} ({html.escape(Path(path).name)})"
                       "</figcaption></figure>")
    return out


def _cost_note(results: Mapping[str, Any]) -> str:
    flops = results.get("flops") or {}
    if "speedup" not in flops:
        return ""
    return (f'<p class="meta">FLOPs are the cost model\'s estimate (stc_gpu.cost) for '
            f"{html.escape(str(flops.get('model')))}: fine-tuning one epoch would cost "
            f"{flops['speedup']:.2f}x this run's STC total. Extraction is shared by every task "
            "over the same texts.</p>")


def _table(table: Table) -> str:
    header, body = table
    head = "".join(f"<th>{html.escape(cell)}</th>" for cell in header)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>"
                   for row in body)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
