"""Inner solvers of the proximal-Newton step: the L1-penalised quadratic model of B problems.

Each solver returns the direction ``Δ (B, q)`` that (approximately) minimises, per problem b::

    g_bᵀΔ + ½ ΔᵀH_bΔ + Σ_j lam_bj |v0_bj + Δ_j|,   H_b = [Z_ws; 1] diag(w_b) [Z_ws; 1]ᵀ

with ``g, v0, lam (B, q)`` float64 (q = working-set size + 1, the intercept last). Padded
coordinates have ``g = lam = v0 = 0`` and come back with ``Δ = 0``.

* :func:`coordinate_descent` (host): cyclic coordinate descent, compiled with numba and run in
  parallel threads over the problems, that never forms the Hessian: it keeps the margins' change
  ``Z_wsᵀ Δ`` up to date, so a coordinate costs one O(n) pass (skglm's and liblinear's design;
  the pass that computes a coordinate's curvature also applies the previous coordinate's update).
  The sweeps run in the features' precision (float32 from the store: twice the SIMD width of
  float64; on the demo's FFN working sets the single pass measured 1.2x faster than two, and
  float32 1.4-1.5x faster again than the same pass in float64); the
  direction's margin change ``dM`` is then recomputed exactly in float64, so the line search and
  the margins never inherit the sweeps' rounding. It is exact per coordinate and needs few sweeps
  (the solver allows 20): the fastest choice on the CPU, where the tensors already live in host
  memory (no copies).
* :func:`proximal_gradient` (any device): accelerated proximal gradient (FISTA with adaptive
  restart) on the quadratic model, with the step from a power iteration. Every iteration is a few
  batched tensor operations over all problems, so the number of operations does not depend on the
  working-set size and nothing leaves the device: the CUDA path.
"""
from __future__ import annotations

import concurrent.futures
import functools

import numba
import numpy as np
import torch

#: Sweeps stop when the largest scaled coordinate change falls below this share of the first's.
INNER_REL_TOL = 1e-3
#: Proximal-gradient iterations between two convergence checks (one host sync each).
_CHECK_EVERY = 10
_POWER_ITERATIONS = 20
#: Safety factor on the power iteration's estimate of the largest eigenvalue.
_LIPSCHITZ_MARGIN = 1.05


@numba.njit(nogil=True, cache=True, fastmath={"reassoc", "contract"}, inline="always")
def _update_then_curvature(u, wz, previous, pending, row, scalar):  # pragma: no cover - compiled
    """``u += pending * previous`` (the previous coordinate's step), then ``Σ_i row_i wz_i u_i``,
    in one pass and in the precision of ``u``."""
    scalar[0] = 0.0
    curvature = scalar[0]
    if pending != 0.0:
        scalar[0] = pending
        step = scalar[0]
        for i in range(u.shape[0]):
            ui = u[i] + step * previous[i]
            u[i] = ui
            curvature += row[i] * wz[i] * ui
    else:
        for i in range(u.shape[0]):
            curvature += row[i] * wz[i] * u[i]
    return curvature


@numba.njit(nogil=True, cache=True, fastmath={"reassoc", "contract"})
def _cd_kernel(blocks, Zt, layer, idx, sizes, live, w, w_work, g, v0, lam, max_sweeps, rel_tol,
               delta, dM, u_work):  # pragma: no cover - compiled
    q = g.shape[1]
    m = q - 1  # the intercept is the last coordinate
    n = Zt.shape[2]
    scalar = np.empty(1, u_work.dtype)  # casts a float64 scalar to the features' precision
    ones = np.ones(n, u_work.dtype)  # the intercept's row
    for b in blocks:
        if not live[b]:
            continue
        p = layer[b]
        size = sizes[b]
        wb = w[b]
        wz = w_work[b]
        u = u_work[b]  # the model's margin change  Z_wsᵀ Δ + Δ_intercept, kept up to date
        diag = np.empty(size)
        for c in range(size):
            row = Zt[p, idx[b, c]]
            total = 0.0
            for i in range(n):
                total += wb[i] * row[i] * row[i]
            diag[c] = total * (1 + 1e-10) + 1e-14 if total > 0 else 1.0
        diag_intercept = max(wb.sum(), 1e-300)
        value = v0[b].copy()
        first = -1.0
        for _ in range(max_sweeps):
            top = 0.0
            # the previous coordinate's update of u is applied in the pass that computes the
            # next coordinate's curvature: one pass over the rows per coordinate, not two
            pending = 0.0
            previous = Zt[p, idx[b, 0]]
            for c in range(size):
                row = Zt[p, idx[b, c]]
                curvature = _update_then_curvature(u, wz, previous, pending, row, scalar)
                current = value[c]
                z = current - (g[b, c] + curvature) / diag[c]
                shrink = lam[b, c] / diag[c]
                if z > shrink:
                    new = z - shrink
                elif z < -shrink:
                    new = z + shrink
                else:
                    new = 0.0
                pending = new - current
                previous = row
                if pending != 0.0:
                    value[c] = new
                    top = max(top, abs(pending) * np.sqrt(diag[c]))
            curvature = _update_then_curvature(u, wz, previous, pending, ones, scalar)
            step = -(g[b, m] + curvature) / diag_intercept
            if step != 0.0:
                value[m] += step
                scalar[0] = step
                step_w = scalar[0]
                for i in range(n):
                    u[i] += step_w
                top = max(top, abs(step) * np.sqrt(diag_intercept))
            if first < 0:
                first = top
            if top <= rel_tol * first or top <= 1e-14:
                break
        for c in range(q):
            delta[b, c] = value[c] - v0[b, c]
        # the direction's margin change, exact in float64 (u drifted in the features' precision)
        out = dM[b]
        for c in range(size):
            if delta[b, c] != 0.0:
                row = Zt[p, idx[b, c]]
                for i in range(n):
                    out[i] += delta[b, c] * row[i]
        for i in range(n):
            out[i] += delta[b, m]


def coordinate_descent(Zt: torch.Tensor, layer: torch.Tensor, idx: torch.Tensor,
                       sizes: torch.Tensor, live: torch.Tensor, w: torch.Tensor, g: torch.Tensor,
                       v0: torch.Tensor, lam: torch.Tensor, max_sweeps: int):
    """Direction of B blocks by compiled coordinate descent that never forms the Hessian.

    Parameters
    ----------
    Zt : (P, d, n) host features, feature-major; block b reads layer ``layer[b]``.
    idx (B, m) working-set features, of which the first ``sizes[b]`` are real; live (B,) bool:
        blocks with ``False`` get a zero direction; w (B, n) Newton weights; g, v0, lam (B, m+1)
        with the intercept last; max_sweeps: sweeps over the working set at most.

    Returns
    -------
    delta (B, m+1) and dM (B, n), the direction and its change of the margins, float64.
    Each coordinate costs O(n): the margins' change is kept up to date instead of a Hessian row.
    """
    if Zt.is_cuda:
        raise ValueError("coordinate_descent runs on host tensors; use proximal_gradient on CUDA")
    B, q = g.shape
    delta = np.zeros((B, q))
    dM = np.zeros((B, Zt.shape[2]))
    arrays = [t.detach().contiguous().numpy() for t in (Zt, layer, idx, sizes, live, w, g, v0, lam)]
    w_work = arrays[5].astype(arrays[0].dtype)  # the sweeps run in the features' precision
    u_work = np.zeros(dM.shape, dtype=arrays[0].dtype)
    # the kernel releases the GIL: the live blocks are dealt to torch's number of threads
    # (plain threads that sleep while they wait; numba's parallel layers spin and were measured
    # to slow every torch operation between two kernels by 10-30x)
    parts = _balanced_parts(np.flatnonzero(arrays[4]), arrays[3], torch.get_num_threads())
    run = functools.partial(_cd_kernel, Zt=arrays[0], layer=arrays[1], idx=arrays[2],
                            sizes=arrays[3], live=arrays[4], w=arrays[5], w_work=w_work,
                            g=arrays[6], v0=arrays[7], lam=arrays[8],
                            max_sweeps=int(max_sweeps), rel_tol=INNER_REL_TOL, delta=delta,
                            dM=dM, u_work=u_work)
    if len(parts) == 1:
        run(parts[0])
    elif parts:
        list(_pool(len(parts)).map(run, parts))
    return torch.from_numpy(delta), torch.from_numpy(dM)


def _balanced_parts(blocks: np.ndarray, sizes: np.ndarray, workers: int) -> list[np.ndarray]:
    """``blocks`` split into at most ``workers`` parts of similar work (a block's work is its
    working-set size): largest first, each to the least loaded part (LPT scheduling)."""
    workers = max(1, min(workers, len(blocks)))
    parts: list[list[int]] = [[] for _ in range(workers)]
    loads = np.zeros(workers)
    for b in blocks[np.argsort(-sizes[blocks], kind="stable")]:
        k = int(np.argmin(loads))
        parts[k].append(int(b))
        loads[k] += sizes[b]
    return [np.array(part, dtype=np.int64) for part in parts if part]


@functools.lru_cache(maxsize=4)
def _pool(workers: int) -> concurrent.futures.ThreadPoolExecutor:
    return concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="stc-cd")


def _soft_threshold(x: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.clamp(x.abs() - threshold, min=0)


def largest_eigenvalue(H: torch.Tensor, iterations: int = _POWER_ITERATIONS) -> torch.Tensor:
    """Power-iteration estimate (B,) of the largest eigenvalue of each symmetric PSD H (B, q, q)."""
    v = torch.ones(H.shape[:2], dtype=H.dtype, device=H.device)
    v = v / torch.linalg.vector_norm(v, dim=1, keepdim=True)
    for _ in range(iterations):
        w = torch.bmm(H, v[..., None])[..., 0]
        v = w / torch.clamp(torch.linalg.vector_norm(w, dim=1, keepdim=True), min=1e-300)
    return (v * torch.bmm(H, v[..., None])[..., 0]).sum(1)


def proximal_gradient(H: torch.Tensor, g: torch.Tensor, v0: torch.Tensor, lam: torch.Tensor,
                      max_iterations: int = 200, rel_tol: float = INNER_REL_TOL) -> torch.Tensor:
    """Direction Δ (B, q) by FISTA with adaptive restart, all batched tensor operations.

    The iterate is ``x = v0 + Δ``; the step is ``1 / L`` with ``L`` the largest eigenvalue of
    ``H`` (power iteration, times a small margin). Stops after ``max_iterations``, or earlier when
    the largest change of an iteration is below ``rel_tol`` times the first one (checked every
    few iterations; ``rel_tol = 0`` always runs ``max_iterations``).
    """
    step = 1.0 / (torch.clamp(largest_eigenvalue(H), min=1e-12) * _LIPSCHITZ_MARGIN)
    step = step[:, None]
    threshold = lam * step
    x = v0.clone()
    y = x.clone()
    momentum = torch.ones_like(step)
    first = None
    for iteration in range(max_iterations):
        grad = g + torch.bmm(H, (y - v0)[..., None])[..., 0]
        x_new = _soft_threshold(y - step * grad, threshold)
        # restart where the momentum points uphill (O'Donoghue & Candès)
        uphill = ((y - x_new) * (x_new - x)).sum(1, keepdim=True) > 0
        momentum_new = (1 + torch.sqrt(1 + 4 * momentum * momentum)) / 2
        beta = torch.where(uphill, torch.zeros_like(momentum), (momentum - 1) / momentum_new)
        momentum = torch.where(uphill, torch.ones_like(momentum), momentum_new)
        change = (x_new - x).abs().amax()
        y = x_new + beta * (x_new - x)
        x = x_new
        if rel_tol > 0 and iteration % _CHECK_EVERY == 0:
            if first is None:
                first = change
            elif bool(change <= rel_tol * first):
                break
    return x - v0
