"""Batched proximal-Newton solver for P L1-logistic problems sharing labels (torch, CPU or CUDA).

Minimises, for every problem ``p`` and strength ``alpha`` (see :mod:`stc_gpu.probe.objective`)::

    f_p(W, b) = mean_i loss(Z_p[i] W^T + b, y_i) + alpha * ||W||_1

Algorithm (newGLMNET-like, every step batched over P with batched matmuls):

1. full gradient ``G = Zᵀ R`` (``R``: loss derivative w.r.t. the margins);
2. working set = non-zero features + KKT violators (``|G_j| > alpha``; on the first step of an
   alpha, the sequential strong rule ``|G_j| > 2 alpha - alpha_prev`` seeds it); at most
   ``max_new`` entrants per step, ranked by violation;
3. Hessian over the working set plus intercept: ``Z_wsᵀ diag(p(1-p)) Z_ws`` (multinomial:
   ``K x K`` blocks ``p_k (δ_kl - p_l)``);
4. coordinate descent on the quadratic + L1 model (float64) gives the direction;
5. Armijo backtracking along the margins (``M + t Z_ws Δ``, no extra pass over all features);
6. stop (``converged``) when the working set held every violator and the Newton decrement
   ``-(gᵀΔ + alpha (||w+Δ||_1 - ||w||_1))`` is below ``tol * f``; also stop, flagged not
   converged, when no step decreases f (float precision) or after ``max_iter`` steps.

The regularisation path is solved largest alpha first, warm-starting each alpha from the last.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

_ARMIJO = 1e-4
_MAX_HALVINGS = 30
#: Row-block size of the symmetric Gram products.
_GRAM_BLOCK = 128
_INNER_REL_TOL = 1e-3


@dataclass
class PathArrays:
    """Raw solver output, alphas in the caller's order.

    coef (P, A, K, d), intercept (P, A, K), objective (P, A), n_iter (P, A) and, with an eval set,
    val_accuracy (P, A) at the end, best_val_accuracy / best_iter (P, A) and best_coef /
    best_intercept at the best checkpoint.
    """

    coef: np.ndarray
    intercept: np.ndarray
    objective: np.ndarray
    n_iter: np.ndarray
    converged: np.ndarray
    val_accuracy: np.ndarray | None = None
    best_val_accuracy: np.ndarray | None = None
    best_iter: np.ndarray | None = None
    best_coef: np.ndarray | None = None
    best_intercept: np.ndarray | None = None


def _n_outputs(n_classes: int) -> int:
    return 1 if n_classes == 2 else n_classes


def _loss_and_residual(M: torch.Tensor, y: torch.Tensor, target: torch.Tensor):
    """Per-problem mean loss (P,), residual ``dloss/dM / n`` (P, n, K) and probabilities."""
    n = M.shape[1]
    if M.shape[2] == 1:
        m = M[..., 0]
        signed = torch.where(y.bool(), m, -m)
        loss = torch.nn.functional.softplus(-signed).mean(dim=1)
        prob = torch.sigmoid(M)
    else:
        log_norm = torch.logsumexp(M, dim=2)
        loss = (log_norm - M.gather(2, y.view(1, -1, 1).expand(M.shape[0], -1, 1))[..., 0]).mean(1)
        prob = torch.softmax(M, dim=2)
    return loss, (prob - target) / n, prob


def _losses(M: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    if M.shape[2] == 1:
        signed = torch.where(y.bool(), M[..., 0], -M[..., 0])
        return torch.nn.functional.softplus(-signed).mean(dim=1)
    picked = M.gather(2, y.view(1, -1, 1).expand(M.shape[0], -1, 1))[..., 0]
    return (torch.logsumexp(M, dim=2) - picked).mean(dim=1)


def _select_working_set(
    W: torch.Tensor, G: torch.Tensor, threshold: torch.Tensor, max_new: int, max_size: int
):
    """Working set per problem, padded: ``idx (P, m)``, ``mask (P, m)``, ``complete (P,)``.

    W, G : (P, K, d); threshold (P,) gradient level above which a zero feature enters.
    """
    active = (W != 0).any(dim=1)
    score = (G.abs().amax(dim=1) - threshold[:, None]).clamp(min=0)
    score = torch.where(active, torch.zeros_like(score), score)
    candidates = score > 0
    n_active = active.sum(dim=1)
    n_cand = candidates.sum(dim=1)
    room = torch.clamp(
        torch.minimum(torch.full_like(n_active, max_new), max_size - n_active), min=0
    )
    n_take = torch.minimum(n_cand, room)
    complete = n_take == n_cand
    # rank: active first (key 2), then entrants by violation, then the rest
    order_key = torch.where(active, torch.full_like(score, float("inf")), score)
    order = torch.argsort(order_key, dim=1, descending=True)
    sizes = n_active + n_take
    m = int(sizes.max()) if sizes.numel() else 0
    idx = order[:, :m]
    mask = torch.arange(m, device=W.device)[None, :] < sizes[:, None]
    idx = torch.where(mask, idx, torch.zeros_like(idx))
    return idx, mask, complete


def _hessian(Zw: torch.Tensor, prob: torch.Tensor) -> torch.Tensor:
    """Hessian of the mean loss over the working set plus intercept, float64 (P, K q, K q).

    Zw (P, m, n) working-set features (feature-major), prob (P, n, K); q = m + 1 with the
    intercept last in each class block (class-major order).
    """
    P, m, n = Zw.shape
    K = prob.shape[2]
    q = m + 1
    H = torch.empty((P, K * q, K * q), dtype=torch.float64, device=Zw.device)
    for k in range(K):
        for l in range(k, K):
            if K == 1:
                weight = prob[..., 0] * (1 - prob[..., 0]) / n
            else:
                weight = prob[..., k] * ((1.0 if k == l else 0.0) - prob[..., l]) / n
            weight = weight.to(Zw.dtype)
            weighted = Zw * weight[:, None, :]
            block = torch.empty((P, q, q), dtype=torch.float64, device=Zw.device)
            block[:, :m, :m] = _symmetric_gram(weighted, Zw, symmetric=(k == l))
            block[:, :m, m] = block[:, m, :m] = _bmm(Zw, weight[..., None])[..., 0]
            block[:, m, m] = weight.sum(dim=1)
            H[:, k * q : (k + 1) * q, l * q : (l + 1) * q] = block
            if l != k:
                H[:, l * q : (l + 1) * q, k * q : (k + 1) * q] = block.transpose(1, 2)
    return H


def _bmm(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """Batched ``A @ B`` for A (P, a, b), B (P, b, c) with few columns c (matrix-vector shaped).

    ``torch.bmm`` on CUDA; on the CPU a loop of ``mm``, because CPU ``bmm`` of this shape was
    measured 3-5x slower than per-problem ``mm`` (which runs at memory bandwidth).
    """
    if A.is_cuda:
        return torch.bmm(A, B)
    return torch.stack([A[p] @ B[p] for p in range(A.shape[0])])


def _symmetric_gram(A: torch.Tensor, B: torch.Tensor, symmetric: bool) -> torch.Tensor:
    """``A Bᵀ`` (P, m, m) for A, B (P, m, n); when it is known to be symmetric, only the blocks
    on and above the diagonal are multiplied (about half the flops for large m)."""
    m = A.shape[1]
    if not symmetric or m < 2 * _GRAM_BLOCK:
        return torch.bmm(A, B.transpose(1, 2))
    out = torch.empty((A.shape[0], m, m), dtype=A.dtype, device=A.device)
    starts = range(0, m, _GRAM_BLOCK)
    for i in starts:
        rows = slice(i, i + _GRAM_BLOCK)
        cols = slice(i, m)
        upper = torch.bmm(A[:, rows], B[:, cols].transpose(1, 2))
        out[:, rows, cols] = upper
        out[:, cols, rows] = upper.transpose(1, 2)
    return out


def _gather_features(Zt: torch.Tensor, idx: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Working-set rows (P, m, n) of the feature-major Zt (P, d, n), padded rows zeroed."""
    P, _, n = Zt.shape
    m = idx.shape[1]
    Zw = torch.empty((P, m, n), dtype=Zt.dtype, device=Zt.device)
    sizes = mask.sum(dim=1).tolist()
    for p in range(P):
        torch.index_select(Zt[p], 0, idx[p], out=Zw[p])
        Zw[p, sizes[p]:] = 0
    return Zw


def _coordinate_descent(
    H: torch.Tensor, g: torch.Tensor, v0: torch.Tensor, lam: torch.Tensor, max_sweeps: int
) -> torch.Tensor:
    """Direction Δ minimising ``gᵀΔ + ½ ΔᵀHΔ + Σ lam |v0 + Δ|`` by cyclic coordinate descent.

    Inputs float64: H (P, q, q) symmetric PSD, g / v0 / lam (P, q); returns Δ (P, q) on their
    device. The sweeps run in numpy on the host: they are sequential over the q coordinates (a
    few scalar operations each), where per-call dispatch, not arithmetic, is the cost; a
    device round trip of the small ``(P, q, q)`` Hessian is cheaper than q x sweeps kernel
    launches.
    """
    device = g.device
    H_np, g_np, v0_np, lam_np = (t.detach().cpu().numpy() for t in (H, g, v0, lam))
    diag = np.diagonal(H_np, axis1=1, axis2=2).copy()
    diag = np.where(diag > 0, diag * (1 + 1e-10) + 1e-14, 1.0)
    inv_diag = 1.0 / diag
    threshold = lam_np * inv_diag
    value = v0_np.copy()
    Hdelta = np.zeros_like(g_np)
    first_change = None
    for _ in range(max_sweeps):
        before = value.copy()
        for c in range(g_np.shape[1]):
            current = value[:, c]
            z = current - (g_np[:, c] + Hdelta[:, c]) * inv_diag[:, c]
            new = np.sign(z) * np.maximum(np.abs(z) - threshold[:, c], 0.0)
            step = new - current
            if step.any():
                value[:, c] = new
                Hdelta += H_np[:, c, :] * step[:, None]
        top = float((np.abs(value - before) * np.sqrt(diag)).max(initial=0.0))
        if first_change is None:
            first_change = top
        if top <= _INNER_REL_TOL * first_change or top <= 1e-14:
            break
    return torch.from_numpy(value - v0_np).to(device)


class _PathState:
    """Iterate of all P problems: W (P, K, d) float64, b (P, K), margins M (P, n, K) float64."""

    def __init__(self, Zt: torch.Tensor, y: torch.Tensor, K: int):
        P, d, n = Zt.shape
        f64 = dict(dtype=torch.float64, device=Zt.device)
        self.W = torch.zeros((P, K, d), **f64)
        counts = torch.bincount(y, minlength=max(K, 2)).to(torch.float64)
        prior = counts / counts.sum()
        if K == 1:
            b = torch.log(prior[1] / prior[0]).reshape(1)
        else:
            b = torch.log(prior) - torch.log(prior).mean()
        self.b = b.to(Zt.device).expand(P, K).clone()
        self.M = self.b[:, None, :].expand(P, n, K).clone()


def solve_path(
    Zt: torch.Tensor,
    y_index: np.ndarray,
    n_classes: int,
    alphas,
    *,
    max_iter: int = 100,
    tol: float = 1e-6,
    max_new: int = 128,
    max_working_set: int = 4096,
    max_sweeps: int = 50,
    eval_set: tuple[torch.Tensor, np.ndarray] | None = None,
    progress=None,
) -> PathArrays:
    """Solve the L1-logistic path for P problems at once.

    Parameters
    ----------
    Zt : (P, d, n) float32/float64 tensor of standardised features, **feature-major** (the
        transpose of the usual rows x features), on the solve device.
    y_index : (n,) class indices shared by all problems.
    n_classes : number of classes (2 -> one sigmoid output, >= 3 -> K softmax outputs).
    alphas : sequence of A strengths; solved in decreasing order, returned in the given order.
    max_iter : Newton steps per alpha at most.
    tol : relative Newton-decrement tolerance.
    max_new, max_working_set : entrants per step and total size caps of the working set.
    eval_set : optional ``(Zt_val (P, d, n_val), y_val_index (n_val,))`` scored at the warm start
        (iteration 0) and after every Newton step; the best checkpoint per (problem, alpha) is
        kept (the earliest among ties).
    progress : optional callable(str) receiving one line per alpha.
    """
    P, d, n = Zt.shape
    K = _n_outputs(n_classes)
    device = Zt.device
    y = torch.as_tensor(np.asarray(y_index), dtype=torch.long, device=device)
    target = (
        y.to(torch.float64).view(1, n, 1)
        if K == 1
        else torch.nn.functional.one_hot(y, K).to(torch.float64).view(1, n, K)
    )
    alphas = np.asarray(alphas, dtype=np.float64).reshape(-1)
    if alphas.size == 0 or not np.all(np.isfinite(alphas)) or np.any(alphas < 0):
        raise ValueError(f"alphas must be non-negative finite numbers, got {alphas!r}")
    A = len(alphas)
    order = np.argsort(-alphas, kind="stable")
    state = _PathState(Zt, y, K)
    out = PathArrays(
        coef=np.zeros((P, A, K, d)),
        intercept=np.zeros((P, A, K)),
        objective=np.zeros((P, A)),
        n_iter=np.zeros((P, A), dtype=np.int64),
        converged=np.zeros((P, A), dtype=bool),
    )
    if eval_set is not None:
        Ztv, yv = eval_set
        yv = torch.as_tensor(np.asarray(yv), dtype=torch.long, device=device)
        out.val_accuracy = np.zeros((P, A))
        out.best_val_accuracy = np.full((P, A), -1.0)
        out.best_iter = np.zeros((P, A), dtype=np.int64)
        out.best_coef = np.zeros((P, A, K, d))
        out.best_intercept = np.zeros((P, A, K))

    alpha_prev = None
    for a in order:
        alpha = float(alphas[a])
        loss, R, prob = _loss_and_residual(state.M, y, target)
        G = _gradient(Zt, R)
        if alpha_prev is None:  # sequential strong rule from the lambda_max of each problem
            alpha_prev_t = torch.clamp(G.abs().amax(dim=(1, 2)), min=alpha)
        else:
            alpha_prev_t = torch.full((P,), alpha_prev, dtype=torch.float64, device=device)
        strong = torch.clamp(2 * alpha - alpha_prev_t, min=0)
        f_now = loss + alpha * state.W.abs().sum(dim=(1, 2))
        done = torch.zeros(P, dtype=torch.bool, device=device)
        converged = torch.zeros_like(done)
        iters = torch.zeros(P, dtype=torch.long, device=device)
        if eval_set is not None:  # checkpoint 0: the warm start
            _score_checkpoint(out, a, state, Ztv, yv, iters, ~done)
        for step in range(max_iter):
            threshold = strong if step == 0 else torch.full_like(strong, alpha)
            idx, mask, complete = _select_working_set(
                state.W, G, threshold, max_new, max_working_set
            )
            m = idx.shape[1]
            Zw = _gather_features(Zt, idx, mask)
            q = m + 1
            H = _hessian(Zw, prob)
            mask_aug = torch.cat([mask, torch.ones((P, 1), dtype=torch.bool, device=device)], 1)
            mask_k = mask_aug.repeat(1, K)  # (P, K q), class-major
            g = torch.cat(
                [torch.cat([G[:, k].gather(1, idx), R[..., k].sum(1, keepdim=True)], 1)
                 for k in range(K)], 1
            ) * mask_k
            v0 = torch.cat(
                [torch.cat([state.W[:, k].gather(1, idx), state.b[:, k : k + 1]], 1)
                 for k in range(K)], 1
            ) * mask_k
            penal = torch.cat([mask.to(torch.float64), torch.zeros((P, 1), **_f64(device))], 1)
            lam = alpha * penal.repeat(1, K)
            delta = _coordinate_descent(H, g, v0, lam, max_sweeps) * mask_k
            delta = torch.where(done[:, None], torch.zeros_like(delta), delta)
            decrement = (g * delta).sum(1) + (lam * ((v0 + delta).abs() - v0.abs())).sum(1)
            direction = delta.view(P, K, q)
            dM = _bmm(Zw.transpose(1, 2), direction[:, :, :m].transpose(1, 2).to(Zt.dtype))
            dM = dM.to(torch.float64)
            dM += direction[:, None, :, m]
            t, f_new, ok = _armijo(state, y, dM, v0, delta, lam, f_now, decrement, alpha)
            moved = ok & ~done
            _apply_step(state, idx, mask, t * moved, v0.view(P, K, q), direction, dM)
            f_now = torch.where(moved, f_new, f_now)
            iters += (~done).long()
            small = -decrement <= tol * torch.clamp(f_now.abs(), min=1e-12)
            converged = converged | (~done & complete & small)
            done = done | (complete & small) | ~ok  # ~ok: no step decreases f (stalled)
            loss, R, prob = _loss_and_residual(state.M, y, target)
            if eval_set is not None:
                _score_checkpoint(out, a, state, Ztv, yv, iters, moved)
            if bool(done.all()):
                break
            G = _gradient(Zt, R)
        out.coef[:, a] = state.W.cpu().numpy()
        out.intercept[:, a] = state.b.cpu().numpy()
        out.objective[:, a] = (loss + alpha * state.W.abs().sum(dim=(1, 2))).cpu().numpy()
        out.n_iter[:, a] = iters.cpu().numpy()
        out.converged[:, a] = converged.cpu().numpy()
        if eval_set is not None:
            out.val_accuracy[:, a] = _accuracy(state, Ztv, yv).cpu().numpy()
        if progress is not None:
            progress(
                f"alpha={alpha:.3g}: Newton steps max {int(iters.max())}, "
                f"nnz mean {float((state.W != 0).any(1).sum(1).double().mean()):.1f}"
            )
        alpha_prev = alpha
    return out


def _f64(device) -> dict:
    return dict(dtype=torch.float64, device=device)


def _armijo(state, y, dM, v0, delta, lam, f_now, decrement, alpha):
    """Backtracking along the margins: step t (P,), new objective (P,), success (P,)."""
    P = dM.shape[0]
    t = torch.ones(P, **_f64(dM.device))
    accepted = torch.zeros(P, dtype=torch.bool, device=dM.device)
    f_best = f_now.clone()
    outside_l1 = alpha * state.W.abs().sum(dim=(1, 2)) - (lam * v0.abs()).sum(1)
    for _ in range(_MAX_HALVINGS):
        trial = _losses(state.M + t[:, None, None] * dM, y)
        trial = trial + outside_l1 + (lam * (v0 + t[:, None] * delta).abs()).sum(1)
        good = trial <= f_now + _ARMIJO * t * decrement
        newly = good & ~accepted
        f_best = torch.where(newly, trial, f_best)
        accepted = accepted | good
        if bool(accepted.all()):
            break
        t = torch.where(accepted, t, t / 2)
    ok = accepted & (decrement < 0)
    return torch.where(ok, t, torch.zeros_like(t)), f_best, ok


def _apply_step(state, idx, mask, t, v0, delta, dM):
    """Set the working-set parameters to ``v0 + t Δ`` and ``M += t dM`` (t = 0: unchanged).

    ``v0``/``delta`` (P, K, q) with the intercept last; coordinates that the L1 prox sent to
    zero become exact zeros when ``t = 1`` (``x + (0 - x) == 0`` in IEEE arithmetic).
    """
    P, K, q = delta.shape
    new = v0 + t[:, None, None] * delta
    rows = torch.arange(P, device=idx.device)[:, None].expand_as(idx)[mask]
    cols = idx[mask]
    for k in range(K):
        state.W[rows, k, cols] = new[:, k, :-1][mask]
    state.b = new[:, :, -1].clone()
    state.M += t[:, None, None] * dM


def _gradient(Zt: torch.Tensor, R: torch.Tensor) -> torch.Tensor:
    """Full loss gradient (P, K, d) float64 from feature-major Zt (P, d, n) and R (P, n, K)."""
    return _bmm(Zt, R.to(Zt.dtype)).transpose(1, 2).to(torch.float64)


def _accuracy(state, Ztv, yv) -> torch.Tensor:
    Mv = _bmm(Ztv.transpose(1, 2), state.W.transpose(1, 2).to(Ztv.dtype))
    Mv = Mv.to(torch.float64) + state.b[:, None]
    pred = (Mv[..., 0] > 0).long() if Mv.shape[2] == 1 else Mv.argmax(dim=2)
    return (pred == yv[None]).double().mean(dim=1)


def _score_checkpoint(out, a, state, Ztv, yv, iters, live):
    acc = _accuracy(state, Ztv, yv).cpu().numpy()
    better = (acc > out.best_val_accuracy[:, a]) & live.cpu().numpy()
    if better.any():
        out.best_val_accuracy[better, a] = acc[better]
        out.best_iter[better, a] = iters.cpu().numpy()[better]
        out.best_coef[better, a] = state.W.cpu().numpy()[better]
        out.best_intercept[better, a] = state.b.cpu().numpy()[better]
