"""Exact attribution: the token shares plus the intercept are the classifier's logit, for every
pool, binary and multiclass, encoders and decoders; the token-wise view is unchanged."""
from __future__ import annotations

import numpy as np
import pytest

from stc_gpu.extract import Extractor
from stc_gpu.stc.attribution import TokenExplanation
from stc_gpu.stc.classifier import STCClassifier
from tests.attribution_data import classifier_on_neurons, fp_tolerance, margins
from tests.pipeline_data import planted_corpus, save_tiny_model

TEXTS = ["a good film with a superb ending", "an awful boring plot", "the music was fine",
         "it was a terrible movie and the actors were bad", "great"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """``tiny(family=, pool=, n_classes=, multiclass=, out_dtype=)``: a classifier on a few
    neurons of hidden.1 and ffn.2 of a tiny random model (built once per option set)."""
    built = {}

    def make(*, family="bert", pool="mean", n_classes=2, multiclass="ovr", out_dtype="float32"):
        key = (family, pool, n_classes, multiclass, out_dtype)
        if key not in built:
            texts, labels = planted_corpus(120, seed=1, n_classes=n_classes)
            model = save_tiny_model(tmp_path_factory.mktemp("model"), family=family, texts=texts)
            built[key] = classifier_on_neurons(
                str(model), texts, labels, pool=pool, sites=(("hidden", 1, 8), ("ffn", 2, 12)),
                out_dtype=out_dtype, multiclass=multiclass)
        return built[key]

    return make


# single pool: every other token is far from the pooled token's features, so its token-wise
# margin overflows exp in predict_proba (the probability is still 0 or 1)
@pytest.mark.filterwarnings("ignore:overflow encountered in exp:RuntimeWarning")
@pytest.mark.parametrize("family, pool", [("bert", "mean"), ("gpt2", "mean"), ("bert", "max"),
                                          ("llama", "max"), ("bert", "single"),
                                          ("gpt2", "single")])
def test_shares_and_intercept_sum_to_the_logit(tiny, family, pool):
    clf = tiny(family=family, pool=pool)
    explained = clf.explain(TEXTS)
    np.testing.assert_allclose([e.logit for e in explained], margins(clf, TEXTS, explained),
                               rtol=0, atol=fp_tolerance(clf, TEXTS, "float32").max())
    for e in explained:
        assert e.logit == pytest.approx(e.intercept + e.shares.sum(), abs=1e-12)
        assert e.pool == pool and e.target == e.predicted
        assert len(e.tokens) == len(e.shares) == len(e.tokenwise) == len(e.special)
    proba = clf.predict_proba(TEXTS)
    assert [e.predicted for e in explained] == list(clf.predict(TEXTS))
    np.testing.assert_allclose([e.proba for e in explained],
                               proba[np.arange(len(TEXTS)), [clf.class_index(e.target)
                                                             for e in explained]], atol=1e-6)


def test_max_pool_credits_each_neuron_to_the_token_of_its_max(tiny):
    clf = tiny(pool="max")
    tf = clf.extractor().token_features(TEXTS[:1])[0]
    H = clf.features_from_pooled(lambda kind, layer: tf.features[kind, layer]).astype(np.float64)
    e = clf.explain(TEXTS[:1])[0]
    head = clf.head_
    sign = 1.0 if clf.class_index(e.target) == 1 else -1.0
    v = sign * head.coef_[0] / head.scale_
    expected = np.zeros(len(H))
    for j, t in enumerate(H.argmax(axis=0)):
        expected[t] += v[j] * (H[t, j] - head.mean_[j])
    np.testing.assert_allclose(e.shares, expected, rtol=1e-12, atol=1e-12)
    assert np.count_nonzero(e.shares) <= clf.n_features


@pytest.mark.filterwarnings("ignore:overflow encountered in exp:RuntimeWarning")
@pytest.mark.parametrize("family, position", [("bert", 0), ("gpt2", -1)])
def test_single_pool_gives_everything_to_the_pooled_token(tiny, family, position):
    clf = tiny(family=family, pool="single")
    for e in clf.explain(TEXTS[:3]):
        others = np.delete(e.shares, position)
        assert np.all(others == 0) and e.shares[position] != 0


def test_the_stored_precision_bounds_the_gap_to_the_prediction(tiny):
    clf = tiny(out_dtype="float16")
    explained = clf.explain(TEXTS)
    gap = np.abs([e.logit for e in explained] - margins(clf, TEXTS, explained))
    assert np.all(gap <= fp_tolerance(clf, TEXTS, "float16"))


def test_special_tokens_are_flagged_and_hold_shares(tiny):
    clf = tiny()
    e = clf.explain(["a good film"])[0]
    assert e.tokens == ["[CLS]", "a", "good", "film", "[SEP]"]
    assert e.special.tolist() == [True, False, False, False, True]
    assert np.all(e.shares[e.special] != 0)  # part of the mean, so part of the logit
    assert [token for token, _ in e.largest(5)] == [
        e.tokens[i] for i in np.argsort(-np.abs(e.shares)) if not e.special[i]]


@pytest.mark.parametrize("multiclass", ["ovr", "multinomial"])
def test_multiclass_explains_the_predicted_class_or_the_one_asked(tiny, multiclass):
    clf = tiny(n_classes=3, multiclass=multiclass)
    tol = fp_tolerance(clf, TEXTS, "float32").max()
    explained = clf.explain(TEXTS)
    assert [e.target for e in explained] == list(clf.predict(TEXTS))
    np.testing.assert_allclose([e.logit for e in explained], margins(clf, TEXTS, explained),
                               atol=tol)
    mid = clf.explain(TEXTS, target="mid")
    assert {e.target for e in mid} == {"mid"}
    np.testing.assert_allclose([e.logit for e in mid], margins(clf, TEXTS, mid), atol=tol)


def test_binary_other_class_flips_the_sign(tiny):
    clf = tiny()
    pos, neg = clf.explain(TEXTS[:2], target="pos"), clf.explain(TEXTS[:2], target="neg")
    for p, n in zip(pos, neg):
        np.testing.assert_allclose(n.shares, -p.shares)
        assert n.intercept == -p.intercept and n.proba == pytest.approx(1 - p.proba)


def test_token_scores_are_the_tokenwise_view(tiny):
    clf = tiny()
    scored, explained = clf.token_scores(TEXTS[:2]), clf.explain(TEXTS[:2])
    tf = clf.extractor().token_features(TEXTS[:1])[0]
    alone = clf.head_.predict_proba(clf.features_from_pooled(
        lambda kind, layer: tf.features[kind, layer]))[:, clf.class_index(explained[0].target)]
    np.testing.assert_allclose(scored[0].scores, alone)
    for s, e in zip(scored, explained):
        assert s.tokens == e.tokens and s.target == e.target
        np.testing.assert_array_equal(s.scores, e.tokenwise)


def test_bad_requests_fail_clearly(tiny):
    clf = tiny()
    with pytest.raises(ValueError, match="unknown class 'sport'"):
        clf.explain(TEXTS, target="sport")
    with pytest.raises(ValueError, match="2 targets for 5 texts"):
        clf.explain(TEXTS, target=["pos", "neg"])
    with pytest.raises(ValueError, match="empty"):
        clf.explain(["fine", " "])
    partial = Extractor.from_pretrained(clf.model, kinds=("hidden",), pools=("mean",),
                                        device="cpu")
    with pytest.raises(ValueError, match="does not capture ffn.2"):
        clf.explain(TEXTS, extractor=partial)


def test_an_explanation_is_plain_data():
    e = TokenExplanation(tokens=["[CLS]", "dull", "fun", "[SEP]"],
                         special=np.array([True, False, False, True]), tokenwise=np.full(4, 0.5),
                         shares=np.array([0.9, 0.5, -0.7, 0.1]), intercept=0.2, offset=-0.1,
                         logit=1.0, proba=0.73, target="rotten", predicted="rotten", pool="mean")
    assert e.largest(1) == [("fun", -0.7)] and e.largest() == [("fun", -0.7), ("dull", 0.5)]
