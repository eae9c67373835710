"""``MultiLabelSTC``: one binary STC classifier per label over one frozen model, one extraction.

Each label's classifier is an :class:`~stc_gpu.stc.classifier.STCClassifier` with the classes
``[0, 1]`` (1: the label applies), selected on validation on its own. Prediction runs the model
once, capturing the union of the sites and pools the labels' classifiers read. Saved as a folder:
``multilabel.json`` and each label's classifier folder under ``labels/`` (usable alone, e.g. by
``stc-gpu explain``).
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Sequence

import numpy as np

from stc_gpu import __version__
from stc_gpu.config import STCConfig
from stc_gpu.stc.classifier import STCClassifier
from stc_gpu.stc.fit_options import fit_device
from stc_gpu.executors import executor_for
from stc_gpu.stc.texts import check_texts, entry_for

_FORMAT = "stc-gpu-multilabel/1"
_META = "multilabel.json"


class MultiLabelSTC:
    """A multi-label text classifier: ``predict`` returns a set of labels per text.

    ``MultiLabelSTC(model=..., pools=..., ...).fit(texts, label_sets)`` runs the method once
    per label on one extraction (keyword options: the :class:`~stc_gpu.config.STCConfig`
    fields, kept in ``config``); ``fit(entry, label_sets)`` starts from a store entry.
    :meth:`load` reads a saved one.

    Attributes (after fit or load)
    ------------------------------
    classes_ : (L,) label names.
    estimators_ : list of L binary :class:`STCClassifier` (classes ``[0, 1]``), in ``classes_``
        order.
    results_ : the task's results (per label and micro/macro-F1), after fit only.
    """

    def __init__(self, **options):
        self.config = STCConfig.from_dict({**options, "multi_label": True})
        self._extractor = None

    @classmethod
    def from_config(cls, config: STCConfig) -> "MultiLabelSTC":
        """An unfitted classifier with the options of ``config``."""
        return cls(**config.to_dict())

    def fit(self, X, y, *, labels: Sequence[str] | None = None, split_values=None,
            executor=None, show_progress: bool = False) -> "MultiLabelSTC":
        """Fit on texts (a sequence of str) or a feature-store entry.

        ``y``: one label set per row (a list / set of labels, text joined by
        ``config.label_separator``, or empty: no label applies), or a
        :class:`~stc_gpu.data.label_sets.LabelSets`; ``labels`` fixes the label names (default:
        every label found). Bad labels (too rare, everywhere, missing from a split) fail before
        any forward pass, naming the label.
        """
        import contextlib

        from stc_gpu.data.label_sets import LabelSets
        from stc_gpu.stc import multilabel_task
        from stc_gpu.stc.selection import model_identity_of

        config = self.config
        sets = y if isinstance(y, LabelSets) else multilabel_task.label_sets(y, config, labels)
        multilabel_task.split_labels(sets, config, split_values)
        entry, identity, extractor = entry_for(X, sets.Y, config, show_progress=show_progress)
        device = fit_device(config, extractor)
        with (executor_for(config, device) if executor is None
              else contextlib.nullcontext(executor)) as ex:
            candidates, self.results_, _ = multilabel_task.select_multilabel_task(
                entry, sets, config, split_values=split_values, model_identity=identity,
                executor=ex, show_progress=show_progress, device=device)
        identity = model_identity_of(entry, identity)
        fitted = self.from_candidates(sets.names, candidates, identity, config)
        self._set_fitted(fitted.classes_, fitted.estimators_)
        return self

    @classmethod
    def from_candidates(cls, names: Sequence[str], candidates, identity: dict,
                        config: STCConfig) -> "MultiLabelSTC":
        """A fitted classifier from each label's selected aggregated candidate (classes [0, 1];
        ``identity`` as for :meth:`STCClassifier.from_candidate`)."""
        return cls.from_estimators(
            names, [STCClassifier.from_candidate(agg, [0, 1], identity, config)
                    for agg in candidates], config)

    @classmethod
    def from_estimators(cls, classes: Sequence[str], estimators: Sequence[STCClassifier],
                        config: STCConfig) -> "MultiLabelSTC":
        """A fitted classifier from one binary :class:`STCClassifier` per label."""
        clf = cls.from_config(config)
        clf._set_fitted(classes, estimators)
        return clf

    def _set_fitted(self, classes, estimators) -> None:
        estimators = list(estimators)
        if len(estimators) != len(classes) or not estimators:
            raise ValueError(f"{len(estimators)} classifiers for {len(classes)} labels")
        for name, est in zip(classes, estimators):
            if [str(c) for c in est.classes_.tolist()] != ["0", "1"]:
                raise ValueError(f"the classifier of label {name!r} is not binary with classes "
                                 f"[0, 1]: {est.classes_.tolist()}")
        digests = {est.model_identity_.get("weights_sha256") for est in estimators}
        if len(digests) > 1:
            raise ValueError("the labels' classifiers were trained on different models: a "
                             "multi-label classifier reads one")
        self.classes_ = np.asarray(list(classes), dtype=object)
        self.estimators_ = estimators
        self._extractor = None

    def _fitted(self) -> list[STCClassifier]:
        if not hasattr(self, "estimators_"):
            raise ValueError("this MultiLabelSTC is not fitted yet: call fit() or load()")
        return self.estimators_

    # --------------------------------------------------------------- prediction
    def extractor(self):
        """The (cached) extractor of every site and pool the labels' classifiers read."""
        if self._extractor is None:
            estimators = self._fitted()
            sites: dict[str, set] = {}
            for est in estimators:
                for kind, layers in est.sites.items():
                    sites.setdefault(kind, set()).update(layers)
            pools = tuple(dict.fromkeys(est.pool_ for est in estimators))
            self._extractor = estimators[0].extractor(
                sites={kind: sorted(layers) for kind, layers in sites.items()}, pools=pools)
        return self._extractor

    def predict_with_proba(self, texts: Sequence[str]) -> tuple[list[tuple], np.ndarray]:
        """``(predict(texts), predict_proba(texts))`` from one forward pass over ``texts``."""
        texts = check_texts(texts)
        extractor = self.extractor()
        block = extractor.extract(texts)
        proba = np.empty((len(texts), len(self.classes_)))
        applies = np.empty((len(texts), len(self.classes_)), dtype=bool)
        for j, est in enumerate(self._fitted()):
            X = est.features_from_block(block, extractor.layers)
            column = est.class_index(1)
            proba[:, j] = est.head_.predict_proba(X)[:, column]
            applies[:, j] = np.asarray(est.head_.predict(X)) == column
        return [tuple(self.classes_[row].tolist()) for row in applies], proba

    def predict(self, texts: Sequence[str]) -> list[tuple]:
        """(n_texts,) label sets: for each text, the tuple of labels (``classes_`` order) whose
        classifier predicts that it applies (probability above 0.5); ``()`` when none does."""
        return self.predict_with_proba(texts)[0]

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(n_texts, L) the probability of each label, columns in ``classes_`` order (they need
        not sum to 1: the labels are independent)."""
        return self.predict_with_proba(texts)[1]

    # ---------------------------------------------------------------- save/load
    def save(self, path: str | Path) -> Path:
        """Write each label's classifier under ``labels/`` and ``multilabel.json`` (no pickle)."""
        path = Path(path)
        folders = label_folders(self.classes_.tolist())
        for est, folder in zip(self._fitted(), folders):
            est.save(path / "labels" / folder)
        meta = {"format": _FORMAT, "stc_gpu_version": __version__,
                "labels": self.classes_.tolist(), "folders": folders,
                "label_separator": self.config.label_separator}
        (path / _META).write_text(json.dumps(meta, indent=2))
        return path

    @classmethod
    def load(cls, path: str | Path, *, device: str | None = None) -> "MultiLabelSTC":
        path = Path(path)
        meta_file = path / _META
        if not meta_file.exists():
            raise FileNotFoundError(f"{path} is not a saved multi-label STC classifier "
                                    f"(no {_META})")
        meta = json.loads(meta_file.read_text())
        if meta.get("format") != _FORMAT:
            raise ValueError(f"{meta_file}: unknown format {meta.get('format')!r}")
        estimators = [STCClassifier.load(path / "labels" / folder, device=device)
                      for folder in meta["folders"]]
        config = STCConfig.from_dict({**estimators[0].config_.to_dict(),
                                      "label_separator": meta["label_separator"]})
        return cls.from_estimators(meta["labels"], estimators, config)

    def __repr__(self) -> str:
        if not hasattr(self, "estimators_"):
            return f"MultiLabelSTC(model={self.config.model!r}, not fitted)"
        return (f"MultiLabelSTC(model={self.estimators_[0].model_!r}, "
                f"labels={self.classes_.tolist()})")


def label_folders(names: Sequence[str]) -> list[str]:
    """One distinct folder name per label: the label with characters other than letters,
    digits, ``.``, ``_`` and ``-`` replaced by ``_`` (and a ``-<i>`` suffix where two clash)."""
    folders, seen = [], set()
    for i, name in enumerate(names):
        folder = re.sub(r"[^A-Za-z0-9._-]+", "_", str(name)).strip("._") or "label"
        if folder.lower() in seen:
            folder = f"{folder}-{i}"
        seen.add(folder.lower())
        folders.append(folder)
    return folders


def saved_labels(path: str | Path) -> list[str] | None:
    """The labels of the multi-label classifier saved at ``path``; None when it is not one."""
    meta_file = Path(path) / _META
    return json.loads(meta_file.read_text())["labels"] if meta_file.exists() else None


def load_classifier(path: str | Path, *, device: str | None = None):
    """The classifier saved at ``path``: a :class:`MultiLabelSTC` or an :class:`STCClassifier`."""
    if saved_labels(path) is not None:
        return MultiLabelSTC.load(path, device=device)
    return STCClassifier.load(path, device=device)
