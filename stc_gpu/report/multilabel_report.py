"""The files of one fitted multi-label task: results.json, table.md (per label and over the label
sets), report.html linking each label's page, and the classifier; each label's plots and
report.html in ``labels/<folder>/``."""
from __future__ import annotations

from pathlib import Path

from stc_gpu.report.html import multilabel_report_html
from stc_gpu.report.tables import multilabel_markdown, write_results_json, write_text_atomic
from stc_gpu.report.task_report import write_pages

#: The task's result keys that only a multi-label task has (a label's page leaves them out).
_MULTI_LABEL_ONLY = ("multi_label", "labels", "label_separator", "label_counts", "scores",
                     "per_label", "report")


def write_multilabel_report(task_dir: Path, results: dict, clf, entry, rows, *, folders,
                            examples, config: dict) -> None:
    """Write the task's files into ``task_dir``.

    ``clf``: the fitted :class:`~stc_gpu.stc.multilabel.MultiLabelSTC` (``estimators_[j]`` is
    label j's); ``entry``: the store entry (or its cached slabs); ``rows``: the split rows with
    (n_split, L) indicator labels (``rows.task(j)`` is label j's); ``folders[j]``: label j's
    folder name; ``examples[j]``: label j's explained test texts; ``config``: the run's config
    as a dict.
    """
    task_dir.mkdir(parents=True, exist_ok=True)
    clf.save(task_dir / "classifier")
    shared = {k: v for k, v in results.items() if k not in _MULTI_LABEL_ONLY}
    pages = {}
    for j, (name, folder) in enumerate(zip(results["labels"], folders)):
        page = {**shared, **results["per_label"][name], "task": f"{results.get('task')}: {name}"}
        write_pages(task_dir / "labels" / folder, page, clf.estimators_[j], entry, rows.task(j),
                    examples[j])
        results["per_label"][name].update(plots=page["plots"], report=page["report"])
        pages[name] = f"labels/{folder}/report.html"
    results["report"] = str(write_text_atomic(task_dir / "report.html", multilabel_report_html(
        results, config=config, label_pages=pages)))
    write_results_json(task_dir / "results.json", results)
    (task_dir / "table.md").write_text(multilabel_markdown(results))
