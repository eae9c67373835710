"""The batched path of fit_path: many problems (layers, prefixes, alphas) in one solve agree with
single fits, and the validation checkpoints are honest."""
from __future__ import annotations

import numpy as np
import pytest

from stc_gpu.probe import L1LogisticRegression, fit_path, l1_objective
from tests.probe_data import standardize, synthetic_binary

REL_TOL = 1e-4


@pytest.fixture(scope="module")
def synthetic():
    """Correlated features, a few huge-variance and offset ones, sparse truth: X (300, 40)."""
    return synthetic_binary()


def test_batched_path_matches_single_fits_in_any_alpha_order(synthetic):
    X, y = synthetic
    rng = np.random.default_rng(5)
    stack = np.stack([X, X[:, rng.permutation(X.shape[1])], X * 2 + 1]).astype(np.float32)
    alphas = [0.01, 0.05, 0.02]  # unsorted: returned in this order
    batched = fit_path(stack, y, alphas, backend="torch")
    assert batched.coef.shape == (3, 3, 1, X.shape[1])
    assert batched.objective.shape == batched.n_iter.shape == (3, 3)
    assert batched.converged.all()
    assert np.all(np.diff(batched.objective[:, [1, 2, 0]], axis=1) < 0)  # weaker alpha, lower f
    for p in range(3):
        for a, alpha in enumerate(alphas):
            single = L1LogisticRegression(alpha, backend="torch").fit(stack[p], y)
            assert batched.objective[p, a] == pytest.approx(single.objective_, rel=REL_TOL)
    # scaling a feature does not change the standardised problem
    assert batched.objective[2] == pytest.approx(batched.objective[0], rel=REL_TOL)
    model = L1LogisticRegression.from_path(batched, 1, 2)
    assert model.score(stack[1], y) == pytest.approx(
        L1LogisticRegression(0.02).fit(stack[1], y).score(stack[1], y), abs=0.01)


def test_list_of_problems_with_different_widths(synthetic):
    X, y = synthetic
    result = fit_path([X[:, :10], X], y, [0.02], backend="torch")
    assert result.coef.shape == (2, 1, 1, X.shape[1])
    assert list(result.n_features) == [10, X.shape[1]]
    assert np.all(result.coef[0, 0, 0, 10:] == 0)
    narrow = L1LogisticRegression.from_path(result, 0, 0)
    assert narrow.coef_.shape == (1, 10) and narrow.mean_.shape == (10,)
    assert narrow.objective_ == pytest.approx(
        L1LogisticRegression(0.02).fit(X[:, :10], y).objective_, rel=REL_TOL)


@pytest.mark.parametrize("backend", ["torch", "sklearn"])
def test_shared_prefixes_match_the_list_of_prefixes(synthetic, backend):
    X, y = synthetic
    train, val = slice(0, 200), slice(200, None)
    widths = [3, 12, 40]
    kw = dict(backend=backend, tol=1e-8, max_iter=100 if backend == "torch" else 1000)
    shared = fit_path(X[train], y[train], [0.05, 0.01], prefixes=widths,
                      eval_set=(X[val], y[val]), **kw)
    listed = fit_path([X[train, :w] for w in widths], y[train], [0.05, 0.01],
                      eval_set=([X[val, :w] for w in widths], y[val]), **kw)
    assert list(shared.n_features) == widths
    np.testing.assert_allclose(shared.objective, listed.objective, rtol=1e-6)
    np.testing.assert_allclose(shared.coef, listed.coef, atol=1e-5)
    np.testing.assert_array_equal(shared.best_val_pred, listed.best_val_pred)
    narrow = L1LogisticRegression.from_path(shared, 0, 1, best=True)
    assert narrow.coef_.shape == (1, 3) and narrow.mean_.shape == (3,)
    with pytest.raises(ValueError, match="prefixes"):
        fit_path(X, y, [0.01], prefixes=[0, 5])


def test_eval_set_keeps_best_checkpoint(synthetic):
    X, y = synthetic
    train, val = slice(0, 200), slice(200, None)
    stack = np.stack([X, X[:, ::-1]])
    result = fit_path(stack[:, train], y[train], [0.05, 0.005], eval_set=(stack[:, val], y[val]))
    assert result.best_val_score.shape == (2, 2)
    assert np.all(result.best_val_score >= result.val_score)
    assert np.all((0 <= result.best_iter) & (result.best_iter <= result.n_iter))
    best = L1LogisticRegression.from_path(result, 0, 1, best=True)
    assert best.score(X[val], y[val]) == pytest.approx(result.best_val_score[0, 1])
    final = L1LogisticRegression.from_path(result, 0, 1)
    assert final.score(X[val], y[val]) == pytest.approx(result.val_score[0, 1])
    model = L1LogisticRegression(0.005).fit(X[train], y[train], eval_set=(X[val], y[val]))
    single = fit_path(X[train], y[train], [0.005], eval_set=(X[val], y[val]))
    assert model.score(X[val], y[val]) == pytest.approx(single.best_val_score[0, 0])
    assert model.n_iter_[0] == single.best_iter[0, 0]


@pytest.mark.parametrize("metric", ["accuracy", "macro_f1"])
def test_checkpoints_are_honest(synthetic, metric):
    """The stored checkpoint of an alpha was produced by a Newton step of that alpha (never the
    previous alpha's warm start), is ranked by the run's metric, and carries its own objective."""
    from sklearn.metrics import accuracy_score, f1_score

    X, y = synthetic
    y3 = np.digitize(X[:, 5] - X[:, 9], [-1.0, 1.0])  # three classes
    train, val = slice(0, 200), slice(200, None)
    alphas = [0.05, 0.02, 0.005]
    for labels in (y, y3):
        result = fit_path(X[train], labels[train], alphas, eval_set=(X[val], labels[val]),
                          metric=metric, max_iter=50)
        assert result.metric == metric
        assert np.all(result.best_iter >= 1)  # a step of this alpha, not the warm start
        assert np.all(result.best_iter <= result.n_iter)
        assert np.all(result.best_val_score >= result.val_score)
        Xs = standardize(X[train])
        for a, alpha in enumerate(alphas):
            best = L1LogisticRegression.from_path(result, 0, a, best=True)
            pred = best.predict(X[val])
            assert np.array_equal(result.classes[result.best_val_pred[0, a]], pred)
            expected = (accuracy_score(labels[val], pred) if metric == "accuracy"
                        else f1_score(labels[val], pred, average="macro"))
            assert result.best_val_score[0, a] == pytest.approx(expected)
            y_index = np.unique(labels[train], return_inverse=True)[1]
            assert best.objective_ == pytest.approx(
                l1_objective(Xs, y_index, best.coef_, best.intercept_, alpha), rel=1e-6)
            assert best.objective_ >= result.objective[0, a] * (1 - 1e-9)  # final is lowest


