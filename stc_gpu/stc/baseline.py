"""The paper's "Embedding" baseline (§4.2): last layer, single token, a logistic head without L1.

The head is an L2-regularised logistic regression on standardized features (scikit-learn lbfgs),
its ``C`` picked on the validation split from the same grid as the probes; an unregularised head
diverges on separable data, so a weak L2 penalty stands in for the paper's plain softmax layer.
"""
from __future__ import annotations

from dataclasses import dataclass

from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from stc_gpu.metrics import score
from stc_gpu.stc.slabs import SplitRows, read_layer


@dataclass
class EmbeddingBaseline:
    layer: int
    C: float
    val_acc: float
    val_f1: float
    test_acc: float
    test_f1: float

    def as_row(self) -> dict:
        return {"kind": "hidden", "pool": "single", "layer": self.layer, "C": self.C,
                "val_acc": self.val_acc, "val_f1": self.val_f1,
                "test_acc": self.test_acc, "test_f1": self.test_f1}


def embedding_baseline(entry, rows: SplitRows, Cs, *, metric: str = "accuracy",
                       seed: int = 0) -> EmbeddingBaseline:
    """Fit the baseline on train, choose C on val, score test once."""
    layer = max(entry.layers("hidden"))
    X_train, X_val, X_test = read_layer(entry, "hidden", "single", layer, rows)
    best = None
    for C in sorted(Cs):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000,
                                                                   random_state=seed))
        model.fit(X_train, rows.y_train)
        val = score(rows.y_val, model.predict(X_val), metric)
        if best is None or val > best[0]:
            best = (val, C, model)
    _, C, model = best
    pred_val, pred_test = model.predict(X_val), model.predict(X_test)
    return EmbeddingBaseline(
        layer=int(layer), C=float(C),
        val_acc=score(rows.y_val, pred_val, "accuracy"),
        val_f1=score(rows.y_val, pred_val, "macro_f1"),
        test_acc=score(rows.y_test, pred_test, "accuracy"),
        test_f1=score(rows.y_test, pred_test, "macro_f1"))
