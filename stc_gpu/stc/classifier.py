"""``STCClassifier``: the selected aggregated classifier, usable on new texts, saved without pickle.

A fitted classifier is: which model (name, revision, weight and tokenizer hashes), which pool, which
salient neurons of which sites (``FeatureBlock``s, layers 0..L_temp) and the final L1 logistic head
(with its standardisation). ``predict`` loads and runs the model only up to the deepest layer it
uses and pools only the selected pool, as the features were extracted for training: the same
compute dtype, max length and token budget (see :meth:`STCClassifier.extractor`).

It is a scikit-learn estimator on raw texts: the STC options are its parameters
(``get_params`` / ``set_params`` / ``clone``), fitted state ends in ``_``, and it works in a
``Pipeline``, ``cross_val_score`` and ``GridSearchCV``; with a store, the folds share one
extraction (:mod:`stc_gpu.store.row_index`).
"""
from __future__ import annotations

import contextlib
import inspect
import warnings
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from stc_gpu.config import STCConfig
from stc_gpu.stc.classifier_io import read_classifier, write_classifier
from stc_gpu.stc.features import head_input, head_input_from_entry
from stc_gpu.stc.fit_options import fit_device
from stc_gpu.stc.serving import serving_extractor, stored_rows
from stc_gpu.executors import executor_for
from stc_gpu.stc.texts import check_texts, entry_for
from stc_gpu.vocabulary import DEFAULT_C_GRID, DEFAULT_ETA_GRID, KINDS, POOLS

#: The defaults of every parameter (scalars from here; lists as the config's tuples).
_DEFAULT = STCConfig()


class TokenScores(NamedTuple):
    """Token-level scores of one text: ``tokens`` (n_tokens,) strings, ``scores`` (n_tokens,) the
    probability of class ``target`` for each token on its own features."""

    tokens: list
    scores: np.ndarray
    target: object


def _renamed(old: str, new: str) -> property:
    """A read-only alias ``old`` of the fitted attribute ``new`` that warns it is deprecated."""
    def get(self):
        warnings.warn(f"STCClassifier.{old} is deprecated and will be removed: use {new} "
                      "(fitted attributes end in an underscore, as in scikit-learn)",
                      FutureWarning, stacklevel=2)
        return getattr(self, new)

    return property(get, doc=f"Deprecated alias of ``{new}``.")


class STCClassifier(ClassifierMixin, BaseEstimator):
    """A text classifier on the salient neurons of a frozen transformer (a scikit-learn estimator).

    ``STCClassifier(model="gpt2", pools=("mean",), ...).fit(texts, y)`` runs the whole method:
    the texts are extracted into ``store`` (texts this extraction already stored, in any entry,
    are read, not run again), probed, sparsified and aggregated; every choice is made on a
    validation split of ``texts``. ``fit(entry, y)`` starts from a store entry. ``predict`` /
    ``predict_proba`` / ``token_scores`` then take raw texts. :meth:`load` reads a saved one.

    Parameters
    ----------
    Keyword-only, the fields of :class:`~stc_gpu.config.STCConfig` that are not about a data
    file, its label columns or a run folder, with the same meaning and defaults: ``model``, ``revision``, ``store``,
    ``device``, ``dtype``, ``max_length``, ``token_budget``, ``block_rows``, ``max_layer``
    (extraction);
    ``kinds``, ``pools``, ``C_grid``, ``eta_grid``, ``combine_kinds``, ``metric``,
    ``multiclass``, ``backend``, ``max_iter``, ``tol``, ``patience`` (the search);
    ``val_fraction``, ``test_fraction``, ``seed`` (the splits ``fit`` carves from its texts: the
    test split is scored once, into ``results_``, and never trains); ``workers``, ``scheduler``
    (Dask), ``fit_threads`` (fit tasks at once in this process). They are checked when ``fit``
    runs. ``device`` is also where a fitted classifier predicts.

    Attributes
    ----------
    classes_ : (K,) original label values.
    blocks_ : list of FeatureBlock, in aggregation order (the columns of the head's input).
    head_ : fitted ``stc_gpu.probe.L1LogisticRegression`` on ``n_features`` features.
    pool_, selection_ : the selected pool, and the selection (kind, pool, eta, L_temp, C).
    model_, revision_, model_identity_, max_length_ : the model the features come from (its
        extractor's ``describe()``) and the max length it was extracted with.
    config_ : the :class:`~stc_gpu.config.STCConfig` it was fitted with (a run's, data file
        included, for a classifier of ``stc-gpu run``).
    results_ : the search's results (every configuration's scores), after fit only.

    There is no ``n_features_in_``: the input is raw text, not a feature matrix (as for
    scikit-learn's text vectorizers); ``n_features`` is the width of the head's input.
    """

    def __new__(cls, *args, **kwargs):  # the signature is __init__'s: see below the class
        if args or "config" in kwargs:
            raise TypeError("STCClassifier(config) was removed: pass the options as keyword "
                            "arguments, STCClassifier(model=..., pools=...), or use "
                            "STCClassifier.from_config(config)")
        return super().__new__(cls)

    def __init__(self, *, model=_DEFAULT.model, revision=_DEFAULT.revision, store=_DEFAULT.store,
                 device=_DEFAULT.device, dtype=_DEFAULT.dtype, max_length=_DEFAULT.max_length,
                 token_budget=_DEFAULT.token_budget, block_rows=_DEFAULT.block_rows,
                 max_layer=_DEFAULT.max_layer, kinds=KINDS, pools=POOLS, C_grid=DEFAULT_C_GRID, eta_grid=DEFAULT_ETA_GRID,
                 combine_kinds=_DEFAULT.combine_kinds, metric=_DEFAULT.metric,
                 multiclass=_DEFAULT.multiclass, backend=_DEFAULT.backend,
                 max_iter=_DEFAULT.max_iter, tol=_DEFAULT.tol, patience=_DEFAULT.patience,
                 val_fraction=_DEFAULT.val_fraction, test_fraction=_DEFAULT.test_fraction,
                 seed=_DEFAULT.seed, workers=_DEFAULT.workers, scheduler=_DEFAULT.scheduler,
                 fit_threads=_DEFAULT.fit_threads):
        self.model = model
        self.revision = revision
        self.store = store
        self.device = device
        self.dtype = dtype
        self.max_length = max_length
        self.token_budget = token_budget
        self.block_rows = block_rows
        self.max_layer = max_layer
        self.kinds = kinds
        self.pools = pools
        self.C_grid = C_grid
        self.eta_grid = eta_grid
        self.combine_kinds = combine_kinds
        self.metric = metric
        self.multiclass = multiclass
        self.backend = backend
        self.max_iter = max_iter
        self.tol = tol
        self.patience = patience
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.seed = seed
        self.workers = workers
        self.scheduler = scheduler
        self.fit_threads = fit_threads

    @classmethod
    def from_config(cls, config: STCConfig) -> "STCClassifier":
        """An unfitted classifier with the options of ``config`` (its data and run fields are
        not the estimator's: ``fit`` takes the texts)."""
        return cls(**{name: getattr(config, name) for name in cls._get_param_names()})

    def _config(self) -> STCConfig:
        """The :class:`STCConfig` of the current parameters (ValueError naming a bad one)."""
        return STCConfig.from_dict({name: list(value) if isinstance(value, tuple) else value
                                    for name, value in self.get_params().items()})

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False  # a 1-D sequence of texts, as a text vectorizer takes
        tags.input_tags.string = True
        return tags

    def set_params(self, **params):
        self.__dict__.pop("_extractor", None)  # built from the old parameters
        return super().set_params(**params)

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_extractor", None)  # a loaded model: rebuilt on demand
        return state

    def fit(self, X, y, *, split_values=None, executor=None, show_progress: bool = False):
        """Fit on texts (a 1-D sequence of str) or on a feature-store entry, with labels ``y`` (n,).

        Selection happens on a validation split carved from ``X``; the test split is scored once
        and reported in ``results_["selection"]``. The fits run on ``device`` when set, else on
        the extraction's device (CUDA when available); on Dask when ``workers`` or ``scheduler``
        is set and no ``executor`` is given.
        """
        from stc_gpu.stc.selection import model_identity_of, select_task

        config = self._config()
        entry, identity, extractor = entry_for(X, y, config, show_progress=show_progress)
        device = fit_device(config, extractor)
        with (executor_for(config, device) if executor is None
              else contextlib.nullcontext(executor)) as ex:
            agg, results, _ = select_task(
                entry, y, config, split_values=split_values, model_identity=identity,
                executor=ex, show_progress=show_progress, device=device)
        identity = model_identity_of(entry, identity)
        self._set_fitted(**self._candidate_state(agg, results["classes"], identity, config))
        self.results_ = results
        return self

    @classmethod
    def from_selection(cls, config: STCConfig, **state) -> "STCClassifier":
        """A fitted classifier from its parts (used by :meth:`from_candidate` and :meth:`load`)."""
        clf = cls.from_config(config)
        clf._set_fitted(config=config, **state)
        return clf

    @classmethod
    def from_candidate(cls, agg, classes, identity: dict, config: STCConfig) -> "STCClassifier":
        """The classifier of one aggregated candidate (:class:`~stc_gpu.stc.aggregate.AggCandidate`).

        ``classes`` are the label encoder's classes; ``identity`` the extractor's ``describe()``
        (or a store entry's ``metadata["model"]``).
        """
        return cls.from_selection(**cls._candidate_state(agg, classes, identity, config))

    @staticmethod
    def _candidate_state(agg, classes, identity: dict, config: STCConfig) -> dict:
        return dict(
            config=config, model=identity.get("model_name") or config.model,
            revision=config.revision, model_identity=identity, pool=agg.pool, blocks=agg.blocks,
            head=agg.estimator, classes=classes,
            max_length=identity.get("max_length", config.max_length),
            selection={"kind": agg.name, "pool": agg.pool, "eta": agg.eta, "L_temp": agg.L_temp,
                       "C": agg.C})

    def _set_fitted(self, *, model: str, revision: str | None, model_identity: dict, pool: str,
                    blocks, head, classes, config: STCConfig, selection: dict | None = None,
                    max_length: int | None = None) -> None:
        self.model_ = model
        self.revision_ = revision
        self.model_identity_ = dict(model_identity)
        self.pool_ = pool
        self.blocks_ = list(blocks)
        self.head_ = head
        self.classes_ = np.asarray(classes)
        self.selection_ = dict(selection or {})
        self.max_length_ = max_length
        self.config_ = config
        self.__dict__.pop("_extractor", None)

    def _check_fitted(self) -> None:
        check_is_fitted(self, "head_", msg="this %(name)s is not fitted yet: call fit() or load()")

    def _fitted_state(self) -> dict:
        self._check_fitted()
        return dict(model=self.model_, revision=self.revision_,
                    model_identity=self.model_identity_, pool=self.pool_, blocks=self.blocks_,
                    head=self.head_, classes=self.classes_, selection=self.selection_,
                    max_length=self.max_length_, config=self.config_)

    pool = _renamed("pool", "pool_")
    blocks = _renamed("blocks", "blocks_")
    head = _renamed("head", "head_")
    selection = _renamed("selection", "selection_")
    model_identity = _renamed("model_identity", "model_identity_")
    config = _renamed("config", "config_")

    # ----------------------------------------------------------------- features
    @property
    def sites(self) -> dict[str, list[int]]:
        """kind -> sorted layers the classifier reads."""
        out: dict[str, set[int]] = {}
        for b in self.blocks_:
            out.setdefault(b.kind, set()).add(b.layer)
        return {k: sorted(v) for k, v in out.items()}

    @property
    def n_features(self) -> int:
        """Width of the head's input: the salient neurons of every block."""
        return sum(len(b.ids) for b in self.blocks_)

    def features_from_pooled(self, pooled) -> np.ndarray:
        """(n, n_features) head input from ``pooled(kind, layer) -> (n, units)`` arrays."""
        return head_input(self.blocks_, pooled)

    def features_from_entry(self, entry, rows=None) -> np.ndarray:
        """(n_rows, n_features) from a feature-store entry (optionally a subset of ``rows``)."""
        return head_input_from_entry(entry, self.blocks_, self.pool_, rows)

    def extractor(self, *, sites: dict | None = None, pools: tuple | None = None):
        """The (cached) extractor limited to the sites and pool this classifier uses.

        It extracts as the training features were extracted (:func:`serving_extractor`): the
        compute dtype, padding side and output dtype recorded in ``model_identity_``, the same max
        length and the training config's token budget; on the ``device`` parameter (default:
        CUDA when available). ``sites`` (kind -> layers) and ``pools`` ask for a new, uncached one
        covering those instead, with the same settings (one extraction for several classifiers
        of a model).
        """
        if sites is not None or pools is not None:
            return serving_extractor(self, sites=sites, pools=pools)
        if getattr(self, "_extractor", None) is None:
            self._extractor = serving_extractor(self)
        return self._extractor

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        """(n_texts, n_features): the selected salient neurons of ``texts``.

        Texts that ``store`` holds for the training extraction (in any entry) are read from it;
        only the others go through the model.
        """
        from stc_gpu.extract.reuse import extract_reusing
        from stc_gpu.store.fingerprint import text_digests

        self._check_fitted()
        texts = check_texts(texts)
        sites, index = self.sites, stored_rows(self)
        if index is None:
            block = self.extractor().extract(texts)
        else:
            block, _ = extract_reusing(lambda rest: self.extractor().extract(rest), texts,
                                       text_digests(texts), index)
        return self.features_from_block(block, sites)

    def features_from_block(self, block, layers: dict) -> np.ndarray:
        """(n_texts, n_features) head input from an extracted features ``block`` whose layers
        are ``layers`` (kind -> layer indices, in the block's order); it must hold this
        classifier's sites and pool."""
        def pooled(kind, layer):
            return block.features[kind, self.pool_][layers[kind].index(layer)]

        return self.features_from_pooled(pooled)

    # --------------------------------------------------------------- prediction
    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(n_texts, K) class probabilities, columns in ``classes_`` order."""
        X = self.transform(texts)
        return self.head_.predict_proba(X)

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """(n_texts,) predicted labels (original label values)."""
        return self._labels(self.transform(texts))

    def predict_with_proba(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(predict(texts), predict_proba(texts))`` from one forward pass over ``texts``."""
        X = self.transform(texts)
        return self._labels(X), self.head_.predict_proba(X)

    def _labels(self, X: np.ndarray) -> np.ndarray:
        return self.classes_[np.asarray(self.head_.predict(X), dtype=np.int64)]

    def class_index(self, label) -> int:
        """Position of ``label`` in ``classes_``, matched by value or by its string form (so a
        class given on the command line is found); ValueError naming the classes otherwise."""
        self._check_fitted()
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

        self._check_fitted()
        return explain_texts(self, check_texts(texts), target=target, extractor=extractor)

    # ---------------------------------------------------------------- save/load
    def save(self, path: str | Path) -> Path:
        """Write ``classifier.json`` + the head's arrays into folder ``path`` (no pickle)."""
        return write_classifier(path, self._fitted_state())

    @classmethod
    def load(cls, path: str | Path, *, device: str | None = None) -> "STCClassifier":
        """The classifier :meth:`save` wrote into folder ``path``, predicting on ``device``.

        Its parameters are those of the saved config; config fields this version does not know
        (from a later one) are left out.
        """
        return cls.from_selection(**read_classifier(path, device=device))


#: ``inspect.signature(STCClassifier)`` is that of ``__init__`` (``__new__`` only refuses the
#: removed ``STCClassifier(config)``), as scikit-learn's checks expect.
STCClassifier.__signature__ = inspect.signature(STCClassifier.__init__).replace(
    parameters=list(inspect.signature(STCClassifier.__init__).parameters.values())[1:])
