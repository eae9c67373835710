"""Several binary tasks on the same rows (the labels of a multi-label task) in one batched solve:
each (problem, task) reaches what fitting that task alone reaches, on every backend and on both
execution paths of our solver."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from stc_gpu.probe import L1LogisticRegression, fit_path
from stc_gpu.probe.torch_solver import solve_path


def _tasks(n=240, d=12, P=3, T=3, seed=0):
    """X (P, n, d) and T overlapping binary labels Y (n, T) that depend on a few columns."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((P, n, d))
    W = rng.standard_normal((d, T)) * (np.abs(rng.standard_normal((d, 1))) > 0.8)
    score = X[0] @ W
    Y = (score + 0.5 * rng.standard_normal((n, T)) > 0.3).astype(int)
    return X, Y


ALPHAS = [0.05, 0.01, 0.002]


@pytest.mark.parametrize("backend", ["torch", "sklearn"])
def test_batched_tasks_equal_each_task_alone(backend):
    X, Y = _tasks()
    n_train = 180
    eval_set = (X[:, n_train:], Y[n_train:])
    batched = fit_path(X[:, :n_train], Y[:n_train], ALPHAS, backend=backend, device="cpu",
                       eval_set=eval_set, max_iter=50, tol=1e-8)
    P, T = X.shape[0], Y.shape[1]
    assert batched.coef.shape[:2] == (P * T, len(ALPHAS))
    assert list(batched.classes) == [0, 1] and batched.mean.shape == (P * T, X.shape[2])
    for t in range(T):
        alone = fit_path(X[:, :n_train], Y[:n_train, t], ALPHAS, backend=backend, device="cpu",
                         eval_set=(eval_set[0], eval_set[1][:, t]), max_iter=50, tol=1e-8)
        for p in range(P):
            q = p * T + t
            np.testing.assert_allclose(batched.coef[q], alone.coef[p], atol=1e-7)
            np.testing.assert_allclose(batched.objective[q], alone.objective[p], rtol=1e-9)
            np.testing.assert_array_equal(batched.best_val_pred[q], alone.best_val_pred[p])
            np.testing.assert_allclose(batched.best_coef[q], alone.best_coef[p], atol=1e-7)
            a = L1LogisticRegression.from_path(batched, q, 1, best=True)
            b = L1LogisticRegression.from_path(alone, p, 1, best=True)
            np.testing.assert_allclose(a.predict_proba(X[p]), b.predict_proba(X[p]), atol=1e-7)


@pytest.mark.parametrize("resident", [False, True])
def test_both_execution_paths_solve_tasks_as_separate_problems(resident):
    X, Y = _tasks(P=2, T=2, seed=1)
    Zt = torch.as_tensor((X - X.mean(1, keepdims=True)) / X.std(1, keepdims=True)
                         ).transpose(1, 2).contiguous()
    both = solve_path(Zt, Y.T, 2, ALPHAS, max_iter=50, tol=1e-10, device_resident=resident)
    for t in range(2):
        alone = solve_path(Zt, Y[:, t], 2, ALPHAS, max_iter=50, tol=1e-10,
                           device_resident=resident)
        np.testing.assert_allclose(both.coef[t::2], alone.coef, atol=1e-6)
        np.testing.assert_allclose(both.intercept[t::2], alone.intercept, atol=1e-6)


def test_task_labels_are_checked():
    X, Y = _tasks(P=1, T=2)
    with pytest.raises(ValueError, match="0/1 labels"):
        fit_path(X, np.where(Y == 1, 2, 0), ALPHAS)
    with pytest.raises(ValueError, match=r"tasks \[1\] of y have only one class"):
        fit_path(X, np.stack([Y[:, 0], np.ones(len(Y), int)], 1), ALPHAS)
    with pytest.raises(ValueError, match="prefixes take one label vector"):
        fit_path(X[0], Y, ALPHAS, prefixes=[3, 6])
    with pytest.raises(ValueError, match="eval_set X and y have different lengths"):
        fit_path(X[:, :100], Y[:100], ALPHAS, eval_set=(X[:, 100:], Y[100:, :1]))
