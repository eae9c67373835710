"""``STCClassifier``: the selected aggregated classifier, usable on new texts, saved without pickle.

A fitted classifier is: which model (name, revision, weight and tokenizer hashes), which pool, which
salient neurons of which sites (``FeatureBlock``s, layers 0..L_temp) and the final L1 logistic head
(with its standardisation). ``predict`` runs the model only up to the deepest layer it uses and pools
only the selected pool.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from stc_gpu import __version__
from stc_gpu.stc.aggregate import FeatureBlock

_FORMAT = "stc-gpu-classifier/1"


class STCClassifier:
    """A text classifier on the salient neurons of a frozen transformer (scikit-learn style).

    Build one with :func:`stc_gpu.stc.pipeline.fit_classifier` (from texts or a store) or
    :meth:`load`; then ``predict`` / ``predict_proba`` take raw texts.

    Attributes
    ----------
    classes_ : (K,) original label values.
    blocks : list of FeatureBlock, in aggregation order (columns of the head's input).
    head : fitted ``stc_gpu.probe.L1LogisticRegression`` on ``sum(len(b.ids))`` features.
    """

    def __init__(self, *, model: str, revision: str | None, model_identity: dict, pool: str,
                 blocks: list[FeatureBlock], head, classes, selection: dict | None = None,
                 max_length: int | None = None, device: str | None = None):
        self.model = model
        self.revision = revision
        self.model_identity = dict(model_identity)
        self.pool = pool
        self.blocks = list(blocks)
        self.head = head
        self.classes_ = np.asarray(classes)
        self.selection = dict(selection or {})
        self.max_length = max_length
        self.device = device
        self._extractor = None

    # ----------------------------------------------------------------- features
    @property
    def sites(self) -> dict[str, list[int]]:
        """kind -> sorted layers the classifier reads."""
        out: dict[str, set[int]] = {}
        for b in self.blocks:
            out.setdefault(b.kind, set()).add(b.layer)
        return {k: sorted(v) for k, v in out.items()}

    @property
    def n_features(self) -> int:
        return sum(len(b.ids) for b in self.blocks)

    def features_from_pooled(self, pooled) -> np.ndarray:
        """(n, n_features) head input from ``pooled(kind, layer) -> (n, units)`` arrays."""
        return np.concatenate(
            [np.asarray(pooled(b.kind, b.layer), dtype=np.float32)[:, list(b.ids)]
             for b in self.blocks], axis=1)

    def features_from_entry(self, entry, rows=None) -> np.ndarray:
        """(n_rows, n_features) from a feature-store entry (optionally a subset of ``rows``)."""
        cache = {}

        def pooled(kind, layer):
            if (kind, layer) not in cache:
                full = np.asarray(entry.features(kind, self.pool, layer), dtype=np.float32)
                cache[kind, layer] = full if rows is None else full[np.asarray(rows)]
            return cache[kind, layer]

        return self.features_from_pooled(pooled)

    def extractor(self):
        """The (cached) extractor limited to the sites and pool this classifier uses."""
        if self._extractor is None:
            from stc_gpu.extract import Extractor

            sites = self.sites
            self._extractor = Extractor.from_pretrained(
                self.model, revision=self.revision, kinds=tuple(sites), pools=(self.pool,),
                layers=sites, max_length=self.max_length, device=self.device)
            self._check_identity(self._extractor.describe())
        return self._extractor

    def _check_identity(self, described: dict) -> None:
        for key in ("weights_sha256", "tokenizer_sha256"):
            saved, now = self.model_identity.get(key), described.get(key)
            if saved and now and saved != now:
                raise ValueError(
                    f"model {self.model!r} does not match the one this classifier was trained on "
                    f"({key} {now[:12]} != {saved[:12]}): load the same weights and tokenizer")

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        """(n_texts, n_features): the selected salient neurons of ``texts``."""
        texts = _check_texts(texts)
        extractor = self.extractor()
        block = extractor.extract(texts)

        def pooled(kind, layer):
            return block.features[kind, self.pool][extractor.layers[kind].index(layer)]

        return self.features_from_pooled(pooled)

    # --------------------------------------------------------------- prediction
    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(n_texts, K) class probabilities, columns in ``classes_`` order."""
        return self.head.predict_proba(self.transform(texts))

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """(n_texts,) predicted labels (original label values)."""
        return self.classes_[np.asarray(self.head.predict(self.transform(texts)), dtype=np.int64)]

    def token_scores(self, texts: Sequence[str], *, target: int = -1):
        """Token-level scores (paper §5.3): the head applied to each token's own features.

        Returns a list of ``(tokens, probs)``: tokens (n_tokens,) strings and probs (n_tokens,)
        the probability of class ``classes_[target]`` for each token alone.
        """
        texts = _check_texts(texts)
        out = []
        for tf in self.extractor().token_features(texts):
            X = self.features_from_pooled(lambda kind, layer: tf.features[kind, layer])
            out.append((list(tf.tokens), self.head.predict_proba(X)[:, target]))
        return out

    # ---------------------------------------------------------------- save/load
    def save(self, path: str | Path) -> Path:
        """Write ``classifier.json`` + the head's arrays into folder ``path`` (no pickle)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.head.save(path / "head")
        meta = {
            "format": _FORMAT, "stc_gpu_version": __version__, "model": self.model,
            "revision": self.revision, "model_identity": self.model_identity, "pool": self.pool,
            "max_length": self.max_length,
            "blocks": [{"kind": b.kind, "layer": b.layer, "ids": list(b.ids)} for b in self.blocks],
            "classes": self.classes_.tolist(), "selection": self.selection,
        }
        (path / "classifier.json").write_text(json.dumps(meta, indent=2, default=_jsonable))
        return path

    @classmethod
    def load(cls, path: str | Path, *, device: str | None = None) -> "STCClassifier":
        from stc_gpu.probe import L1LogisticRegression

        path = Path(path)
        meta_file = path / "classifier.json"
        if not meta_file.exists():
            raise FileNotFoundError(f"{path} is not a saved STC classifier (no classifier.json)")
        meta = json.loads(meta_file.read_text())
        if meta.get("format") != _FORMAT:
            raise ValueError(f"{meta_file}: unknown format {meta.get('format')!r}")
        blocks = [FeatureBlock(b["kind"], int(b["layer"]), tuple(b["ids"])) for b in meta["blocks"]]
        return cls(model=meta["model"], revision=meta["revision"],
                   model_identity=meta["model_identity"], pool=meta["pool"], blocks=blocks,
                   head=L1LogisticRegression.load(path / "head"), classes=meta["classes"],
                   selection=meta["selection"], max_length=meta["max_length"], device=device)

    def __repr__(self) -> str:
        return (f"STCClassifier(model={self.model!r}, pool={self.pool!r}, sites={self.sites}, "
                f"n_features={self.n_features}, classes={self.classes_.tolist()})")


def _check_texts(texts) -> list[str]:
    if isinstance(texts, str):
        raise TypeError("pass a list of texts, not a single string")
    texts = list(texts)
    for i, t in enumerate(texts):
        if not isinstance(t, str) or not t.strip():
            raise ValueError(f"text {i} is {'empty' if isinstance(t, str) else type(t).__name__}: "
                             "every text must be a non-empty string")
    return texts


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
