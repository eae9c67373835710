"""A fitted ``STCClassifier`` on a saved model, built in seconds (no search)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from stc_gpu.config import STCConfig
from stc_gpu.extract import Extractor
from stc_gpu.probe import L1LogisticRegression
from stc_gpu.stc.aggregate import FeatureBlock
from stc_gpu.stc.classifier import STCClassifier
from tests.pipeline_data import planted_corpus, save_tiny_model

#: Sites read by the default tiny classifier: two layers of each kind, the deepest inside block 2
#: of the 3, so truncation keeps 2 blocks (hidden.2 = output of block 1; ffn.1 inside block 1).
SITES = {"hidden": [0, 2], "ffn": [1]}


def fitted_classifier(model: str, texts, labels, *, pool: str, sites: dict, per_site: int = 10,
                      multiclass: str = "ovr") -> STCClassifier:
    """A classifier whose head is fitted on the ``per_site`` neurons of widest spread over
    ``texts`` of each site of ``sites`` (kind -> layers), with ``labels``.

    (A head on nearly constant neurons divides by their tiny spread, which turns float32
    rounding into visible probability differences between any two runtimes.)"""
    extractor = Extractor.from_pretrained(model, kinds=tuple(sites), pools=(pool,), layers=sites,
                                          device="cpu")
    block = extractor.extract(texts)
    blocks, columns = [], []
    for kind, layers in sites.items():
        for position, layer in enumerate(layers):
            features = np.asarray(block.features[kind, pool][position], np.float32)
            ids = tuple(int(i) for i in np.argsort(-features.std(axis=0), kind="stable")[:per_site])
            blocks.append(FeatureBlock(kind, layer, ids))
            columns.append(features[:, ids])
    classes, y = np.unique(labels, return_inverse=True)
    head = L1LogisticRegression(alpha=1e-3, backend="torch", multiclass=multiclass).fit(
        np.concatenate(columns, axis=1), y)
    return STCClassifier.from_selection(
        STCConfig(model=model, device="cpu"), model=model, revision=None,
        model_identity=extractor.describe(), pool=pool, blocks=blocks, head=head,
        classes=classes, max_length=extractor.max_length,
        selection={"kind": "+".join(sites), "pool": pool, "eta": 0.5,
                   "L_temp": max(max(v) for v in sites.values()), "C": 1.0})


def tiny_classifier(root: Path, family: str, *, pool: str = "mean", sites=None,
                    n_classes: int = 2, multiclass: str = "ovr", n_texts: int = 120):
    """``(classifier, texts)``: :func:`fitted_classifier` on a saved tiny model
    (``root/<family>-model``, saved by ``save_tiny_model`` unless it exists) and a planted corpus
    (labels in ``n_classes`` classes)."""
    texts, labels = planted_corpus(n_texts, seed=1, n_classes=n_classes)
    folder = root / f"{family}-model"
    if not folder.exists():
        save_tiny_model(folder, family, texts=texts)
    clf = fitted_classifier(str(folder), texts, labels, pool=pool, sites=sites or SITES,
                            multiclass=multiclass)
    return clf, texts


def float32_reference(clf: STCClassifier, texts) -> tuple[np.ndarray, np.ndarray]:
    """``(features (n, n_features), probabilities (n, K))`` of ``clf`` with its features kept in
    float32 (``predict_proba`` rounds them to the store's float16 first), from a truncated
    extractor like its own."""
    extractor = Extractor.from_pretrained(clf.model_, kinds=tuple(clf.sites), pools=(clf.pool_,),
                                          layers=clf.sites, device="cpu", out_dtype="float32",
                                          truncate=True)
    block = extractor.extract(texts)
    X = clf.features_from_pooled(
        lambda kind, layer: block.features[kind, clf.pool_][extractor.layers[kind].index(layer)])
    return X, clf.head_.predict_proba(X)
