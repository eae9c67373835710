"""Validation checkpoints of the batched solver: every layer scored after each Newton step.

The best checkpoint of each layer (ties: the later, more converged one) is kept on the device
with its step and objective, and copied to the result arrays once per alpha. ``kernels`` and
``state`` are the solver's (:mod:`stc_gpu.probe.torch_solver`): ``kernels.project(W, Z)`` gives
the margins, ``state.W`` (P, K, d) and ``state.b`` (P, K) the current iterate.
"""
from __future__ import annotations

import numpy as np
import torch


class Checkpoints:
    """Validation scoring after every Newton step; the best checkpoint per layer, on device."""

    def __init__(self, eval_set, n_classes: int, metric: str, kernels, state,
                 P: int, A: int):
        Ztv, yv = eval_set
        self.Ztv = Ztv
        self.yv = torch.as_tensor(np.asarray(yv), dtype=torch.long, device=Ztv.device)
        if self.yv.ndim == 2:  # (T, n_val) labels per task -> (P, n_val) per problem
            self.yv = self.yv.repeat(Ztv.shape[0], 1)
        self.n_classes = n_classes
        self.metric = metric
        self.kernels = kernels
        self.arrays = dict(val_score=np.zeros((P, A)), best_val_score=np.zeros((P, A)),
                           best_iter=np.zeros((P, A), dtype=np.int64),
                           best_objective=np.zeros((P, A)),
                           best_coef=np.zeros((P, A) + tuple(state.W.shape[1:])),
                           best_intercept=np.zeros((P, A, state.b.shape[1])),
                           best_val_pred=np.zeros((P, A, Ztv.shape[2]), dtype=np.int64))

    def start(self) -> None:
        """A new alpha: no checkpoint yet."""
        self.best = None

    def _predict(self, state) -> torch.Tensor:
        """Predicted class indices (P, n_val) of the validation rows."""
        Mv = self.kernels.project(state.W.to(self.Ztv.dtype), self.Ztv).to(torch.float64)
        Mv = Mv + state.b[:, :, None]  # (P, K, n_val)
        return (Mv[:, 0] > 0).long() if Mv.shape[1] == 1 else Mv.argmax(dim=1)

    def score(self, state, live, step, objective) -> torch.Tensor:
        """Keep each live layer's iterate when it scores at least as well as its best so far.

        Returns the Newton steps (P,) since each layer's score last rose strictly.
        """
        pred = self._predict(state)
        value = checkpoint_score(pred, self.yv, self.n_classes, self.metric)
        if self.best is None:
            self.best = dict(score=value, W=state.W.clone(), b=state.b.clone(), step=step.clone(),
                             objective=objective.clone(), pred=pred)
            self.rose_at = step.clone()
            return step - self.rose_at
        self.rose_at = torch.where(live & (value > self.best["score"]), step, self.rose_at)
        better = live & (value >= self.best["score"])
        for key, new in (("score", value), ("W", state.W), ("b", state.b), ("step", step),
                         ("objective", objective), ("pred", pred)):
            mask = better.view((-1,) + (1,) * (new.ndim - 1))
            self.best[key] = torch.where(mask, new, self.best[key])
        return step - self.rose_at

    def finish(self, out, a: int, state) -> None:
        arrays = self.arrays
        arrays["val_score"][:, a] = checkpoint_score(
            self._predict(state), self.yv, self.n_classes, self.metric).cpu().numpy()
        best = self.best  # set by the first Newton step (max_iter >= 1)
        arrays["best_val_score"][:, a] = best["score"].cpu().numpy()
        arrays["best_iter"][:, a] = best["step"].cpu().numpy()
        arrays["best_objective"][:, a] = best["objective"].cpu().numpy()
        arrays["best_coef"][:, a] = best["W"].cpu().numpy()
        arrays["best_intercept"][:, a] = best["b"].cpu().numpy()
        arrays["best_val_pred"][:, a] = best["pred"].cpu().numpy()
        for key, value in arrays.items():
            setattr(out, key, value)


def checkpoint_score(pred: torch.Tensor, y: torch.Tensor, n_classes: int,
                     metric: str) -> torch.Tensor:
    """Accuracy or macro-F1 (as scikit-learn's, over the classes present in y or pred) per layer.

    pred (P, n) and y (n,) class indices, or y (P, n) one row per problem; returns (P,) float64
    on their device.
    """
    y = y.expand_as(pred)
    if metric == "accuracy":
        return (pred == y).double().mean(1)
    pred_1h = torch.nn.functional.one_hot(pred, n_classes).double()  # (P, n, C)
    true_1h = torch.nn.functional.one_hot(y, n_classes).double()     # (P, n, C)
    tp = (pred_1h * true_1h).sum(1)
    support = pred_1h.sum(1) + true_1h.sum(1)                         # (P, C)
    present = support > 0
    f1 = torch.where(present, 2 * tp / torch.clamp(support, min=1), torch.zeros_like(tp))
    return f1.sum(1) / present.sum(1)
