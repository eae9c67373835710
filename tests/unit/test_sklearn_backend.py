"""The scikit-learn backend with real scikit-learn: its own iteration budgets, no hidden warnings."""
from __future__ import annotations

import gzip
import logging
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from stc_gpu.config import STCConfig
from stc_gpu.probe import alpha_from_sklearn_C, fit_path, l1_objective, sklearn_C_from_alpha
from stc_gpu.probe import sklearn_backend
from stc_gpu.probe.path import _fit_each
from stc_gpu.probe.sklearn_backend import INTERCEPT_SCALING, _l1_kwargs
from stc_gpu.vocabulary import DEFAULT_C_GRID
from tests.probe_data import standardize, synthetic_binary

DEMO_RT = Path(__file__).parents[2] / "stc_gpu" / "demo" / "rt_snippets.csv.gz"
DEFAULTS = STCConfig()  # the pipeline's max_iter (Newton steps) and tol


def _multiclass(n=300, d=30, seed=3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    X[:, :6] += rng.standard_normal((n, 1))
    return X, np.argmax(X[:, :3] * 1.5 + rng.standard_normal((n, 3)), axis=1)


def _rt_bag_of_words(n=500, d=256):
    """A small real problem: hashed bag of words of RT snippets, binary sentiment."""
    import csv
    import io

    from sklearn.feature_extraction.text import HashingVectorizer

    if not DEMO_RT.exists():
        pytest.skip("bundled RT demo data missing")
    with gzip.open(DEMO_RT, "rt", encoding="utf-8") as handle:
        rows = list(csv.DictReader(io.StringIO(handle.read())))
    rows = [rows[i] for i in np.random.default_rng(1).permutation(len(rows))[:n]]
    vectorizer = HashingVectorizer(n_features=d, alternate_sign=False, norm=None)
    X = vectorizer.transform([r["text"] for r in rows]).toarray()
    return X, np.unique([r["label"] for r in rows], return_inverse=True)[1]


def _reference(Xs, y, alpha):
    """Our objective at a tightly converged scikit-learn fit (tol 1e-10)."""
    binary = len(np.unique(y)) == 2
    model = LogisticRegression(
        C=sklearn_C_from_alpha(alpha, len(y)), solver="liblinear" if binary else "saga",
        tol=1e-10, max_iter=300 if binary else 200_000, intercept_scaling=INTERCEPT_SCALING,
        **_l1_kwargs())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # liblinear stalls at float precision
        model.fit(Xs, y)
    return l1_objective(Xs, y, model.coef_, model.intercept_, alpha, multiclass="multinomial")


def _paper_alphas(n):
    return [alpha_from_sklearn_C(C, n) for C in DEFAULT_C_GRID]


@pytest.mark.parametrize("data", [_rt_bag_of_words, _multiclass], ids=["rt-binary", "multiclass"])
def test_pipeline_defaults_converge_without_warnings(data):
    """At the pipeline's max_iter / tol, over the paper's C grid: no ConvergenceWarning at all."""
    X, y = data()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = fit_path(X, y, _paper_alphas(len(y)), backend="sklearn",
                          max_iter=DEFAULTS.max_iter, tol=DEFAULTS.tol, multiclass="multinomial")
    assert result.backend == "sklearn"
    assert result.converged.all()
    solver = sklearn_backend.solver_for(len(result.classes))
    assert (result.n_iter < sklearn_backend.MAX_ITER[solver]).all()
    # our Newton-step cap (30) would not have been enough for some of these fits
    assert result.n_iter.max() > DEFAULTS.max_iter


@pytest.mark.parametrize("data", [synthetic_binary, _multiclass], ids=["liblinear", "saga"])
def test_objectives_match_a_tightly_converged_reference(data):
    X, y = data()
    Xs, alphas = standardize(X), _paper_alphas(len(y))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        tight = fit_path(X, y, alphas, backend="sklearn", max_iter=DEFAULTS.max_iter, tol=1e-8,
                         multiclass="multinomial")
        default = fit_path(X, y, alphas, backend="sklearn", max_iter=DEFAULTS.max_iter,
                           tol=DEFAULTS.tol, multiclass="multinomial")
    assert tight.converged.all() and default.converged.all()
    for a, (C, alpha) in enumerate(zip(DEFAULT_C_GRID, alphas)):
        reference = _reference(Xs, y, alpha)
        assert tight.objective[0, a] == pytest.approx(reference, rel=1e-4)
        # at the pipeline's tol the objective is that close where regularisation is strong;
        # near-separable weak regularisation (C >= 10) stops earlier on tol, not on budget
        assert default.objective[0, a] == pytest.approx(reference, rel=1e-4 if C <= 1 else 1e-2)
        assert default.objective[0, a] >= reference * (1 - 1e-6)


def test_out_of_budget_is_reported_not_swallowed(caplog):
    X, y = _multiclass()
    Xs = standardize(X)
    alpha = alpha_from_sklearn_C(10.0, len(y))
    with pytest.warns(ConvergenceWarning):
        *_, n_iter, converged = sklearn_backend.fit_one(Xs, y, 3, alpha, max_iter=3, tol=1e-4)
    assert (n_iter, converged) == (3, False)
    Zt = torch.from_numpy(np.ascontiguousarray(Xs.T))[None]  # (1, d, n) feature-major
    with caplog.at_level(logging.WARNING, logger="stc_gpu.probe"), \
            pytest.warns(ConvergenceWarning):
        out = _fit_each("sklearn", Zt, y, 3, np.array([alpha]), 30, 1e-4, None,
                        multiclass="multinomial", backend_max_iter=3)
    assert not out.converged[0, 0] and out.n_iter[0, 0] == 3
    assert "sklearn backend: 1 of 1 fits did not converge within 3 iterations" in caplog.text
