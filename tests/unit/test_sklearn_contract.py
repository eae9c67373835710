"""``STCClassifier`` is a scikit-learn estimator on raw texts.

scikit-learn's ``check_estimator`` runs no check on it: its tags say the input is a 1-D
sequence of strings (``two_d_array=False, string=True``, as for scikit-learn's own text
vectorizers), and ``check_estimator`` skips such estimators whole (``SkipTestWarning``). So
:func:`test_scikit_learn_checks` runs the checks that never fit on numbers: cloneable, tags,
repr, no attributes set in ``__init__``, ``get_params`` invariance, ``set_params``, parameters
default-constructible, no errors in ``__init__`` / ``set_params``, mixin order, and unfitted
estimators raising ``NotFittedError``. Skipped: every check that fits or predicts on a random
numeric matrix (dtypes, NaN/inf, sample weights, ``n_features_in_``, pickling, fit
idempotence, ...), which a text classifier rejects by design. The fit checks that matter here
are rewritten on texts below (fit returns self, fit changes no parameter and adds only
``_``-suffixed attributes, ``check_is_fitted`` before and after, clone and pickle), followed by
a ``Pipeline``, ``cross_val_score`` and ``GridSearchCV``, and the folds' shared extraction,
counted in forward passes.
"""
from __future__ import annotations

import json
import pickle

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils import estimator_checks
from sklearn.utils.validation import check_is_fitted

from stc_gpu.config import STCConfig
from stc_gpu.extract import Extractor
from stc_gpu.stc.classifier import STCClassifier
from stc_gpu.vocabulary import FINAL
from tests.pipeline_data import planted_corpus, save_tiny_model

#: Small search options: one kind and pool, two Cs, one η, few iterations, on the CPU.
SMALL = dict(kinds=("hidden",), pools=("mean",), C_grid=(1.0, 10.0), eta_grid=(0.8,),
             max_iter=10, device="cpu")
SKLEARN_CHECKS = ["check_estimator_cloneable", "check_estimator_tags_renamed",
                  "check_valid_tag_types", "check_estimator_repr",
                  "check_no_attributes_set_in_init", "check_get_params_invariance",
                  "check_set_params", "check_parameters_default_constructible",
                  "check_do_not_raise_errors_in_init_or_set_params", "check_mixin_order",
                  "check_estimators_unfitted"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("sklearn")
    texts, labels = planted_corpus(240, seed=2)
    assert len(set(texts)) == len(texts)  # the forward-pass counts below assume distinct texts
    return root, save_tiny_model(root / "model", texts=texts), texts, np.asarray(labels)


@pytest.fixture(scope="module")
def fitted(corpus):
    root, model, texts, labels = corpus
    return STCClassifier(model=str(model), store=str(root / "fitted-store"), **SMALL).fit(
        texts, labels)


@pytest.fixture
def forwarded(monkeypatch):
    """Per call of ``fit`` / ``predict``, in order: ``[name, texts run through the model]``."""
    phases: list[list] = []
    extract, fit, predict = Extractor.extract, STCClassifier.fit, STCClassifier.predict

    def counting_extract(self, texts, *, progress=None):
        phases[-1][1].extend(texts)
        return extract(self, texts, progress=progress)

    def phase(name, method):
        def run(self, *args, **kwargs):
            phases.append([name, []])
            return method(self, *args, **kwargs)
        return run

    monkeypatch.setattr(Extractor, "extract", counting_extract)
    monkeypatch.setattr(STCClassifier, "fit", phase("fit", fit))
    monkeypatch.setattr(STCClassifier, "predict", phase("predict", predict))
    return phases


@pytest.mark.parametrize("check", SKLEARN_CHECKS)
def test_scikit_learn_checks(check):
    getattr(estimator_checks, check)("STCClassifier", STCClassifier())


def test_check_estimator_skips_text_input_whole():
    with pytest.warns(estimator_checks.SkipTestWarning, match="requires input"):
        estimator_checks.check_estimator(STCClassifier())


def test_parameters_are_the_config_options_with_its_defaults():
    params = STCClassifier().get_params()
    config = STCConfig().to_dict()
    assert {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()} == {
        k: config[k] for k in params}
    assert set(config) - set(params) == {"data", "text_column", "label_columns", "split_column",
                                         "multi_label", "label_separator", "out",
                                         "max_texts"}
    custom = STCConfig(pools=["max"], C_grid=[3.0], seed=7, store="elsewhere")
    assert STCClassifier.from_config(custom)._config() == custom


def test_get_params_set_params_clone_round_trip():
    clf = STCClassifier(model="m", pools=("max",), C_grid=(0.5, 5.0), seed=3)
    again = clone(clf)
    assert again is not clf and again.get_params() == clf.get_params()
    assert clf.set_params(seed=4, metric="macro_f1") is clf
    assert (clf.seed, clf.metric) == (4, "macro_f1")
    assert STCClassifier(**clf.get_params()).get_params() == clf.get_params()
    with pytest.raises(ValueError, match="Invalid parameter 'bogus'"):
        clf.set_params(bogus=1)


def test_bad_parameters_fail_at_fit_naming_the_parameter():
    clf = STCClassifier(pools=("mean", "sum"))
    with pytest.raises(ValueError, match="config: pools"):
        clf.fit(["a text", "another text"], [0, 1])


def test_the_config_constructor_is_gone_with_a_clear_message():
    for build in (lambda: STCClassifier(STCConfig()), lambda: STCClassifier(config=STCConfig())):
        with pytest.raises(TypeError, match=r"STCClassifier\(config\) was removed.*from_config"):
            build()


def test_fit_follows_the_estimator_contract(corpus):
    """check_estimators_fit_returns_self, check_dont_overwrite_parameters,
    check_estimators_overwrite_params and check_fit_check_is_fitted, on texts."""
    root, model, texts, labels = corpus
    clf = STCClassifier(model=str(model), store=str(root / "contract-store"), **SMALL)
    with pytest.raises(NotFittedError):
        check_is_fitted(clf)
    params_hash = joblib.hash(clf.get_params())
    before = dict(vars(clf))
    assert clf.fit(np.asarray(texts, dtype=object), labels) is clf
    check_is_fitted(clf)
    assert joblib.hash(clf.get_params()) == params_hash
    added = set(vars(clf)) - set(before)
    assert added and all(a.endswith("_") or a.startswith("_") for a in added), added
    assert all(vars(clf)[k] is v for k, v in before.items())
    assert {"classes_", "model_", "revision_", "model_identity_", "pool_", "blocks_", "head_",
            "selection_", "max_length_", "config_", "results_"} <= added
    assert not hasattr(clf, "n_features_in_")  # raw text has no feature count
    assert clf.classes_.tolist() == ["neg", "pos"]


def test_fitted_attributes_and_deprecated_aliases(fitted, corpus):
    _, model, texts, labels = corpus
    assert fitted.model_ == str(model) and fitted.pool_ == "mean"
    assert fitted.n_features == sum(len(b.ids) for b in fitted.blocks_) > 0
    for old in ("pool", "blocks", "head", "selection", "model_identity", "config"):
        with pytest.warns(FutureWarning, match=f"STCClassifier.{old} is deprecated.*{old}_"):
            assert getattr(fitted, old) is getattr(fitted, old + "_")
    assert fitted.score(texts, labels) >= 0.75  # chance is 0.5


def test_clone_of_a_fitted_classifier_is_unfitted_and_pickle_keeps_it(fitted, corpus):
    _, _, texts, _ = corpus
    fresh = clone(fitted)
    assert fresh.get_params() == fitted.get_params()
    with pytest.raises(NotFittedError, match="not fitted yet"):
        fresh.predict(texts[:2])
    new = ["a good film", "an awful plot"]
    proba = fitted.predict_proba(new)  # not in the store: builds and caches the extractor
    assert "_extractor" in vars(fitted)
    again = pickle.loads(pickle.dumps(fitted))
    assert "_extractor" not in vars(again)
    np.testing.assert_array_equal(again.predict_proba(new), proba)
    # the training texts are read from the store, and score as the model computes them
    unstored = again.set_params(store=None)
    np.testing.assert_allclose(fitted.predict_proba(texts[:30]), unstored.predict_proba(texts[:30]),
                               atol=1e-4)


@pytest.mark.parametrize("bad, error, message", [
    ("one text", TypeError, "not a single string"),
    (np.array([["a text"], ["b text"]], dtype=object), ValueError, r"1-D sequence.*\(2, 1\)"),
])
def test_texts_must_be_a_1d_sequence(fitted, bad, error, message):
    with pytest.raises(error, match=message):
        fitted.predict(bad)


def test_fit_checks_texts_and_labels_agree(corpus, tmp_path):
    _, model, texts, labels = corpus
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        STCClassifier(model=str(model), store=str(tmp_path / "s"), **SMALL).fit(texts, labels[1:])
    assert not (tmp_path / "s").exists()  # checked before any extraction


def test_in_a_pipeline(corpus):
    root, model, texts, labels = corpus
    pipe = make_pipeline(FunctionTransformer(lambda X: [t.lower() for t in X]),
                         STCClassifier(model=str(model), store=str(root / "pipe-store"), **SMALL))
    pipe.fit(np.asarray(texts, dtype=object), labels)
    assert pipe.score(texts, labels) >= 0.75
    assert pipe.predict_proba(texts[:3]).shape == (3, 2)


def test_cross_val_score_folds_share_one_extraction(corpus, forwarded):
    """Each fold's fit runs the model only on texts no earlier fold extracted; predictions read
    the texts the store holds."""
    root, model, texts, labels = corpus
    cv = StratifiedKFold(3)
    clf = STCClassifier(model=str(model), store=str(root / "cv-store"), **SMALL)
    scores = cross_val_score(clf, texts, labels, cv=cv, error_score="raise")
    assert scores.min() >= 0.7  # chance is 0.5

    seen, expected = set(), []
    for train, test in cv.split(texts, labels):
        expected.append(["fit", {texts[i] for i in train} - seen])
        seen |= {texts[i] for i in train}
        expected.append(["predict", {texts[i] for i in test} - seen])
    got = [[name, set(run)] for name, run in forwarded]
    assert got == expected
    assert [len(run) for _, run in got] == [160, 80, 80, 0, 0, 0]
    assert all(len(run) == len(set(run)) for _, run in forwarded)  # no text run twice in a call


def test_grid_search_over_pools_extracts_each_text_once_per_pool(corpus, forwarded):
    """Folds and candidates share extractions; ("mean", "max") is read from the "mean" and "max"
    entries, so the whole search runs each text through the model once per pool."""
    root, model, texts, labels = corpus
    pools = [("mean",), ("max",), ("mean", "max")]
    search = GridSearchCV(STCClassifier(model=str(model), store=str(root / "grid-store"),
                                        **{**SMALL, "C_grid": (1.0,)}),
                          {"pools": pools}, cv=3, error_score="raise")
    search.fit(texts, labels)
    assert search.best_params_["pools"] in pools
    assert search.best_score_ >= 0.7
    assert search.best_estimator_.pool_ in search.best_params_["pools"]
    fits = [run for name, run in forwarded if name == "fit"]
    assert len(fits) == 3 * 3 + 1  # every candidate on every fold, then the refit
    assert [len(run) for run in fits] == [160, 80, 0] * 2 + [0] * 4


def test_stored_rows_equal_a_fresh_extraction(corpus, tmp_path):
    """Rows read from another entry hold what the model computes for them (to fp16 precision:
    the batches differ)."""
    from stc_gpu.extract.to_store import extract_to_store

    _, model, texts, _ = corpus
    extractor = Extractor.from_pretrained(str(model), kinds=("hidden", "ffn"),
                                          pools=("mean", "single"), device="cpu")
    extract_to_store(texts[:60], extractor, tmp_path / "a", block_rows=16, progress=False)
    reused, summary = extract_to_store(texts[30:90], extractor, tmp_path / "a", block_rows=16,
                                       progress=False)
    fresh, _ = extract_to_store(texts[30:90], extractor, tmp_path / "b", block_rows=16,
                                progress=False)
    assert (summary.texts, summary.texts_reused) == (30, 30)
    assert "30 texts read from other entries" in summary.format()
    for kind in ("hidden", "ffn"):
        for pool in ("mean", "single"):
            np.testing.assert_allclose(reused.array(kind, pool)[:], fresh.array(kind, pool)[:],
                                       rtol=2e-3, atol=2e-3)


def test_saved_in_mains_layout_and_loaded_with_its_parameters(fitted, corpus, tmp_path):
    """The saved layout is format 1, as before the estimator had parameters; ``load`` sets them
    from the saved config, ignoring fields a later version may add."""
    _, _, texts, _ = corpus
    folder = fitted.save(tmp_path / "clf")
    meta = json.loads((folder / "classifier.json").read_text())
    assert meta["format"] == "stc-gpu-classifier/1"
    assert set(meta) == {"format", "stc_gpu_version", "model", "revision", "model_identity",
                         "pool", "max_length", "blocks", "classes", "selection", "config"}
    assert set(meta["config"]) == set(STCConfig().to_dict())
    meta["config"]["a_later_option"] = True
    (folder / "classifier.json").write_text(json.dumps(meta))
    loaded = STCClassifier.load(folder, device="cpu")
    assert {k: v for k, v in loaded.get_params().items() if k != "device"} == {
        k: list(v) if isinstance(v, tuple) else v
        for k, v in fitted.get_params().items() if k != "device"}
    np.testing.assert_array_equal(loaded.predict(texts[:6]), fitted.predict(texts[:6]))
    assert loaded.selection_ == fitted.selection_ and loaded.blocks_ == fitted.blocks_


def test_max_layer_stops_the_extraction_and_bounds_the_selection(corpus):
    root, model, texts, labels = corpus
    clf = STCClassifier(model=str(model), store=str(root / "max-layer-store"), max_layer=0,
                        **SMALL).fit(texts, labels)
    assert clf.config_.max_layer == 0 and clf.selection_["L_temp"] == 0
    assert max(block.layer for block in clf.blocks_) == 0
    assert clf.predict(texts[:4]).shape == (4,)
