"""``STCClassifier``: the selected aggregated classifier, usable on new texts, saved without pickle.

A fitted classifier is: which model (name, revision, weight and tokenizer hashes), which pool, which
salient neurons of which sites (``FeatureBlock``s, layers 0..L_temp) and the final L1 logistic head
(with its standardisation). ``predict`` runs the model only up to the deepest layer it uses and pools
only the selected pool, as the features were extracted for training: the same compute dtype, max
length and token budget (see :meth:`STCClassifier.extractor`).
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np

from stc_gpu import __version__
from stc_gpu.config import STCConfig
from stc_gpu.stc.aggregate import FeatureBlock

_FORMAT = "stc-gpu-classifier/1"


class TokenScores(NamedTuple):
    """Token-level scores of one text: ``tokens`` (n_tokens,) strings, ``scores`` (n_tokens,) the
    probability of class ``target`` for each token on its own features."""

    tokens: list
    scores: np.ndarray
    target: object


class STCClassifier:
    """A text classifier on the salient neurons of a frozen transformer (scikit-learn style).

    ``STCClassifier(model="gpt2", data options...).fit(texts, y)`` runs the whole method (the
    options are :class:`~stc_gpu.config.STCConfig` fields; texts are extracted into
    ``config.store``, reused when already there); ``fit(entry, y)`` starts from a store entry.
    ``predict`` / ``predict_proba`` / ``token_scores`` then take raw texts. :meth:`load` reads a
    saved one.

    Attributes (after fit or load)
    ------------------------------
    classes_ : (K,) original label values.
    blocks : list of FeatureBlock, in aggregation order (the columns of the head's input).
    head : fitted ``stc_gpu.probe.L1LogisticRegression`` on ``sum(len(b.ids))`` features.
    pool, selection, model_identity : what was selected and on which model.
    results_ : the search's results (every configuration's scores), after fit only.
    """

    def __init__(self, config: STCConfig | None = None, **options):
        base = config.to_dict() if config is not None else {}
        self.config = STCConfig.from_dict({**base, **options})
        self._extractor = None

    def fit(self, X, y, *, split_values=None, executor=None, show_progress: bool = False):
        """Fit on texts (a sequence of str) or on a feature-store entry, with labels ``y`` (n,).

        Selection happens on a validation split carved from ``X`` (see ``config``); the test split
        is scored once and reported in ``results_["selection"]``. The fits run on
        ``config.device`` when set, else on the extraction's device (CUDA when available).
        """
        from stc_gpu.stc import pipeline

        identity, extractor = None, None
        if hasattr(X, "features") and hasattr(X, "n_rows"):  # a feature-store entry
            entry = X
        else:
            entry, _, extractor = pipeline.extract(self.config, source=_check_texts(X),
                                                   show_progress=show_progress)
            identity = extractor.describe()
        fitted, self.results_, _ = pipeline.fit_task(
            entry, y, self.config, split_values=split_values, model_identity=identity,
            executor=executor, show_progress=show_progress,
            device=pipeline.fit_device(self.config, extractor))
        self._set_fitted(**fitted._fitted_state())
        return self

    @classmethod
    def from_selection(cls, config: STCConfig, **state) -> "STCClassifier":
        """A fitted classifier from its parts (used by the pipeline and by :meth:`load`)."""
        clf = cls(config)
        clf._set_fitted(**state)
        return clf

    def _set_fitted(self, *, model: str, revision: str | None, model_identity: dict, pool: str,
                    blocks, head, classes, selection: dict | None = None,
                    max_length: int | None = None) -> None:
        self.model = model
        self.revision = revision
        self.model_identity = dict(model_identity)
        self.pool = pool
        self.blocks = list(blocks)
        self.head = head
        self.classes_ = np.asarray(classes)
        self.selection = dict(selection or {})
        self.max_length = max_length
        self._extractor = None

    def _fitted_state(self) -> dict:
        if not hasattr(self, "head"):
            raise ValueError("this STCClassifier is not fitted yet: call fit() or load()")
        return dict(model=self.model, revision=self.revision, model_identity=self.model_identity,
                    pool=self.pool, blocks=self.blocks, head=self.head, classes=self.classes_,
                    selection=self.selection, max_length=self.max_length)

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
        """The (cached) extractor limited to the sites and pool this classifier uses.

        It extracts as the training features were extracted: the compute dtype, padding side and
        output dtype recorded in ``model_identity``, the same max length, and the training
        config's token budget; on ``config.device`` (default: CUDA when available). A float16
        model on a CPU, which cannot compute in float16, runs in float32, with a warning.
        """
        if self._extractor is None:
            from stc_gpu.extract import Extractor
            from stc_gpu.stc.pipeline import fit_device

            self._fitted_state()
            sites = self.sites
            identity = self.model_identity
            device = fit_device(self.config)
            self._extractor = Extractor.from_pretrained(
                self.model, revision=self.revision, kinds=tuple(sites), pools=(self.pool,),
                layers=sites, max_length=self.max_length, device=device,
                dtype=_serving_dtype(identity.get("dtype"), device),
                token_budget=self.config.token_budget, padding_side=identity.get("padding_side"),
                out_dtype=identity.get("out_dtype", "float16"))
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
        X = self.transform(texts)
        return self.head.predict_proba(X)

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """(n_texts,) predicted labels (original label values)."""
        return self._labels(self.transform(texts))

    def predict_with_proba(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(predict(texts), predict_proba(texts))`` from one forward pass over ``texts``."""
        X = self.transform(texts)
        return self._labels(X), self.head.predict_proba(X)

    def _labels(self, X: np.ndarray) -> np.ndarray:
        return self.classes_[np.asarray(self.head.predict(X), dtype=np.int64)]

    def class_index(self, label) -> int:
        """Position of ``label`` in ``classes_``, matched by value or by its string form (so a
        class given on the command line is found); ValueError naming the classes otherwise."""
        for i, c in enumerate(self.classes_.tolist()):
            if c == label or str(c) == str(label):
                return i
        raise ValueError(f"unknown class {label!r}; the classes are "
                         f"{', '.join(map(str, self.classes_.tolist()))}")

    def token_scores(self, texts: Sequence[str], *, target=None) -> list[TokenScores]:
        """Token-level scores (paper §5.3): the head applied to each token's own features.

        ``target``: the class whose probability is scored (a value of ``classes_``, or its string
        form), or a list / array of one class per text; None scores each text's predicted class.
        Returns one :class:`TokenScores` per text, in input order (the ``tokenwise`` view of
        :meth:`explain`).
        """
        return [TokenScores(e.tokens, e.tokenwise, e.target)
                for e in self.explain(texts, target=target)]

    def explain(self, texts: Sequence[str], *, target=None, extractor=None) -> list:
        """Per text, its token-wise scores and the exact attribution of its logit to its tokens
        (:class:`stc_gpu.stc.attribution.TokenExplanation`), from one forward pass.

        ``target`` as in :meth:`token_scores`; ``extractor``: one capturing at least this
        classifier's sites (default :meth:`extractor`).
        """
        from stc_gpu.stc.attribution import explain_texts

        return explain_texts(self, _check_texts(texts), target=target, extractor=extractor)

    # ---------------------------------------------------------------- save/load
    def save(self, path: str | Path) -> Path:
        """Write ``classifier.json`` + the head's arrays into folder ``path`` (no pickle)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.head.save(path / "head")
        self._fitted_state()
        meta = {
            "format": _FORMAT, "stc_gpu_version": __version__, "model": self.model,
            "revision": self.revision, "model_identity": self.model_identity, "pool": self.pool,
            "max_length": self.max_length,
            "blocks": [{"kind": b.kind, "layer": b.layer, "ids": list(b.ids)} for b in self.blocks],
            "classes": self.classes_.tolist(), "selection": self.selection,
            "config": self.config.to_dict(),
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
        config = STCConfig.from_dict({**meta.get("config", {}), "device": device})
        return cls.from_selection(
            config, model=meta["model"], revision=meta["revision"],
            model_identity=meta["model_identity"], pool=meta["pool"], blocks=blocks,
            head=L1LogisticRegression.load(path / "head"), classes=meta["classes"],
            selection=meta["selection"], max_length=meta["max_length"])

    def __repr__(self) -> str:
        if not hasattr(self, "head"):
            return f"STCClassifier(model={self.config.model!r}, not fitted)"
        return (f"STCClassifier(model={self.model!r}, pool={self.pool!r}, sites={self.sites}, "
                f"n_features={self.n_features}, classes={self.classes_.tolist()})")


def _serving_dtype(trained: str | None, device: str) -> str | None:
    """The compute dtype to predict with: ``trained`` (the extraction's), except float16 on a CPU
    (not supported there), which becomes float32 with a warning."""
    if trained == "float16" and str(device).split(":")[0] == "cpu":
        warnings.warn("this classifier's features were extracted in float16, which a CPU cannot "
                      "compute: predicting in float32 (scores may differ in the last digits)",
                      stacklevel=3)
        return "float32"
    return trained


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
