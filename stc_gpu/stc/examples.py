"""The handful of test texts a run's report shows: its most confident right and wrong predictions,
each with both token views (:mod:`stc_gpu.stc.attribution`)."""
from __future__ import annotations

import numpy as np

from stc_gpu.stc.slabs import SplitRows

#: Texts longer than this (characters) are shown only when too few short ones remain.
SHORT_TEXT = 500


def pick(correct: np.ndarray, confidence: np.ndarray, long: np.ndarray, n_each: int
         ) -> np.ndarray:
    """Positions (at most ``2 * n_each``) to show: the ``n_each`` most confident correct
    predictions, then the ``n_each`` most confident wrong ones; short texts first.

    ``correct``, ``long``: (n,) bool; ``confidence``: (n,) the predicted class's probability.
    """
    order = np.lexsort((-confidence, long))  # short before long, then the most confident
    return np.concatenate([order[correct[order]][:n_each], order[~correct[order]][:n_each]])


def report_examples(clf, entry, rows: SplitRows, source, *, text_column: str = "text",
                  max_texts: int | None = None, extractor=None, n_each: int = 3) -> list[dict]:
    """Explained test texts for a report: dicts with ``explanation`` (a
    :class:`~stc_gpu.stc.attribution.TokenExplanation` of the predicted class), ``true`` (its
    label) and ``correct``.

    Predictions are the classifier's on the stored test features (as the test scores were
    computed); ``source``/``text_column``/``max_texts`` are the data the entry was extracted from;
    ``extractor``: one capturing the classifier's sites (default ``clf.extractor()``).
    """
    from stc_gpu.data.readers import iter_column

    X = clf.features_from_entry(entry, rows.test)
    predicted = np.asarray(clf.head_.predict(X), dtype=np.int64)
    confidence = clf.head_.predict_proba(X)[np.arange(len(predicted)), predicted]
    texts = _texts_at(iter_column(source, text_column, max_rows=max_texts), rows.test)
    long = np.array([len(t) > SHORT_TEXT for t in texts], dtype=bool)
    shown = pick(predicted == rows.y_test, confidence, long, n_each)
    if not len(shown):
        return []
    explained = clf.explain([texts[i] for i in shown], target=clf.classes_[predicted[shown]],
                            extractor=extractor)
    return [{"explanation": e, "true": clf.classes_[rows.y_test[i]],
             "correct": bool(predicted[i] == rows.y_test[i])} for e, i in zip(explained, shown)]


def _texts_at(batches, rows: np.ndarray) -> list[str]:
    """The values at ``rows`` (any order) of a column read in ``batches``, in ``rows`` order."""
    wanted = {int(r): i for i, r in enumerate(rows)}
    out: list = [None] * len(rows)
    start = 0
    for batch in batches:
        for offset, value in enumerate(batch):
            if start + offset in wanted:
                out[wanted[start + offset]] = value
        start += len(batch)
    missing = [int(rows[i]) for i, v in enumerate(out) if v is None]
    if missing:
        raise ValueError(f"the data has no row {missing[0]} (it has {start} rows)")
    return out
