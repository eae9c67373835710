"""Reading the feature store: list entries, pick one, read one (kind, pool, layer) slab at a time."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import zarr

from stc_gpu.store import layout
from stc_gpu.store.fingerprint import as_digests, dataset_fingerprint, model_fingerprint

#: Keys of ``describe()`` tried, in order, for a model's display name.
_NAME_KEYS = ("model_name", "name", "model", "name_or_path")


def _folder_bytes(path: Path) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def _as_row_index(rows: Any, n_rows: int) -> slice | np.ndarray:
    """A slice or a 1-D int64 index array (bounds checked) for a ``rows`` selection."""
    if rows is None:
        return slice(0, n_rows)
    if isinstance(rows, slice):
        return slice(*rows.indices(n_rows))
    idx = np.asarray(rows)
    if idx.dtype == bool:
        if idx.shape != (n_rows,):
            raise ValueError(f"boolean row mask has shape {idx.shape}, expected ({n_rows},)")
        return np.flatnonzero(idx)
    if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
        raise ValueError("rows must be None, a slice, a boolean mask or a 1-D array of row indices")
    if idx.size and (idx.min() < -n_rows or idx.max() >= n_rows):
        raise IndexError(f"row index out of range for an entry of {n_rows} rows")
    return np.where(idx < 0, idx + n_rows, idx).astype(np.int64)


def _to_cupy(array: np.ndarray):
    try:
        import cupy
    except ImportError:
        raise RuntimeError("as_='cupy' needs CuPy, which is not installed: "
                           "pip install 'stc-gpu[gpu]' (or read with as_='numpy')") from None
    return cupy.asarray(array)


class StoreEntry:
    """One extraction: features of one model over one dataset's texts.

    Attributes
    ----------
    path : the entry folder. ``metadata`` : a copy of the manifest (see :mod:`stc_gpu.store.layout`).
    """

    def __init__(self, path: Path, manifest: dict) -> None:
        self.path = Path(path)
        self._manifest = manifest
        self._seen_all_marked = False  # done markers are never taken back

    @classmethod
    def open(cls, path: str | Path) -> "StoreEntry":
        """Open an initialised entry folder (raises ValueError for anything else)."""
        path = Path(path)
        try:
            attrs = zarr.open_group(path, mode="r").attrs.asdict()
        except (FileNotFoundError, zarr.errors.GroupNotFoundError):
            raise ValueError(f"{path} is not a feature-store entry (no Zarr group there)") from None
        if layout.MANIFEST_KEY not in attrs:
            raise ValueError(f"{path} is an entry whose initialisation never finished; "
                             "rerun the extraction to rebuild it")
        return cls(path, attrs[layout.MANIFEST_KEY])

    # -- manifest ---------------------------------------------------------------------------
    @property
    def metadata(self) -> dict:
        return dict(self._manifest)

    @property
    def key(self) -> str:
        return layout.entry_key(self.model_fingerprint, self.dataset_fingerprint)

    @property
    def model_fingerprint(self) -> str:
        return self._manifest["model_fingerprint"]

    @property
    def dataset_fingerprint(self) -> str:
        return self._manifest["dataset_fingerprint"]

    @property
    def model_name(self) -> str:
        model = self._manifest["model"]
        return next((str(model[k]) for k in _NAME_KEYS if model.get(k)), "?")

    @property
    def n_rows(self) -> int:
        return self._manifest["n_rows"]

    @property
    def block_rows(self) -> int:
        return self._manifest["block_rows"]

    @property
    def n_blocks(self) -> int:
        return layout.n_blocks(self.n_rows, self.block_rows)

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(self._manifest["kinds"])

    @property
    def pools(self) -> tuple[str, ...]:
        return tuple(self._manifest["pools"])

    @property
    def dtype(self) -> str:
        return self._manifest["dtype"]

    def layers(self, kind: str) -> list[int]:
        """Captured layer indices of ``kind``, in array order."""
        self._check_kind(kind)
        return list(self._manifest["layers"][kind])

    def units(self, kind: str) -> int:
        """Feature width of ``kind``."""
        self._check_kind(kind)
        return self._manifest["units"][kind]

    def _check_kind(self, kind: str) -> None:
        if kind not in self.kinds:
            raise ValueError(f"kind {kind!r} is not in this entry (it has {', '.join(self.kinds)})")

    # -- state ------------------------------------------------------------------------------
    def _marked_done(self) -> np.ndarray:
        """Blocks whose done marker is set, shape ``(n_blocks,)``, bool."""
        if self._seen_all_marked:
            return np.ones(self.n_blocks, dtype=bool)
        marked = zarr.open_array(self.path / layout.DONE_ARRAY, mode="r")[:].astype(bool)
        self._seen_all_marked = bool(marked.all())
        return marked

    def _chunk_ok(self, kind: str, pool: str, position: int, block: int) -> bool:
        try:
            return layout.feature_chunk(self.path, kind, pool, position, block).stat().st_size > 0
        except FileNotFoundError:
            return False

    def _intact(self, block: int) -> bool:
        return all(self._chunk_ok(kind, pool, position, block) for kind in self.kinds
                   for pool in self.pools for position in range(len(self.layers(kind))))

    def block_states(self) -> tuple[np.ndarray, list[int]]:
        """``(blocks_done(), damaged_blocks())`` from one scan of the chunk files."""
        done = self._marked_done().copy()
        damaged = [int(b) for b in np.flatnonzero(done) if not self._intact(int(b))]
        done[damaged] = False
        return done, damaged

    def damaged_blocks(self) -> list[int]:
        """Blocks marked done whose chunk files are missing or empty (lost in a crash, or
        deleted); the next extraction rewrites them, and reading them is an error."""
        return self.block_states()[1]

    def blocks_done(self) -> np.ndarray:
        """Which row blocks are fully written and intact, shape ``(n_blocks,)``, bool."""
        return self.block_states()[0]

    @property
    def is_complete(self) -> bool:
        return bool(self.blocks_done().all())

    def size_bytes(self) -> int:
        """Bytes on disk of the whole entry folder."""
        return _folder_bytes(self.path)

    def text_digests(self) -> np.ndarray:
        """Per-row sha256 of the texts, shape ``(n_rows, 32)``, uint8."""
        return zarr.open_array(self.path / layout.HASHES_ARRAY, mode="r")[:]

    def verify_texts(self, texts: Any) -> None:
        """Raise ValueError unless ``texts`` are this entry's rows: a sequence of str, or their
        ``(n, 32)`` digests (:func:`~stc_gpu.store.fingerprint.as_digests`; a data file's: ``scan_texts(path).digests``)."""
        given = as_digests(texts)
        mine = self.text_digests()
        if given.shape != mine.shape:
            raise ValueError(f"these texts are not the ones entry {self.key} was extracted from: "
                             f"{len(given)} rows given, the entry has {len(mine)}")
        differ = np.flatnonzero((given != mine).any(axis=1))
        if differ.size:
            raise ValueError(f"these texts are not the ones entry {self.key} was extracted from: "
                             f"{differ.size} rows differ, first at row {differ[0]}")

    # -- features ---------------------------------------------------------------------------
    def array(self, kind: str, pool: str) -> zarr.Array:
        """The Zarr array of one (kind, pool), shape ``(n_layers, n_rows, units)``."""
        self._check_kind(kind)
        if pool not in self.pools:
            raise ValueError(f"pool {pool!r} is not in this entry (it has {', '.join(self.pools)})")
        return zarr.open_array(self.path / layout.feature_array_name(kind, pool), mode="r")

    def features(self, kind: str, pool: str, layer: int, rows: Any = None, *, as_: str = "numpy"):
        """Features of one layer, shape ``(n_rows_selected, units)``.

        Parameters
        ----------
        layer : the model's layer index (one of ``layers(kind)``), not a position.
        rows : None (all), a slice, a boolean mask of shape ``(n_rows,)`` or row indices.
        as_ : ``"numpy"`` or ``"cupy"`` (a CuPy array on the current device).
        """
        if as_ not in ("numpy", "cupy"):
            raise ValueError(f"as_ must be 'numpy' or 'cupy', not {as_!r}")
        captured = self.layers(kind)
        if layer not in captured:
            raise ValueError(f"layer {layer} of kind {kind!r} was not captured "
                             f"(captured: {captured})")
        array = self.array(kind, pool)
        index = _as_row_index(rows, self.n_rows)
        position = captured.index(layer)
        self._check_rows_readable(kind, pool, position, index)
        if isinstance(index, slice):
            out = array[position, index, :]
        else:
            out = array.get_orthogonal_selection((position, index, slice(None)))
        return _to_cupy(out) if as_ == "cupy" else out

    def _check_rows_readable(self, kind: str, pool: str, position: int,
                             index: slice | np.ndarray) -> None:
        """Raise ValueError unless every block of the selected rows is done and its chunk (of this
        array and layer) is on disk: a missing chunk would read as zeros."""
        blocks = np.unique(np.arange(self.n_rows)[index] // self.block_rows)
        done = self._marked_done()
        unwritten = blocks[~done[blocks]]
        if unwritten.size:
            raise ValueError(f"entry {self.key} is incomplete ({int(done.sum())}/{done.size} blocks "
                             f"written) and the requested rows include unwritten block "
                             f"{int(unwritten[0])}; rerun the extraction to finish it")
        for block in blocks:
            if not self._chunk_ok(kind, pool, position, int(block)):
                chunk = layout.feature_chunk(self.path, kind, pool, position, int(block))
                raise ValueError(f"entry {self.key}: block {int(block)} is damaged (its chunk "
                                 f"{chunk} is missing or empty); rerun the extraction to rewrite it")

    def __repr__(self) -> str:
        return (f"StoreEntry({self.key!r}, model={self.model_name!r}, n_rows={self.n_rows}, "
                f"complete={self.is_complete})")


@dataclass(frozen=True)
class EntryInfo:
    """One line of :meth:`FeatureStore.entries`."""

    key: str
    model_name: str
    model_fingerprint: str
    dataset_fingerprint: str
    n_rows: int
    blocks_done: int       # written and intact
    n_blocks: int
    blocks_damaged: int    # marked done, but a chunk is missing: the next extraction rewrites them
    size_bytes: int
    source: str | None
    created: str | None

    @property
    def complete(self) -> bool:
        return self.blocks_done == self.n_blocks


class FeatureStore:
    """A folder holding many entries, keyed by (model fingerprint, dataset fingerprint)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @classmethod
    def open(cls, path: str | Path) -> "FeatureStore":
        """Open an existing store (FileNotFoundError / ValueError if ``path`` is not one)."""
        root = Path(path)
        if not root.exists():
            raise FileNotFoundError(f"no feature store at {root}")
        try:
            attrs = zarr.open_group(root, mode="r").attrs.asdict()
        except (FileNotFoundError, zarr.errors.GroupNotFoundError):
            attrs = {}
        if layout.STORE_MARKER not in attrs:
            raise ValueError(f"{root} is not an stc-gpu feature store (no Zarr root group "
                             f"with the {layout.STORE_MARKER!r} attribute)")
        return cls(root)

    @classmethod
    def create(cls, path: str | Path) -> "FeatureStore":
        """Open the store at ``path``, creating it if absent (an existing non-store is an error)."""
        root = Path(path)
        if root.exists() and not root.is_dir():
            raise ValueError(f"{root} is a file, not a feature store folder")
        if root.exists() and any(root.iterdir()):
            return cls.open(root)
        try:
            zarr.open_group(root, mode="w-",
                            attributes={layout.STORE_MARKER: layout.FORMAT_VERSION})
        except (FileExistsError, zarr.errors.ContainsGroupError):
            pass  # another process created it between our check and now: open theirs
        return cls.open(root)

    def _entry_paths(self) -> list[Path]:
        return sorted(p.parent for p in self.root.glob("*/*/zarr.json"))

    def _open_entries(self) -> list[StoreEntry]:
        entries = []
        for path in self._entry_paths():
            try:
                entries.append(StoreEntry.open(path))
            except ValueError:
                continue  # initialisation interrupted: the next extraction rebuilds it
        return entries

    def entries(self) -> list[EntryInfo]:
        """Every initialised entry, complete or not."""
        infos = []
        for e in self._open_entries():
            done, damaged = e.block_states()
            infos.append(EntryInfo(
                key=e.key, model_name=e.model_name, model_fingerprint=e.model_fingerprint,
                dataset_fingerprint=e.dataset_fingerprint, n_rows=e.n_rows,
                blocks_done=int(done.sum()), n_blocks=int(done.size),
                blocks_damaged=len(damaged), size_bytes=e.size_bytes(),
                source=e.metadata.get("source"), created=e.metadata.get("created")))
        return infos

    def entry(self, key: str | None = None) -> StoreEntry:
        """Pick one entry.

        Parameters
        ----------
        key : None when the store holds exactly one entry; else a prefix of the model or the
            dataset fingerprint, or ``"<model prefix>/<dataset prefix>"``.
        """
        entries = self._open_entries()
        if key is None:
            matches = entries
        elif "/" in key:
            m, d = key.split("/", 1)
            matches = [e for e in entries
                       if e.model_fingerprint.startswith(m) and e.dataset_fingerprint.startswith(d)]
        else:
            matches = [e for e in entries
                       if e.model_fingerprint.startswith(key) or e.dataset_fingerprint.startswith(key)]
        if len(matches) == 1:
            return matches[0]
        listing = "; ".join(f"{e.key} ({e.model_name}, {e.n_rows} rows)" for e in matches or entries)
        if not entries:
            raise ValueError(f"the feature store {self.root} holds no entries")
        if not matches:
            raise ValueError(f"no entry matches {key!r} in {self.root}; entries: {listing}")
        what = f"entries match {key!r}" if key else "entries are"
        raise ValueError(f"{len(matches)} {what} in {self.root}; pick one by fingerprint "
                         f"prefix: {listing}")

    def features(self, kind: str, pool: str, layer: int, rows: Any = None, *, as_: str = "numpy"):
        """:meth:`StoreEntry.features` of the store's only entry."""
        return self.entry().features(kind, pool, layer, rows, as_=as_)

    def find(self, extractor_or_description: Any, texts: Sequence[str] | np.ndarray
             ) -> StoreEntry | None:
        """The entry for this (extractor, texts) pair, or None if it was never extracted.

        ``texts``: a sequence of str, or their ``(n, 32)`` digests (:func:`~stc_gpu.store.fingerprint.as_digests`; a data
        file's: ``stc_gpu.data.readers.scan_texts(path).digests``).
        """
        description = extractor_or_description
        if not isinstance(description, dict):
            description = description.describe()
        fingerprint = dataset_fingerprint(as_digests(texts))
        path = layout.entry_dir(self.root, model_fingerprint(description), fingerprint)
        try:
            entry = StoreEntry.open(path)
        except ValueError:
            return None
        if (entry.dataset_fingerprint, entry.model_fingerprint) != (
                fingerprint, model_fingerprint(description)):
            return None
        return entry

    def __repr__(self) -> str:
        return f"FeatureStore({str(self.root)!r})"
