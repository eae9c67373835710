"""Deprecated: ``stc_gpu.stc.pipeline`` was split by job (each name warns and forwards).

``run``, ``extract``, ``fit_task``, ``demo_data_path`` -> :mod:`stc_gpu.pipeline`;
``search``, ``search_labels``, ``SearchResult`` -> :mod:`stc_gpu.stc.search`;
``split_rows``, ``task_results``, ``carved_test_fraction`` -> :mod:`stc_gpu.stc.selection`;
``fit_device`` -> :mod:`stc_gpu.stc.fit_options`; ``executor_for`` -> :mod:`stc_gpu.executors`;
``entry_for`` -> :mod:`stc_gpu.stc.texts`; ``classifier_from_candidate`` ->
``STCClassifier.from_candidate``; ``write_report`` / ``write_pages`` / ``write_plots`` ->
:mod:`stc_gpu.report.task_report`.
"""
from __future__ import annotations

import importlib
import warnings

_MOVED = {
    "run": "stc_gpu.pipeline", "extract": "stc_gpu.pipeline", "fit_task": "stc_gpu.pipeline",
    "demo_data_path": "stc_gpu.pipeline", "token_lengths": "stc_gpu.pipeline",
    "truncation_record": "stc_gpu.pipeline",
    "search": "stc_gpu.stc.search", "search_labels": "stc_gpu.stc.search",
    "SearchResult": "stc_gpu.stc.search",
    "split_rows": "stc_gpu.stc.selection", "task_results": "stc_gpu.stc.selection",
    "carved_test_fraction": "stc_gpu.stc.selection",
    "fit_device": "stc_gpu.stc.fit_options", "executor_for": "stc_gpu.executors",
    "entry_for": "stc_gpu.stc.texts",
    "write_report": "stc_gpu.report.task_report", "write_pages": "stc_gpu.report.task_report",
    "write_plots": "stc_gpu.report.task_report",
}


def __getattr__(name: str):
    if name == "classifier_from_candidate":
        warnings.warn("stc_gpu.stc.pipeline.classifier_from_candidate is deprecated: use "
                      "STCClassifier.from_candidate", FutureWarning, stacklevel=2)
        return importlib.import_module("stc_gpu.stc.classifier").STCClassifier.from_candidate
    if name not in _MOVED:
        raise AttributeError(f"module 'stc_gpu.stc.pipeline' has no attribute {name!r}")
    warnings.warn(f"stc_gpu.stc.pipeline is deprecated: import {name} from {_MOVED[name]}",
                  FutureWarning, stacklevel=2)
    return getattr(importlib.import_module(_MOVED[name]), name)
