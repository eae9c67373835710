"""Batched proximal-Newton solver for L1-logistic problems sharing labels (torch, CPU or CUDA).

P *layers* (feature matrices sharing the labels) are solved together over a path of strengths;
with T binary tasks (the labels of a multi-label task) every layer is solved for each, as P T
problems reading the same feature matrix. A
layer has K outputs (``K = 1`` for binary) and every output is a *block* of the batch
(``B = P K`` blocks) with its own working set, Hessian and inner solve:

* ``multiclass="ovr"``: K independent binary problems per layer (class k against the rest), each
  minimising ``mean_i log(1 + exp(-s_ik m_ik)) + alpha ||w_k||_1``; the reported objective of a
  layer is the sum over its K problems;
* ``multiclass="multinomial"``: one softmax problem per layer,
  ``mean_i [logsumexp_k m_ik - m_iy_i] + alpha ||W||_1``; its Newton model keeps the K diagonal
  blocks of the Hessian (``p_k (1 - p_k)`` weights) and the step length is shared by the layer;
* binary problems (``K = 1``) are the same in both modes.

One Newton step, batched over all blocks (see :mod:`stc_gpu.probe.inner` for the inner solve):

1. full gradient ``G = R Zᵀ`` (R: loss derivative w.r.t. the margins);
2. working set = non-zero weights + KKT violators (``|G_j| > alpha``; on the first step of an
   alpha the sequential strong rule ``|G_j| > 2 alpha - alpha_prev``), at most ``max_new``
   entrants per step ranked by violation, at most ``max_working_set`` in all;
3. Hessian of the working set plus intercept ``[Z_ws; 1] diag(w) [Z_ws; 1]ᵀ``;
4. inner solve of the quadratic + L1 model gives the direction;
5. Armijo backtracking along the margins (``M + t dM``: no pass over all features);
6. a unit (a binary problem, or a multinomial layer) stops, ``converged``, when its working sets
   held every violator and its Newton decrement is below ``tol * f``; it also stops, flagged not
   converged, when no step decreases f (float precision), and after ``max_iter`` steps.

``device_resident`` (default: on CUDA) keeps every step on the device as batched tensor
operations whose count does not depend on the working-set size (proximal-gradient inner solve,
plain batched matmuls); otherwise the host path runs the compiled coordinate descent and
CPU-tuned matmuls. Either way, the only host transfers inside a step are a few scalars for loop
control; results are copied to numpy once per alpha.

With an eval set, every layer is scored on the validation rows after each Newton step of an alpha
(never at the warm start, which belongs to another alpha) with the run's metric; the best
checkpoint (ties: the later, more converged one) is kept on the device with its step and its
objective.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from stc_gpu.probe.checkpoints import Checkpoints
from stc_gpu.probe.inner import coordinate_descent, proximal_gradient
from stc_gpu.probe.objective import LogisticLoss, n_outputs
from stc_gpu.vocabulary import DEFAULT_MULTICLASS, METRICS

_ARMIJO = 1e-4
_MAX_HALVINGS = 30


@dataclass
class PathArrays:
    """Raw solver output, alphas in the caller's order.

    coef (P, A, K, d), intercept (P, A, K), objective (P, A), n_iter (P, A), converged (P, A) of
    the final iterates. With an eval set: val_score (P, A) of the final iterate and, at the best
    checkpoint, best_val_score, best_iter, best_objective (P, A), best_coef, best_intercept and
    best_val_pred (P, A, n_val), its predicted class indices of the validation rows.
    """

    coef: np.ndarray
    intercept: np.ndarray
    objective: np.ndarray
    n_iter: np.ndarray
    converged: np.ndarray
    val_score: np.ndarray | None = None
    best_val_score: np.ndarray | None = None
    best_iter: np.ndarray | None = None
    best_objective: np.ndarray | None = None
    best_coef: np.ndarray | None = None
    best_intercept: np.ndarray | None = None
    best_val_pred: np.ndarray | None = None


class _Kernels:
    """The batched matmuls and the Newton direction of one execution path."""

    def __init__(self, device_resident: bool, max_sweeps: int):
        self.device_resident = device_resident
        self.max_sweeps = max_sweeps

    def bmm(self, A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
        """``A @ B`` for (P, a, b) x (P, b, c). On the host path a loop of ``mm`` over P, which
        was measured 3-5x faster than CPU ``bmm`` for these matrix-vector shapes."""
        if self.device_resident:
            return torch.bmm(A, B)
        return torch.stack([A[p] @ B[p] for p in range(A.shape[0])])

    def project(self, A: torch.Tensor, Z: torch.Tensor) -> torch.Tensor:
        """``A[p] @ Z[p // g]`` (P, K, y) for A (P, K, x) and Z (S, x, y): each of the S matrices
        is shared by ``g = P / S`` consecutive problems. One matmul when S = 1; on the device
        path one per matrix; on the host path one per problem (as :meth:`bmm`)."""
        P, K, x = A.shape
        S = Z.shape[0]
        if S == P:
            return self.bmm(A, Z)
        if S == 1:
            return (A.reshape(P * K, x) @ Z[0]).view(P, K, Z.shape[2])
        g = P // S
        if self.device_resident:
            return torch.bmm(A.reshape(S, g * K, x), Z).view(P, K, Z.shape[2])
        return torch.stack([A[p] @ Z[p // g] for p in range(P)])

    def direction(self, Zt, layer, idx, mask, live, w, g, v0, lam):
        """Direction ``delta (B, q)`` of the quadratic + L1 model and its margin change
        ``dM (B, n)``, zero for blocks that are not ``live``.

        Host path: compiled coordinate descent straight on ``Zt`` (no Hessian, no gather).
        Device path: gather the working-set rows, form the Hessians with one batched matmul and
        solve by proximal gradient; every operation is batched over the blocks.
        """
        if not self.device_resident:
            delta, dM = coordinate_descent(Zt, layer, idx, mask.sum(1), live, w, g, v0, lam,
                                           self.max_sweeps)
            return delta.to(g.device), dM.to(g.device)
        S, d, n = Zt.shape
        Bn, m = idx.shape
        rows = (layer[:, None] * d + idx).reshape(-1)
        Zw = Zt.reshape(S * d, n).index_select(0, rows).view(Bn, m, n)
        Zw.mul_(mask[..., None].to(Zw.dtype))
        wz = w.to(Zw.dtype)
        weighted = Zw * wz[:, None, :]
        H = torch.empty((Bn, m + 1, m + 1), dtype=torch.float64, device=Zw.device)
        H[:, :m, :m] = torch.bmm(weighted, Zw.transpose(1, 2))
        H[:, :m, m] = H[:, m, :m] = weighted.sum(2)
        H[:, m, m] = wz.sum(1)
        delta = proximal_gradient(H, g, v0, lam) * live[:, None]
        dM = torch.bmm(delta[:, None, :m].to(Zw.dtype), Zw)[:, 0].to(torch.float64)
        return delta, dM + delta[:, m:]


def _select_working_set(W, G, threshold, max_new: int, max_size: int):
    """Working set per block, padded: ``idx (B, m)``, ``mask (B, m)``, ``complete (B,)``.

    W, G : (B, d); threshold (B,) gradient level above which a zero weight enters. Active
    features come first, then entrants by violation; the padding holds other (distinct) features
    with zero weight, masked out.
    """
    active = W != 0
    score = (G.abs() - threshold[:, None]).clamp(min=0)
    score = torch.where(active, torch.zeros_like(score), score)
    n_active = active.sum(1)
    n_cand = (score > 0).sum(1)
    room = torch.clamp(torch.clamp(max_size - n_active, max=max_new), min=0)
    n_take = torch.minimum(n_cand, room)
    order_key = torch.where(active, torch.full_like(score, float("inf")), score)
    sizes = n_active + n_take
    m = max(int(sizes.max()), 1)
    idx = torch.topk(order_key, m, dim=1, sorted=True).indices
    mask = torch.arange(m, device=W.device)[None, :] < sizes[:, None]
    return idx, mask, n_take == n_cand


class _State:
    """Iterate of all layers: W (P, K, d), b (P, K), margins M (P, K, n), all float64."""

    def __init__(self, P: int, d: int, n: int, losses: LogisticLoss, device):
        f64 = dict(dtype=torch.float64, device=device)
        self.W = torch.zeros((P, losses.K, d), **f64)
        if losses.y.ndim == 2:  # labels per problem (binary), priors as for one label below
            ones = losses.y.sum(1).to(torch.float64)
            prior = torch.clamp(torch.stack([n - ones, ones]) / n, min=1e-12)
            self.b = torch.log(prior[1] / prior[0]).to(device).view(P, 1)
            self.M = self.b[:, :, None].expand(P, 1, n).clone()
            return
        counts = torch.bincount(losses.y, minlength=max(losses.K, 2)).to(torch.float64)
        prior = torch.clamp(counts / counts.sum(), min=1e-12)
        if losses.K == 1:
            b = torch.log(prior[1] / prior[0]).reshape(1)
        elif losses.softmax:
            b = torch.log(prior) - torch.log(prior).mean()
        else:
            b = torch.log(prior / (1 - prior))
        self.b = b.to(device).expand(P, losses.K).clone()
        self.M = self.b[:, :, None].expand(P, losses.K, n).clone()


def validate_alphas(alphas) -> np.ndarray:
    """``alphas`` as a float64 array (A,), or ValueError unless non-empty, finite and >= 0."""
    alphas = np.asarray(alphas, dtype=np.float64).reshape(-1)
    if alphas.size == 0 or not np.all(np.isfinite(alphas)) or np.any(alphas < 0):
        raise ValueError(f"alphas must be non-negative finite numbers, got {alphas!r}")
    return alphas


def solve_path(
    Zt: torch.Tensor,
    y_index: np.ndarray,
    n_classes: int,
    alphas,
    *,
    multiclass: str = DEFAULT_MULTICLASS,
    max_iter: int = 100,
    tol: float = 1e-6,
    max_new: int = 128,
    max_working_set: int = 4096,
    max_sweeps: int = 20,
    eval_set: tuple[torch.Tensor, np.ndarray] | None = None,
    metric: str = "accuracy",
    patience: int | None = None,
    device_resident: bool | None = None,
    widths=None,
    progress=None,
) -> PathArrays:
    """Solve the L1-logistic path for P layers at once.

    Parameters
    ----------
    Zt : (P, d, n) float32/float64 tensor of standardised features, **feature-major** (the
        transpose of the usual rows x features), on the solve device; or (1, d, n) shared by
        ``len(widths)`` problems.
    y_index : (n,) class indices shared by all layers, or (T, n) 0/1 labels of T binary tasks
        (the labels of a multi-label task): every layer is then solved for each task, as
        ``P = S T`` problems, problem ``s T + t`` for layer s and task t (binary only, no
        ``widths``).
    n_classes : number of classes (2 -> one sigmoid output, >= 3 -> K outputs).
    alphas : sequence of A strengths; solved in decreasing order, returned in the given order.
    multiclass : "ovr" or "multinomial" (see the module docstring; binary is the same in both).
    max_iter : Newton steps per alpha at most.
    tol : relative Newton-decrement tolerance.
    max_new, max_working_set : entrants per step and total size caps of each working set.
    max_sweeps : coordinate-descent sweeps of one inner solve (host path).
    eval_set : optional ``(Zt_val (S, d, n_val), y_val_index (n_val,) or (T, n_val))`` scored
        after every Newton step with ``metric``; the best checkpoint per (problem, alpha) is
        kept.
    patience : with an eval set, stop a layer's alpha (not converged) once its validation score
        has not risen for this many Newton steps (early stopping; None: never).
    device_resident : force the device path (True) or the host path (False); default: CUDA.
    widths : with a shared ``Zt`` (1, d, n): problem p uses its first ``widths[p]`` features
        (nested prefixes, as the aggregation's L_temp; features are read once, not per problem).
    progress : optional callable(str) receiving one line per alpha.
    """
    S, d, n = Zt.shape
    y_np = np.asarray(y_index)
    T = 1 if y_np.ndim == 1 else y_np.shape[0]
    P = S * T if widths is None else len(widths)
    if widths is not None and (S != 1 or y_np.ndim != 1):
        raise ValueError(f"widths needs one shared feature matrix and one label vector, got {S} "
                         f"matrices and labels of shape {y_np.shape}")
    device = Zt.device
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    if max_iter < 1:
        raise ValueError(f"max_iter must be at least 1 Newton step, got {max_iter}")
    y = torch.as_tensor(y_np, dtype=torch.long, device=device)
    losses = LogisticLoss(y.repeat(S, 1) if y.ndim == 2 else y, n_classes, multiclass)
    K = losses.K
    resident = Zt.is_cuda if device_resident is None else bool(device_resident)
    kernels = _Kernels(resident, max_sweeps)
    alphas = validate_alphas(alphas)
    A = len(alphas)
    state = _State(P, d, n, losses, device)
    f_null = losses.loss(state.M)  # (P, U) the intercept-only model: the scale of the stop test
    out = PathArrays(
        coef=np.zeros((P, A, K, d)), intercept=np.zeros((P, A, K)), objective=np.zeros((P, A)),
        n_iter=np.zeros((P, A), dtype=np.int64), converged=np.zeros((P, A), dtype=bool),
    )
    outside = None  # (P, 1, d) features beyond a problem's width never enter its working set
    if widths is not None:
        limit = torch.as_tensor(np.asarray(widths), device=device)
        outside = torch.arange(d, device=device)[None, None, :] >= limit[:, None, None]
    source = torch.arange(S, device=device).repeat_interleave(T) if widths is None else (
        torch.zeros(P, dtype=torch.long, device=device))
    checkpoints = None
    if eval_set is not None:
        checkpoints = Checkpoints(eval_set, n_classes, metric, kernels, state, P, A)

    alpha_prev = None
    for a in np.argsort(-alphas, kind="stable"):
        alpha = float(alphas[a])
        loss, R, weights = losses.derivatives(state.M)
        G = _gradient(kernels, R, Zt, outside)
        if alpha_prev is None:  # sequential strong rule from each block's lambda_max
            alpha_prev_t = torch.clamp(G.abs().amax(dim=2), min=alpha)
        else:
            alpha_prev_t = torch.full((P, K), alpha_prev, dtype=torch.float64, device=device)
        strong = torch.clamp(2 * alpha - alpha_prev_t, min=0).reshape(-1)
        f_now = loss + losses.to_units(alpha * state.W.abs().sum(2))  # (P, U)
        done = torch.zeros_like(f_now, dtype=torch.bool)
        converged = torch.zeros_like(done)
        iters = torch.zeros(f_now.shape, dtype=torch.long, device=device)
        if checkpoints is not None:
            checkpoints.start()
        for step in range(max_iter):
            threshold = strong if step == 0 else torch.full_like(strong, alpha)
            live = ~done
            step_out = _newton_step(state, Zt, source, G, R, weights, losses, kernels, alpha,
                                    threshold, f_now, done, max_new, max_working_set)
            f_new, ok, decrement, complete = step_out
            f_now = torch.where(ok & live, f_new, f_now)
            iters += live.long()
            small = -decrement <= tol * f_null
            converged = converged | (live & complete & small)
            done = done | (complete & small) | ~ok  # ~ok: no step decreases f (stalled)
            loss, R, weights = losses.derivatives(state.M)
            if checkpoints is not None:
                stale = checkpoints.score(state, live.any(1), iters.amax(1), f_now.sum(1))
                if patience is not None:  # validation stopped improving: the layer is done
                    done = done | (stale >= patience)[:, None]
            if bool(done.all()):
                break
            G = _gradient(kernels, R, Zt, outside)
        out.coef[:, a] = state.W.cpu().numpy()
        out.intercept[:, a] = state.b.cpu().numpy()
        f_final = (loss + losses.to_units(alpha * state.W.abs().sum(2))).sum(1)
        out.objective[:, a] = f_final.cpu().numpy()
        out.n_iter[:, a] = iters.amax(1).cpu().numpy()
        out.converged[:, a] = converged.all(1).cpu().numpy()
        if checkpoints is not None:
            checkpoints.finish(out, a, state)
        if progress is not None:
            nnz = (state.W != 0).any(1).sum(1).double().mean()
            progress(f"alpha={alpha:.3g}: Newton steps max {int(iters.max())}, "
                     f"nnz mean {float(nnz):.1f}")
        alpha_prev = alpha
    return out


def _gradient(kernels: _Kernels, R, Zt, outside) -> torch.Tensor:
    """Loss gradient (P, K, d) float64 from R (P, K, n) and Zt (P or 1, d, n); zero outside
    each problem's width."""
    G = kernels.project(R.to(Zt.dtype), Zt.transpose(1, 2)).to(torch.float64)
    return G if outside is None else G.masked_fill_(outside, 0.0)


def _newton_step(state: _State, Zt, source, G, R, weights, losses: LogisticLoss,
                 kernels: _Kernels, alpha: float, threshold, f_now, done, max_new: int,
                 max_working_set: int):
    """One proximal-Newton step of every live unit, applied to ``state`` in place.

    Returns the new objective (P, U), whether a step decreased it (``ok``, P, U), the Newton
    decrement (P, U) and whether the unit's working sets held every violator (P, U).
    """
    P, K, d = state.W.shape
    n = Zt.shape[2]
    Bn = P * K
    W = state.W.reshape(Bn, d)
    idx, mask, complete = _select_working_set(W, G.reshape(Bn, d), threshold, max_new,
                                              max_working_set)
    m = idx.shape[1]
    layer_of_block = source.repeat_interleave(K)
    one = torch.ones((Bn, 1), dtype=torch.bool, device=idx.device)
    mask_aug = torch.cat([mask, one], 1).to(torch.float64)
    g = torch.cat([G.reshape(Bn, d).gather(1, idx), R.reshape(Bn, n).sum(1, keepdim=True)], 1)
    g = g * mask_aug
    v0 = torch.cat([W.gather(1, idx), state.b.reshape(Bn, 1)], 1) * mask_aug
    lam = alpha * torch.cat([mask.to(torch.float64), torch.zeros_like(one, dtype=torch.float64)], 1)
    live_block = ~losses.from_units(done).reshape(Bn)
    delta, dM = kernels.direction(Zt, layer_of_block, idx, mask, live_block,
                                  weights.reshape(Bn, n), g, v0, lam)
    block_decrement = (g * delta).sum(1) + (lam * ((v0 + delta).abs() - v0.abs())).sum(1)
    decrement = losses.to_units(block_decrement.view(P, K))
    dM = dM.view(P, K, n)
    outside_l1 = alpha * W.abs().sum(1) - (lam * v0.abs()).sum(1)  # (B,)
    t, f_new, ok = _armijo(state.M, dM, losses, outside_l1.view(P, K), v0, delta, lam, f_now,
                           decrement)
    t_block = losses.from_units(t * (ok & ~done)).reshape(Bn, 1)
    new = v0 + t_block * delta  # t = 0: v0, the unchanged weights (padding holds zeros)
    W.scatter_(1, idx, new[:, :m])
    state.b = new[:, m:].reshape(P, K)
    state.M += t_block.view(P, K, 1) * dM
    complete_units = losses.to_units((~complete).view(P, K).to(torch.float64)) == 0
    return f_new, ok, decrement, complete_units


def _armijo(M, dM, losses: LogisticLoss, outside_l1, v0, delta, lam, f_now, decrement):
    """Backtracking along the margins: step t (P, U), new objective (P, U), success (P, U)."""
    P, K, _ = M.shape
    Bn = P * K
    t = torch.ones_like(f_now)
    accepted = torch.zeros_like(f_now, dtype=torch.bool)
    # no descent direction (a finished unit, or rounding): no step, whatever a trial gives, so
    # such units never keep the search halving (they made it run all its halvings)
    no_descent = decrement >= 0
    f_best = f_now.clone()
    for _ in range(_MAX_HALVINGS):
        t_block = losses.from_units(t).reshape(Bn, 1)
        l1 = (lam * (v0 + t_block * delta).abs()).sum(1).view(P, K)
        trial = losses.loss(M + t_block.view(P, K, 1) * dM) + losses.to_units(outside_l1 + l1)
        good = trial <= f_now + _ARMIJO * t * decrement
        f_best = torch.where(good & ~accepted, trial, f_best)
        accepted = accepted | good
        if bool((accepted | no_descent).all()):
            break
        t = torch.where(accepted, t, t / 2)
    ok = accepted & ~no_descent
    return torch.where(ok, t, torch.zeros_like(t)), f_best, ok
