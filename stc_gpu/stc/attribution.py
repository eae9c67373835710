"""Two token-level views of a prediction: token-wise scores and the exact attribution of the logit.

- **Token-wise** (paper §5.3, Fig. 4b): each token's own features through the sentence classifier,
  as if the token were the whole text. It shows what a token looks like on its own, not what it
  contributed: the classifier never sees a token alone.
- **Exact attribution**: the head is linear on the standardised pooled features, so the logit of
  a class is a sum of one share per token plus the intercept. With ``v = w / scale`` (the head's
  weights in raw units) and ``a[t, j]`` the weight of token ``t`` in the pool of neuron ``j``
  (mean: ``1 / n``; max: 1 at the token that attained the max, 0 elsewhere; single: 1 at the
  pooled token), ``x_j = sum_t a[t, j] h[t, j]`` and

      logit = intercept + sum_j v_j (x_j - mean_j) = intercept + sum_t share_t,
      share_t = sum_j a[t, j] v_j (h[t, j] - mean_j).

  The standardiser's offset ``-sum_j v_j mean_j`` is split like the values it centres: each
  token's share is measured from the training mean (mean pool: ``1 / n`` of it per token; max and
  single: with the neuron's value, to the token that supplied it); the intercept stays apart.
  Special tokens (``[CLS]``, ``[SEP]``, ...) are part of the pool, so they hold shares too,
  flagged in ``special``.

The logit is the class's margin: binary, ``+`` the decision function for ``classes_[1]`` and
``-`` for ``classes_[0]`` (so ``sigmoid(logit)`` is the class's probability); multiclass, the
class's one-vs-rest margin or softmax logit. The shares are exact for the token features
(float32); prediction reads the pooled features rounded to the store's dtype (float16 by
default), so ``logit`` and the classifier's decision function differ by that rounding only.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class TokenExplanation:
    """Both views of one text for one class.

    Attributes
    ----------
    tokens : n token strings (special tokens included); special : (n,) bool
    tokenwise : (n,) P(``target``) of each token through the classifier on its own (Fig. 4b)
    shares : (n,) float64, each token's share of the logit of ``target``
    intercept : the head's intercept for ``target``; offset : the standardiser's offset, already
        inside ``shares`` (see the module docstring)
    logit : ``intercept + shares.sum()``; proba : P(``target``) the classifier gives the text
    target : the class explained; predicted : the class the classifier predicts; pool : its pool
    """

    tokens: list
    special: np.ndarray
    tokenwise: np.ndarray
    shares: np.ndarray
    intercept: float
    offset: float
    logit: float
    proba: float
    target: object
    predicted: object
    pool: str

    def largest(self, k: int = 3) -> list[tuple[str, float]]:
        """The ``k`` non-special tokens with the largest shares in absolute value, largest first."""
        words = [i for i in np.argsort(-np.abs(self.shares), kind="stable") if not self.special[i]]
        return [(self.tokens[i], float(self.shares[i])) for i in words[:k]]


def explain_texts(clf, texts: Sequence[str], *, target=None, extractor=None
                  ) -> list[TokenExplanation]:
    """One :class:`TokenExplanation` per text, from one forward pass over ``texts``.

    ``clf``: a fitted :class:`~stc_gpu.stc.classifier.STCClassifier` (``texts`` already checked by
    it, see :meth:`~stc_gpu.stc.classifier.STCClassifier.explain`). ``target``: a class (value or
    string form), one per text (list / array), or None for each text's predicted class.
    ``extractor``: one capturing at least the classifier's sites (default ``clf.extractor()``).
    """
    targets = _targets(target, len(texts))
    for t in targets:  # an unknown class fails before the forward pass
        if t is not None:
            clf.class_index(t)
    extractor = clf.extractor() if extractor is None else extractor
    missing = [f"{kind}.{layer}" for kind, layers in clf.sites.items() for layer in layers
               if layer not in extractor.layers.get(kind, ())]
    if missing:
        raise ValueError(f"the extractor does not capture {', '.join(missing)}, which the "
                         "classifier reads")
    special = set(extractor.tokenizer.all_special_tokens)
    return [explain_tokens(clf, tf.tokens, clf.features_from_pooled(
                lambda kind, layer: tf.features[kind, layer]), t, decoder=extractor.adapter.decoder,
                special_tokens=special, out_dtype=extractor.out_dtype)
            for tf, t in zip(extractor.token_features(texts), targets)]


def explain_tokens(clf, tokens: Sequence[str], X: np.ndarray, target=None, *, decoder: bool,
                   special_tokens=frozenset(), out_dtype=np.float16) -> TokenExplanation:
    """Both views of one text from its token features ``X`` (n_tokens, n_features), the head's
    input columns (``clf.features_from_pooled`` on token-level arrays).

    ``decoder``: the single pool reads the last token (else the first); ``out_dtype``: the
    store's dtype, which the pooled features are rounded to for the prediction.
    """
    head = clf.head_
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2 or X.shape != (len(tokens), clf.n_features):
        raise ValueError(f"{len(tokens)} tokens need features of shape "
                         f"({len(tokens)}, {clf.n_features}), got {X.shape}")
    pooled, weights = _pool(X, clf.pool_, decoder)
    proba = head.predict_proba(pooled.astype(out_dtype)[None])[0]
    predicted = int(np.asarray(head.predict(pooled.astype(out_dtype)[None]))[0])
    column = predicted if target is None else clf.class_index(target)
    w, intercept = _class_row(head, column)
    mean = np.zeros_like(w) if head.mean_ is None else head.mean_
    v = w if head.scale_ is None else w / head.scale_
    shares = (weights * ((X.astype(np.float64) - mean) * v)).sum(axis=1)
    return TokenExplanation(
        tokens=list(tokens), special=np.array([t in special_tokens for t in tokens], dtype=bool),
        tokenwise=head.predict_proba(X)[:, column], shares=shares, intercept=intercept,
        offset=float(-(v @ mean)), logit=intercept + float(shares.sum()),
        proba=float(proba[column]), target=clf.classes_[column],
        predicted=clf.classes_[predicted], pool=clf.pool_)


def _targets(target, n: int) -> list:
    if isinstance(target, (list, tuple, np.ndarray)):
        if len(target) != n:
            raise ValueError(f"{len(target)} targets for {n} texts")
        return list(target)
    return [target] * n


def _pool(X: np.ndarray, pool: str, decoder: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(pooled (d,) float64, a (n, d))``: the pooled features and each token's weight in them."""
    n = X.shape[0]
    if pool == "mean":
        return X.astype(np.float64).mean(axis=0), np.full(X.shape, 1.0 / n)
    weights = np.zeros(X.shape)
    if pool == "max":
        weights[X.argmax(axis=0), np.arange(X.shape[1])] = 1.0
    elif pool == "single":
        weights[n - 1 if decoder else 0] = 1.0
    else:
        raise ValueError(f"cannot attribute pool {pool!r}: expected mean, max or single")
    return (weights * X).sum(axis=0), weights


def _class_row(head, column: int) -> tuple[np.ndarray, float]:
    """Weights (d,) and intercept of the logit of class ``column`` (standardised space)."""
    coef, intercept = np.asarray(head.coef_), np.asarray(head.intercept_)
    if coef.shape[0] == 1:  # binary: one margin, for classes_[1]
        sign = 1.0 if column == 1 else -1.0
        return sign * coef[0], sign * float(intercept[0])
    return coef[column], float(intercept[column])
