"""The solver's two execution paths: the device path (CUDA's, run here on the CPU) and the host path.

The device path keeps a Newton step as batched tensor operations: their number must not grow with
the working set (no Python loop over coordinates, no per-coordinate kernel launches), and it must
reach the same objective as the host path's compiled coordinate descent.
"""
from __future__ import annotations

import functools
from collections import Counter

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import stc_gpu.probe.torch_solver as solver
from stc_gpu.probe.inner import proximal_gradient
from stc_gpu.probe.objective import l1_objective


class _OpCounter(TorchDispatchMode):
    """Counts every aten operation dispatched while active."""

    def __init__(self):
        super().__init__()
        self.ops = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops[str(func.overloadpacket)] += 1
        return func(*args, **(kwargs or {}))


def _problem(n=400, d=1100, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(np.float32)
    y = (X[:, :20].sum(1) + rng.standard_normal(n) > 0).astype(np.int64)
    Zt = torch.from_numpy(np.ascontiguousarray(np.stack([X.T, X[:, ::-1].T])))
    return Zt, y


def _count_one_step(Zt, y, working_set: int, monkeypatch) -> Counter:
    # a fixed number of inner iterations, so that the count is a property of the code, not of
    # when this data happens to converge
    monkeypatch.setattr(solver, "proximal_gradient",
                        functools.partial(proximal_gradient, max_iterations=50, rel_tol=0.0))
    sizes = []
    select = solver._select_working_set

    def recording_select(*args):
        idx, mask, complete = select(*args)
        sizes.append(idx.shape[1])
        return idx, mask, complete

    monkeypatch.setattr(solver, "_select_working_set", recording_select)
    counter = _OpCounter()
    with counter:
        solver.solve_path(Zt, y, 2, [1e-5], max_iter=1, max_new=working_set,
                          device_resident=True)
    assert sizes == [working_set]  # the step really ran on a working set of that size
    return counter.ops


def test_device_path_op_count_does_not_grow_with_the_working_set(monkeypatch):
    Zt, y = _problem()
    small = _count_one_step(Zt, y, 64, monkeypatch)
    large = _count_one_step(Zt, y, 1024, monkeypatch)
    assert sum(large.values()) == sum(small.values())
    assert large == small
    # host synchronisations (scalars read for loop control) do not grow either
    assert large["aten._local_scalar_dense"] == small["aten._local_scalar_dense"]


@pytest.mark.parametrize("multiclass", ["ovr", "multinomial"])
@pytest.mark.parametrize("n_classes", [2, 4])
def test_device_path_reaches_the_host_path_objective(n_classes, multiclass):
    rng = np.random.default_rng(1)
    n, d = 300, 60
    X = rng.standard_normal((n, 12)) @ rng.standard_normal((12, d)) + rng.standard_normal((n, d))
    X = (X - X.mean(0)) / X.std(0)
    y = np.argmax(X[:, :n_classes] + rng.standard_normal((n, n_classes)), 1)
    Zt = torch.from_numpy(np.ascontiguousarray(np.stack([X.T, X[:, ::-1].T])))
    alphas = [0.03, 0.005]
    runs = {resident: solver.solve_path(Zt, y, n_classes, alphas, multiclass=multiclass,
                                        tol=1e-9, max_iter=300, device_resident=resident)
            for resident in (False, True)}
    for resident, result in runs.items():
        for p in range(2):
            for a, alpha in enumerate(alphas):
                Xp = Zt[p].T.double().numpy()
                value = l1_objective(Xp, y, result.coef[p, a], result.intercept[p, a], alpha,
                                     multiclass=multiclass)
                assert value == pytest.approx(result.objective[p, a], rel=1e-6)
    # the multinomial model's block-diagonal Hessian converges linearly: slower, but to the same
    # objective
    slow = multiclass == "multinomial" and n_classes > 2
    np.testing.assert_allclose(runs[True].objective, runs[False].objective,
                               rtol=2e-5 if slow else 2e-6)
    if not slow:
        assert runs[True].converged.all() and runs[False].converged.all()


def test_host_coordinate_descent_solves_the_quadratic_model_and_its_margins_exactly(monkeypatch):
    """The compiled sweeps run in the features' precision (float32); the direction still
    minimises the L1 quadratic model (the explicit-Hessian reference, float64) and its margin
    change dM is exact in float64. Padding and blocks that are not live come back zero."""
    import stc_gpu.probe.inner as inner

    rng = np.random.default_rng(3)
    n, d, m = 500, 90, 40
    X = rng.standard_normal((n, d)) @ rng.standard_normal((d, d)) / np.sqrt(d)
    Zt = torch.from_numpy(np.ascontiguousarray(X.T[None], dtype=np.float32))  # (1, d, n)
    B = 3
    idx = torch.from_numpy(np.stack([rng.permutation(d)[:m] for _ in range(B)]))
    sizes = torch.tensor([m, 25, m])
    live = torch.tensor([True, True, False])
    w = torch.from_numpy(rng.uniform(0.05, 0.25, (B, n)))
    g = torch.from_numpy(rng.standard_normal((B, m + 1)) * 0.1)
    v0 = torch.from_numpy(rng.standard_normal((B, m + 1)) * (rng.random((B, m + 1)) < 0.5))
    lam = torch.full((B, m + 1), 0.02, dtype=torch.float64)
    lam[:, m] = 0
    for b, size in enumerate(sizes.tolist()):  # padding: g = lam = v0 = 0
        for array in (g, v0, lam):
            array[b, size:m] = 0
    monkeypatch.setattr(inner, "INNER_REL_TOL", 0.0)  # run every sweep: converge fully
    delta, dM = inner.coordinate_descent(Zt, torch.zeros(B, dtype=torch.long), idx, sizes,
                                         live, w, g, v0, lam, max_sweeps=400)
    Zf = Zt[0].double()
    for b in range(B):
        if not live[b]:
            assert not delta[b].any() and not dM[b].any()
            continue
        size = int(sizes[b])
        assert not delta[b, size:m].any()
        rows = torch.cat([Zf[idx[b, :size]], torch.ones(1, n, dtype=torch.float64)])
        keep = list(range(size)) + [m]
        H = (rows * w[b]) @ rows.T
        reference = proximal_gradient(H[None], g[b, keep][None], v0[b, keep][None],
                                      lam[b, keep][None], max_iterations=20000, rel_tol=0.0)[0]
        np.testing.assert_allclose(delta[b, keep], reference, atol=2e-5 * reference.abs().max())
        np.testing.assert_allclose(dM[b], delta[b, keep] @ rows, rtol=0, atol=1e-12)


def test_the_line_search_stops_once_every_unit_with_a_descent_direction_is_settled():
    """A unit without a descent direction (decrement >= 0, e.g. finished, its trial a rounding
    above its objective) takes no step and no longer keeps the search halving 30 times."""
    from stc_gpu.probe.objective import LogisticLoss

    n = 50
    y = torch.from_numpy((np.arange(n) % 2).astype(np.int64))
    losses = LogisticLoss(y, 2, "ovr")
    M = torch.zeros((2, 1, n), dtype=torch.float64)
    dM = torch.zeros_like(M)
    dM[0, 0] = torch.where(y == 1, 1.0, -1.0).double()  # unit 0: a descent direction
    f_now = losses.loss(M)
    f_now[1] -= 1e-12  # unit 1: its unchanged margins read as a rounding above f
    decrement = torch.tensor([[-0.5], [0.0]], dtype=torch.float64)
    zeros = torch.zeros((2, 2), dtype=torch.float64)
    evaluations = []
    loss = losses.loss
    losses.loss = lambda margins: evaluations.append(1) or loss(margins)
    t, f_new, ok = solver._armijo(M, dM, losses, torch.zeros((2, 1), dtype=torch.float64),
                                  zeros, zeros, zeros, f_now, decrement)
    assert ok.tolist() == [[True], [False]] and t[1, 0] == 0 and t[0, 0] > 0
    assert f_new[0, 0] < f_now[0, 0]
    assert len(evaluations) <= 3
