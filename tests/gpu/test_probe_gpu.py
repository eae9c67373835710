"""Probe backends on CUDA: torch on the GPU, cuML on cupy data; skipped without CUDA / cuML."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from stc_gpu.probe import L1LogisticRegression, fit_path, l1_objective
from stc_gpu.probe.cuml_backend import cuml_available

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]
needs_cuml = pytest.mark.skipif(not cuml_available(), reason="needs cuML and cupy")


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    n, d = 2000, 300
    X = rng.standard_normal((n, 16)) @ rng.standard_normal((16, d)) + rng.standard_normal((n, d))
    X[:, :4] *= 100
    y = (X[:, 7] - X[:, 20] + X[:, 1] / 100 + rng.standard_normal(n) > 0).astype(int)
    return X.astype(np.float32), y


def _reference(X, y, alpha):
    ref = fit_path(X, y, [alpha], backend="sklearn", tol=1e-8, max_iter=1000)
    return float(ref.objective[0, 0])


def test_torch_cuda_path_matches_cpu_and_reference(problem):
    X, y = problem
    stack = torch.from_numpy(np.stack([X, X[:, ::-1].copy()])).cuda()
    alphas = [0.02, 0.005]
    gpu = fit_path(stack, y, alphas, backend="torch")
    cpu = fit_path(stack.cpu(), y, alphas, backend="torch")
    np.testing.assert_allclose(gpu.objective, cpu.objective, rtol=1e-4)
    for a, alpha in enumerate(alphas):
        assert gpu.objective[0, a] <= _reference(X, y, alpha) * (1 + 1e-4)


@needs_cuml
def test_cuml_backend_on_cupy_reaches_reference_and_loads_on_cpu(problem, tmp_path):
    import cupy as cp

    X, y = problem
    alpha = 0.01
    model = L1LogisticRegression(alpha, backend="auto", tol=1e-10, max_iter=10_000)
    model.fit(cp.asarray(X), cp.asarray(y))
    assert model.backend_ == "cuml"
    Xs = (X - model.mean_) / model.scale_
    ours = l1_objective(Xs, y, model.coef_, model.intercept_, alpha)
    assert ours <= _reference(X, y, alpha) * (1 + 1e-4)
    model.save(tmp_path / "probe")
    loaded = L1LogisticRegression.load(tmp_path / "probe")
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
