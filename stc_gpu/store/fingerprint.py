"""Fingerprints that key the feature store: one for the model, one for the texts.

Both are sha256 hex digests. The model fingerprint hashes the canonical JSON of the extractor's
``describe()`` dict; the dataset fingerprint hashes the sequence of per-row text digests, so it
depends on the texts and their order only, never on labels or on the file format.
"""
from __future__ import annotations

import hashlib
import os
import json
from typing import Any, Iterable

import numpy as np

#: Bytes in one per-row text digest (sha256).
DIGEST_BYTES = 32


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no insignificant whitespace (the hashed form)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def model_fingerprint(description: dict) -> str:
    """sha256 hex of ``canonical_json(description)`` (an extractor's ``describe()``)."""
    return hashlib.sha256(canonical_json(description).encode("utf-8")).hexdigest()


def text_digests(texts: Iterable[str]) -> np.ndarray:
    """Per-row sha256 of the UTF-8 text, shape ``(n_texts, 32)``, dtype uint8."""
    joined = b"".join(hashlib.sha256(t.encode("utf-8")).digest() for t in texts)
    return np.frombuffer(joined, dtype=np.uint8).reshape(-1, DIGEST_BYTES).copy()


class DatasetHasher:
    """Incremental dataset fingerprint over blocks of per-row digests (in row order)."""

    def __init__(self) -> None:
        self._sha = hashlib.sha256()
        self.n_rows = 0

    def update(self, digests: np.ndarray) -> None:
        """Add rows; ``digests`` has shape ``(n, 32)``, dtype uint8."""
        self._sha.update(np.ascontiguousarray(digests, dtype=np.uint8).tobytes())
        self.n_rows += len(digests)

    def hexdigest(self) -> str:
        return self._sha.hexdigest()


def dataset_fingerprint(digests: np.ndarray) -> str:
    """sha256 hex over all per-row digests, shape ``(n_rows, 32)``, in row order."""
    hasher = DatasetHasher()
    hasher.update(digests)
    return hasher.hexdigest()


def as_digests(texts) -> np.ndarray:
    """Per-row digests ``(n, 32)`` uint8 of ``texts``: a sequence of str (hashed here), or
    digests as they are. The store reads no data file: for one, pass
    ``stc_gpu.data.readers.scan_texts(path).digests``."""
    if isinstance(texts, (str, os.PathLike)):
        raise TypeError(f"the store reads no data file ({texts!s}): pass its digests, "
                        "stc_gpu.data.readers.scan_texts(path).digests, or its texts")
    if isinstance(texts, np.ndarray) and texts.dtype == np.uint8 and texts.ndim == 2:
        if texts.shape[1] != DIGEST_BYTES:
            raise ValueError(f"digests must have shape (n, {DIGEST_BYTES}), got {texts.shape}")
        return texts
    return text_digests(texts)
