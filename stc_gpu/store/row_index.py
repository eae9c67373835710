"""Rows a store already holds for an extraction, found by their text digests.

An entry is keyed by (model, dataset), so the same texts in another dataset (a fold of a
cross-validation, a subset, another order) make a new entry. A :class:`RowIndex` finds, for the
texts of a new extraction, the rows that the store's other entries of the *same extraction*
already hold, so that only the other texts go through the model. The same extraction: the same
``describe()`` up to the captured sites (:data:`SITE_KEYS`), that is the same model, weights,
tokenizer, max length, padding side, dtypes and code version. An entry gives a (kind, pool) when
it captured that kind and pool, every wanted layer of the kind, at the same width and dtype; one
row may come from different entries for different (kind, pool)s. Only rows of written blocks
count, so a half-written entry gives its finished blocks. The index only reads.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stc_gpu.store.feature_store import FeatureStore, StoreEntry
from stc_gpu.store.fingerprint import model_fingerprint

#: ``describe()`` keys that name the captured sites; the other keys identify the extraction.
SITE_KEYS = ("kinds", "pools", "layers", "units")


def extraction_key(description: dict) -> str:
    """sha256 hex of ``description`` (an extractor's ``describe()``) without :data:`SITE_KEYS`."""
    return model_fingerprint({k: v for k, v in description.items() if k not in SITE_KEYS})


@dataclass(frozen=True)
class _Source:
    """The written rows of one entry, sorted by the first 8 bytes of their digests."""

    entry: StoreEntry
    keys: np.ndarray      # (m,) uint64, sorted
    rows: np.ndarray      # (m,) int64 entry rows, in ``keys`` order
    digests: np.ndarray   # (m, 32) uint8, in ``keys`` order

    @classmethod
    def of(cls, entry: StoreEntry) -> "_Source":
        written = np.flatnonzero(np.repeat(entry.blocks_done(), entry.block_rows)[:entry.n_rows])
        digests = entry.text_digests()[written]
        keys = _keys(digests)
        order = np.argsort(keys, kind="stable")
        return cls(entry, keys[order], written[order], digests[order])

    def find(self, digests: np.ndarray) -> np.ndarray:
        """(n,) int64 entry row of each of ``digests`` (n, 32), -1 where this entry lacks it."""
        if not len(self.keys):
            return np.full(len(digests), -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(self.keys, _keys(digests)), len(self.keys) - 1)
        hit = (self.digests[at] == digests).all(axis=1)
        return np.where(hit, self.rows[at], -1)


def _keys(digests: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(digests[:, :8]).view("<u8").ravel()


class RowIndex:
    """Where the rows of an extraction already are, among the entries of one store.

    Parameters
    ----------
    entries : the entries to read from, in order of preference.
    spec : the wanted sites (a :class:`~stc_gpu.store.writer.EntryLayout`: kinds, pools, layers
        per kind, units per kind, dtype); features come back in its layer order.
    """

    def __init__(self, entries: list[StoreEntry], spec) -> None:
        self.spec = spec
        self._sources = [_Source.of(e) for e in entries]
        self._givers = {(k, p): [i for i, e in enumerate(entries) if _gives(e, spec, k, p)]
                        for k in spec.kinds for p in spec.pools}

    @classmethod
    def of_store(cls, store_path: str | Path, description: dict, spec, *,
                 exclude: str | Path | None = None) -> "RowIndex":
        """The index over the entries of the store at ``store_path`` (none when there is no
        store there) of the extraction ``description`` describes; ``exclude``: an entry folder
        to leave out (the one being written)."""
        try:
            store = FeatureStore.open(store_path)
        except (FileNotFoundError, ValueError):
            return cls([], spec)
        key = extraction_key(description)
        skip = Path(exclude).resolve() if exclude is not None else None
        entries = [e for e in store._open_entries()
                   if e.path.resolve() != skip and extraction_key(e.metadata["model"]) == key
                   and any(_gives(e, spec, k, p) for k in spec.kinds for p in spec.pools)]
        return cls(entries, spec)

    @classmethod
    def beside(cls, entry: StoreEntry, description: dict, spec) -> "RowIndex":
        """The index over the other entries of ``entry``'s store (``<store>/<model>/<dataset>``)."""
        return cls.of_store(entry.path.parents[1], description, spec, exclude=entry.path)

    def __len__(self) -> int:
        """Number of entries the index reads from."""
        return len(self._sources)

    def read(self, digests: np.ndarray) -> tuple[np.ndarray, dict]:
        """The stored features of the texts whose digests are ``digests`` (n, 32) uint8.

        Returns
        -------
        found : (n,) bool, the texts stored for every wanted (kind, pool).
        features : dict (kind, pool) -> (n_layers, n_found, units) array of the spec's dtype,
            rows in the order of ``found``'s True positions, layers in the spec's order.
        """
        digests = np.asarray(digests, dtype=np.uint8).reshape(-1, 32)
        rows = {i: s.find(digests) for i, s in enumerate(self._sources)}
        where = {}
        for site, givers in self._givers.items():
            source = np.full(len(digests), -1, dtype=np.int64)
            for i in reversed(givers):  # the first giver of a row wins
                source[rows[i] >= 0] = i
            where[site] = source
        found = np.logical_and.reduce([s >= 0 for s in where.values()]) if where else (
            np.zeros(len(digests), dtype=bool))
        features = {}
        for (kind, pool), source in where.items():
            layers = self.spec.layers[kind]
            out = np.empty((len(layers), int(found.sum()), self.spec.units[kind]), self.spec.dtype)
            source = source[found]
            for i in np.unique(source):
                at = np.flatnonzero(source == i)
                entry_rows = rows[i][found][at]
                for position, layer in enumerate(layers):
                    out[position, at] = self._sources[i].entry.features(kind, pool, layer,
                                                                         entry_rows)
            features[kind, pool] = out
        return found, features


def _gives(entry: StoreEntry, spec, kind: str, pool: str) -> bool:
    """Whether ``entry`` holds (kind, pool) for every layer of ``spec``, at its width and dtype."""
    return (kind in entry.kinds and pool in entry.pools and entry.dtype == spec.dtype
            and entry.units(kind) == spec.units[kind]
            and set(spec.layers[kind]) <= set(entry.layers(kind)))
