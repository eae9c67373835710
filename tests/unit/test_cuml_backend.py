"""The cuML backend called right, without cuML: fakes of two cuML releases' LogisticRegression.

``Fake2502`` has cuML 25.02's constructor (no ``penalty_normalized``, no ``n_iter_``; the count is
``solver_model.num_iters``, ``max_iter + 1`` when the budget ran out); ``Fake2608`` has 26.08's
(``penalty_normalized``, ``n_iter_``, ``max_iter`` when the budget ran out). Both reject unknown
keywords like the real classes do.
"""
from __future__ import annotations

import inspect
import logging
import sys
import types

import numpy as np
import pytest
import torch

from stc_gpu.probe import cuml_backend
from stc_gpu.probe.objective import cuml_C_from_alpha
from stc_gpu.probe.path import _fit_each


def _init_2502(*, penalty="l2", tol=1e-4, C=1.0, fit_intercept=True, class_weight=None,
               max_iter=1000, linesearch_max_iter=50, verbose=False, l1_ratio=None, solver="qn",
               handle=None, output_type=None):
    """cuML 25.02's ``LogisticRegression.__init__`` keywords."""


def _init_2608(*, penalty="l2", tol=1e-4, C=1.0, fit_intercept=True, class_weight=None,
               max_iter=1000, linesearch_max_iter=50, l1_ratio=None, solver="qn",
               lbfgs_memory=5, penalty_normalized=True, verbose=False, output_type=None):
    """cuML 26.08's ``LogisticRegression.__init__`` keywords."""


class _FakeBase:
    instances: list = []
    #: OWL-QN iterations the fake "needs" before its stopping test passes.
    iterations_needed = 37

    def __init__(self, **kwargs):
        bound = self.__signature__.bind(**kwargs)  # TypeError on a keyword the release lacks
        bound.apply_defaults()
        self.kwargs = kwargs  # exactly what the backend passed
        self.max_iter = bound.arguments["max_iter"]
        type(self).instances.append(self)

    def fit(self, X, y):
        X = np.asarray(X)
        K = len(np.unique(np.asarray(y)))
        rows = 1 if K == 2 else K
        self.coef_ = np.full((rows, X.shape[1]), 0.01)
        self.intercept_ = np.zeros(rows)
        self._set_iterations(self.iterations_needed)
        return self


class Fake2502(_FakeBase):
    __signature__ = inspect.signature(_init_2502)  # what inspect.signature(cls) reports

    def _set_iterations(self, needed):
        # qn_solvers.cuh <= 25.10: the loop counter ends at max_iter + 1 when the budget runs out
        k = needed if needed <= self.max_iter else self.max_iter + 1
        self.solver_model = types.SimpleNamespace(num_iters=k)


class Fake2608(_FakeBase):
    __signature__ = inspect.signature(_init_2608)

    def _set_iterations(self, needed):
        # >= 25.12: the count is set to max_iter when the budget runs out
        self.n_iter_ = np.asarray([min(needed, self.max_iter)])


@pytest.fixture(params=[Fake2502, Fake2608], ids=["cuml-25.02", "cuml-26.08"])
def fake_cuml(request, monkeypatch):
    """Install fake ``cuml.linear_model`` and ``cupy`` modules (numpy stands in for cupy)."""
    cls = type(request.param.__name__, (request.param,), {"instances": []})
    linear_model = types.ModuleType("cuml.linear_model")
    linear_model.LogisticRegression = cls
    cuml = types.ModuleType("cuml")
    cuml.linear_model = linear_model
    cupy = types.ModuleType("cupy")
    cupy.asarray, cupy.asnumpy = np.asarray, np.asarray
    cupy.from_dlpack = lambda t: t.numpy()
    monkeypatch.setitem(sys.modules, "cuml", cuml)
    monkeypatch.setitem(sys.modules, "cuml.linear_model", linear_model)
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    return cls


def _problem(n=120, d=7, classes=2, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)).astype(np.float32), rng.integers(0, classes, n)


def test_kwargs_every_release_accepts_and_C_for_our_alpha(fake_cuml):
    X, y = _problem()
    alpha = 0.01
    coef, intercept, n_iter, converged = cuml_backend.fit_one(X, y, 2, alpha)
    (model,) = fake_cuml.instances
    kw = model.kwargs
    assert kw["penalty"] == "l1" and kw["fit_intercept"] is True
    # cuML's l1_strength is 1/C, divided by n (normalised penalty in every supported release)
    assert kw["C"] == pytest.approx(1.0 / (alpha * len(y)))
    assert kw["C"] == pytest.approx(cuml_C_from_alpha(alpha, len(y), penalty_normalized=True))
    assert kw["max_iter"] == cuml_backend.MAX_ITER == 1000
    # passed where the release declares it (always True there); never where it would be rejected
    declared = "penalty_normalized" in inspect.signature(fake_cuml).parameters
    assert kw.get("penalty_normalized") is (True if declared else None)
    assert set(kw) <= set(inspect.signature(fake_cuml).parameters)
    assert coef.shape == (1, 7) and intercept.shape == (1,)
    assert (n_iter, converged) == (37, True)


class _OnDevice(np.ndarray):
    """A numpy array standing in for a cupy array on a given device (``X.device`` is a context
    manager that records when the fit runs inside it)."""

    entered: list = []

    @property
    def device(self):
        array = self

        class Context:
            def __enter__(self):
                array.entered.append("in")

            def __exit__(self, *exc):
                array.entered.append("out")

        return Context()


def test_the_fit_runs_on_the_device_of_the_data(fake_cuml, monkeypatch):
    X, y = _problem()
    seen = []
    original = fake_cuml.fit
    monkeypatch.setattr(fake_cuml, "fit", lambda self, X, y: (
        seen.append(list(_OnDevice.entered)), original(self, X, y))[1])
    _OnDevice.entered = []
    cuml_backend.fit_one(X.view(_OnDevice), y, 2, 0.01)
    assert seen == [["in"]] and _OnDevice.entered == ["in", "out"]


def test_multiclass_shapes(fake_cuml):
    X, y = _problem(classes=3)
    coef, intercept, _, _ = cuml_backend.fit_one(X, y, 3, 0.01)
    assert coef.shape == (3, 7) and intercept.shape == (3,)


@pytest.mark.parametrize("needed, budget, expected", [
    (0, 50, (0, True)),        # initial point already optimal
    (49, 50, (49, True)),
    (50, 50, (50, False)),     # ambiguous on >= 25.12: counted as not converged
    (5000, 50, (50, False)),   # budget ran out: 51 on 25.02, 50 on 26.08, both read as such
])
def test_converged_read_from_the_fit(fake_cuml, needed, budget, expected):
    fake_cuml.iterations_needed = needed
    X, y = _problem()
    _, _, n_iter, converged = cuml_backend.fit_one(X, y, 2, 0.01, max_iter=budget)
    assert (n_iter, converged) == expected


def test_unknown_iteration_count_is_not_converged(fake_cuml, monkeypatch):
    monkeypatch.setattr(fake_cuml, "_set_iterations", lambda self, needed: None)
    X, y = _problem()
    _, _, n_iter, converged = cuml_backend.fit_one(X, y, 2, 0.01)
    assert (n_iter, converged) == (-1, False)


def _feature_major(X):
    return torch.from_numpy(np.ascontiguousarray(X.T, dtype=np.float32))[None]  # (1, d, n)


def test_fit_each_passes_the_qn_budget_not_newton_steps(fake_cuml):
    X, y = _problem()
    alphas = np.array([0.1, 0.01])
    out = _fit_each("cuml", _feature_major(X), y, 2, alphas, 30, 1e-4, None)
    assert [m.kwargs["max_iter"] for m in fake_cuml.instances] == [1000, 1000]
    assert [m.kwargs["C"] for m in fake_cuml.instances] == pytest.approx(
        [1.0 / (a * len(y)) for a in alphas])
    assert all(m.kwargs["tol"] == 1e-4 for m in fake_cuml.instances)
    assert out.converged.all() and (out.n_iter == 37).all()
    assert out.objective.shape == (1, 2) and np.isfinite(out.objective).all()


def test_fit_each_explicit_backend_budget_and_warning(fake_cuml, caplog):
    fake_cuml.iterations_needed = 80
    X, y = _problem()
    with caplog.at_level(logging.WARNING, logger="stc_gpu.probe"):
        out = _fit_each("cuml", _feature_major(X), y, 2, np.array([0.01]), 30, 1e-4, None,
                        backend_max_iter=60)
    assert fake_cuml.instances[0].kwargs["max_iter"] == 60
    assert not out.converged.any() and out.n_iter[0, 0] == 60
    assert "did not converge within 60 iterations" in caplog.text


def test_the_fakes_reject_what_their_release_rejects():
    with pytest.raises(TypeError):
        Fake2502(penalty="l1", penalty_normalized=True)
    with pytest.raises(TypeError):
        Fake2608(penalty="l1", handle=None)  # removed in 26.08


def test_pins_agree_with_the_supported_range():
    """pyproject's gpu extra and environment.yml pin the same cuML range as SUPPORTED_CUML."""
    import re
    import tomllib
    from pathlib import Path

    root = Path(__file__).parents[2]
    low, high = (tuple(int(x) for x in v.split(".")) for v in cuml_backend.SUPPORTED_CUML)
    gpu = tomllib.loads((root / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]["gpu"]
    conda = (root / "environment.yml").read_text()
    pins = [next(p for p in gpu if p.startswith(name + ">=")) for name in ("cuml-cu12", "cudf-cu12")]
    pins += re.findall(r"^\s*-\s*((?:cuml|cudf|dask-cuda)\S*)\s*$", conda, flags=re.M)
    assert len(pins) == 5
    for pin in pins:
        m = re.fullmatch(r"[\w-]+>=(\d+)\.(\d+),<(\d+)\.(\d+)", pin)
        assert m, pin
        a, b, c, d = map(int, m.groups())
        assert (a, b) == low and high < (c, d), pin
