"""The references STC is reported against: a logistic regression on the model's own output.

Both read the ``final`` site (:data:`stc_gpu.vocabulary.FINAL`): the model's last hidden
state *after* its final norm (GPT-2's ``ln_f``, Llama's ``norm``), which is Hugging Face's
``last_hidden_state``; for encoders it equals ``hidden.L``. The probes keep ``hidden.L``.

- **Embedding** (paper §4.2): the single token of ``final.L`` ([CLS] for encoders, the last valid
  token for decoders), standardized, and an L2-regularised logistic regression (scikit-learn
  lbfgs), its ``C`` picked on validation from the probes' grid. A weak L2 penalty stands in for
  the paper's plain softmax layer, which diverges on separable data.
- **Own pooling**: the sentence embedding the model declares for itself (:func:`own_pooling_rule`:
  a sentence-transformers Pooling module, e.g. mean pooling + Normalize for all-MiniLM-L6-v2),
  given to the same logistic regression *as the model outputs it* (no standardization, as
  sentence-embedding benchmarks use it); a model that declares none has the Embedding as its
  reference.

Every choice is made on the validation split; the test split is scored once.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from stc_gpu.metrics import score
from stc_gpu.models.adapters import DECODER_FAMILIES
from stc_gpu.models.sentence_pooling import SentencePooling
from stc_gpu.stc.slabs import SplitRows, read_layer
from stc_gpu.vocabulary import FINAL


@dataclass(frozen=True)
class OwnPooling:
    """The own-pooling reference of one model: ``pool`` of ``final.L`` (None: the Embedding),
    L2-normalised when ``normalize``; ``rule`` says in words which rule gave it."""

    pool: str | None
    normalize: bool
    rule: str


def own_pooling_rule(declared: SentencePooling | None, family: str) -> OwnPooling:
    """The reference pooling for a model of ``family`` that declares ``declared``.

    One declared mode that stc-gpu stores maps to its pool: ``mean_tokens`` to mean,
    ``max_tokens`` to max, ``cls_token`` (encoders) or ``lasttoken`` (decoders) to single.
    Anything else (nothing declared, several modes concatenated, ``mean_sqrt_len_tokens``, ...)
    falls back to the paper's Embedding.
    """
    if declared is None:
        return OwnPooling(None, False, "no sentence pooling declared (no sentence-transformers "
                                       "modules.json): the paper's Embedding")
    single = "lasttoken" if family in DECODER_FAMILIES else "cls_token"
    ours = {"mean_tokens": "mean", "max_tokens": "max", single: "single"}
    if len(declared.modes) != 1 or declared.modes[0] not in ours:
        return OwnPooling(None, False, f"{declared.source} declares pooling "
                                       f"{list(declared.modes)}, which a {family} entry does not "
                                       "store: the paper's Embedding")
    mode = declared.modes[0]
    return OwnPooling(ours[mode], declared.normalize,
                      f"{declared.source}: {mode} pooling" + (" + Normalize" * declared.normalize))


def reference_rows(entry, rows: SplitRows, Cs, rule: OwnPooling, *, metric: str = "accuracy",
                   seed: int = 0) -> tuple[dict, list[str]]:
    """``({"embedding": row, "own_pooling": row}, notes)``: each reference fitted on train, its C
    chosen on val, test scored once (its predicted class codes in ``row["test_pred"]``); a
    reference the entry cannot give is left out, and a note says why."""
    if FINAL not in entry.kinds:
        return {}, [f"no Embedding or own-pooling reference: the entry has no {FINAL} site "
                    f"(extract with kinds including {FINAL!r} and every layer, no max_layer)"]
    layer = entry.layers(FINAL)[0]
    out, notes = {}, []
    if "single" in entry.pools:
        out["embedding"] = {"kind": FINAL, "pool": "single", "layer": layer,
                            **_fit(*read_layer(entry, FINAL, "single", layer, rows), rows, Cs,
                                   metric=metric, seed=seed, standardize=True)}
    else:
        notes.append("no Embedding baseline: it needs the single pool")
    if rule.pool is None:
        if "embedding" in out:
            out["own_pooling"] = {**out["embedding"], "rule": rule.rule}
    elif rule.pool in entry.pools:
        X = read_layer(entry, FINAL, rule.pool, layer, rows)
        if rule.normalize:
            X = tuple(_l2_normalized(x) for x in X)
        out["own_pooling"] = {"kind": FINAL, "pool": rule.pool, "layer": layer,
                              "normalize": rule.normalize, "rule": rule.rule,
                              **_fit(*X, rows, Cs, metric=metric, seed=seed, standardize=False)}
    else:
        notes.append(f"no own-pooling reference: it needs the {rule.pool} pool ({rule.rule})")
    return out, notes


def _l2_normalized(X: np.ndarray) -> np.ndarray:
    """(n, d) rows scaled to unit L2 norm (sentence-transformers' Normalize)."""
    return X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), np.finfo(X.dtype).tiny)


def _fit(X_train, X_val, X_test, rows: SplitRows, Cs, *, metric: str, seed: int,
         standardize: bool) -> dict:
    """L2 logistic regression for each C (ascending; ties keep the smaller C), the best on
    validation scored on test: ``{C, standardize, val_acc, val_f1, test_acc, test_f1,
    test_pred}`` (``test_pred``: the (n_test,) predicted class codes)."""
    best = None
    for C in sorted(Cs):
        steps = [StandardScaler()] if standardize else []
        model = make_pipeline(*steps, LogisticRegression(C=C, max_iter=2000, random_state=seed))
        model.fit(X_train, rows.y_train)
        val = score(rows.y_val, model.predict(X_val), metric)
        if best is None or val > best[0]:
            best = (val, C, model)
    _, C, model = best
    pred_val, pred_test = model.predict(X_val), model.predict(X_test)
    return {"C": float(C), "standardize": standardize,
            "val_acc": score(rows.y_val, pred_val, "accuracy"),
            "val_f1": score(rows.y_val, pred_val, "macro_f1"),
            "test_acc": score(rows.y_test, pred_test, "accuracy"),
            "test_f1": score(rows.y_test, pred_test, "macro_f1"), "test_pred": pred_test}
