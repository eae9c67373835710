"""A fitted ``STCClassifier`` on a saved tiny random model, built in seconds (no search)."""
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


def tiny_classifier(root: Path, family: str, *, pool: str = "mean", sites=None,
                    n_classes: int = 2, multiclass: str = "ovr", n_texts: int = 120):
    """``(classifier, texts)``: a head fitted on a few neurons of ``sites`` of a saved tiny model
    (``root/<family>-model``, saved by ``save_tiny_model`` unless it exists).

    The head sees neurons 0, 3, 6, ... of each site's features on a planted corpus, labels in
    ``0..n_classes-1``; ``classes_`` are the corpus's label names.
    """
    sites = sites or SITES
    texts, labels = planted_corpus(n_texts, seed=1, n_classes=n_classes)
    folder = root / f"{family}-model"
    if not folder.exists():
        save_tiny_model(folder, family, texts=texts)
    extractor = Extractor.from_pretrained(str(folder), kinds=tuple(sites), pools=(pool,),
                                          layers=sites, device="cpu")
    block = extractor.extract(texts)
    blocks, columns = [], []
    for kind, layers in sites.items():
        for position, layer in enumerate(layers):
            ids = tuple(range(layer % 3, extractor.units[kind], 3))[:10]
            blocks.append(FeatureBlock(kind, layer, ids))
            columns.append(np.asarray(block.features[kind, pool][position], np.float32)[:, ids])
    classes, y = np.unique(labels, return_inverse=True)
    head = L1LogisticRegression(alpha=1e-3, backend="torch", multiclass=multiclass).fit(
        np.concatenate(columns, axis=1), y)
    clf = STCClassifier.from_selection(
        STCConfig(model=str(folder), device="cpu"), model=str(folder), revision=None,
        model_identity=extractor.describe(), pool=pool, blocks=blocks, head=head,
        classes=classes, max_length=extractor.max_length,
        selection={"kind": "+".join(sites), "pool": pool, "eta": 0.5,
                   "L_temp": max(max(v) for v in sites.values()), "C": 1.0})
    return clf, texts
