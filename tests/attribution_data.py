"""Classifiers built for attribution tests (no pipeline: only the head is learnt), and the
classifier's own logit with the precision bound it is compared within."""
from __future__ import annotations

import numpy as np

from stc_gpu.config import STCConfig
from stc_gpu.extract import Extractor
from stc_gpu.probe import L1LogisticRegression
from stc_gpu.stc.aggregate import FeatureBlock
from stc_gpu.stc.classifier import STCClassifier


def classifier_on_neurons(model: str, texts, labels, *, pool: str, sites, out_dtype="float32",
                          multiclass="ovr", seed=0) -> STCClassifier:
    """A classifier reading ``k`` random neurons of each ``(kind, layer, k)`` of ``sites``, its
    L1 head fitted on ``texts`` / ``labels`` pooled with ``pool`` and stored as ``out_dtype``."""
    kinds = tuple(dict.fromkeys(kind for kind, _, _ in sites))
    extractor = Extractor.from_pretrained(model, kinds=kinds, pools=(pool,), out_dtype=out_dtype,
                                          device="cpu")
    rng = np.random.default_rng(seed)
    blocks = [FeatureBlock(kind, layer, tuple(int(i) for i in rng.choice(
        extractor.units[kind], k, replace=False))) for kind, layer, k in sites]
    pooled = extractor.extract(list(texts)).features
    X = np.concatenate([pooled[b.kind, pool][extractor.layers[b.kind].index(b.layer)][:, list(b.ids)]
                        for b in blocks], axis=1).astype(np.float32)
    classes = sorted(set(labels))
    y = np.array([classes.index(label) for label in labels])
    head = L1LogisticRegression(alpha=1e-3, backend="torch", device="cpu",
                                multiclass=multiclass).fit(X, y)
    return STCClassifier.from_selection(
        STCConfig(model=model, device="cpu"), model=model, revision=None,
        model_identity=extractor.describe(), pool=pool, blocks=blocks, head=head, classes=classes,
        max_length=extractor.max_length)


def fp_tolerance(clf, texts, out_dtype) -> np.ndarray:
    """(n_texts,) bound on how far the logit of the stored-precision features can be from the
    logit of the exact ones: every pooled feature rounded once (half an ulp, relative)."""
    X = clf.transform(texts).astype(np.float64)
    head = clf.head_
    v = np.abs(np.atleast_2d(head.coef_) / (1.0 if head.scale_ is None else head.scale_)).max(0)
    eps = {"float16": 2.0 ** -11, "float32": 2.0 ** -23}[out_dtype]
    # twice the rounding, for float32 sums in a different order; 2**-24: float16's subnormals
    return (np.abs(X) * v).sum(axis=1) * eps * 2 + v.sum() * 2.0 ** -24 + 1e-9


def margins(clf, texts, explained) -> np.ndarray:
    """The classifier's own logit of each explanation's target (its prediction path)."""
    M = np.asarray(clf.head_.decision_function(clf.transform(texts)))
    columns = [clf.class_index(e.target) for e in explained]
    if M.ndim == 1:
        return np.where(np.asarray(columns) == 1, M, -M)
    return M[np.arange(len(texts)), columns]
