"""The export on the real all-MiniLM-L6-v2 (PyPI package) and real RT snippets."""
from __future__ import annotations

import gzip

import numpy as np
import pytest
from tests.tiny_classifier import fitted_classifier, float32_reference

from stc_gpu.extract.batching import tokenize
from stc_gpu.models.loading import resolve_model_path

pytestmark = pytest.mark.integration
pytest.importorskip("onnxruntime")

from stc_gpu.export.runtime import ExportedClassifier  # noqa: E402
from stc_gpu.export.writer import export_classifier  # noqa: E402
from stc_gpu.vocabulary import DEFAULT_MODEL

#: Sites inside the first 3 of the 6 blocks: the export and the torch classifier hold only those.
#: The single token ([CLS]) only at the output: inside MiniLM it hardly varies between texts
#: (spread ~1e-3), and a scaler dividing by that turns float32 rounding into 1e-2 in probability.
SITES = {"mean": {"hidden": [3], "ffn": [1, 2]}, "max": {"hidden": [3], "ffn": [1, 2]},
         "single": {"hidden": [6]}}


@pytest.fixture(scope="module")
def snippets():
    try:
        resolve_model_path(DEFAULT_MODEL)
    except FileNotFoundError as err:
        pytest.skip(str(err))
    import csv
    from importlib.resources import files

    with gzip.open(files("stc_gpu") / "demo" / "rt_snippets.csv.gz", "rt") as f:
        rows = list(csv.DictReader(f))
    train = rows[:200]
    new = [r["text"] for r in rows[3000:3120]]  # past the demo's 3,000
    return [r["text"] for r in train], [r["label"] for r in train], new


@pytest.mark.parametrize("pool", ["mean", "max", "single"])
def test_exported_minilm_classifier_serves_like_torch(snippets, tmp_path, pool):
    texts, labels, new = snippets
    clf = fitted_classifier(DEFAULT_MODEL, texts, labels, pool=pool, sites=SITES[pool],
                            per_site=64)
    served = ExportedClassifier(export_classifier(clf, tmp_path / "export"))
    n_blocks = 6 if pool == "single" else 3
    assert served.serving["n_blocks"] == n_blocks and served.serving["n_layers"] == 6
    extractor = clf.extractor()
    assert len(extractor.adapter.blocks) == n_blocks
    assert served.token_ids(new) == tokenize(extractor.tokenizer, new, extractor.max_length).ids
    (_, expected), got = float32_reference(clf, new), served.predict_proba(new)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4)
    assert (served.predict(new) == clf.classes_[expected.argmax(axis=1)]).all()
    # predict_proba rounds the features to float16 first: close, same labels on these texts
    np.testing.assert_allclose(got, clf.predict_proba(new), rtol=0, atol=1e-2)
    assert (served.predict(new) == clf.predict(new)).all()
    assert len(set(served.predict(new))) == 2  # a real sentiment signal, not one constant class
