"""Features of a block of texts: read from the store where it already holds them, else computed."""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from stc_gpu.extract.extractor import BlockFeatures


def extract_reusing(extract: Callable[[list[str]], BlockFeatures], texts: Sequence[str],
                    digests: np.ndarray, index, *, progress=None) -> tuple[BlockFeatures, int]:
    """``extract(texts)``, except that the texts ``index`` finds are read from the store.

    Parameters
    ----------
    extract : ``texts -> BlockFeatures`` (e.g. an extractor's ``extract``), called once with the
        texts not found, or not at all when every text is.
    texts : (n,) str; ``digests``: their (n, 32) uint8 text digests.
    index : a :class:`~stc_gpu.store.row_index.RowIndex` whose spec matches ``extract``'s sites
        (kinds, pools, layers in the same order).
    progress : an object whose ``update(n)`` counts the texts read from the store.

    Returns
    -------
    ``(features, n_read)``: features of every text in input order (the token counters count the
    computed texts only) and how many texts were read from the store.
    """
    found, stored = index.read(digests) if len(index) else (np.zeros(len(texts), bool), {})
    if not found.any():
        return extract(list(texts)), 0
    if progress is not None:
        progress.update(int(found.sum()))
    features = {key: np.empty((rows.shape[0], len(texts), rows.shape[2]), rows.dtype)
                for key, rows in stored.items()}
    for key, rows in stored.items():
        features[key][:, found] = rows
    todo = np.flatnonzero(~found)
    if not todo.size:
        return BlockFeatures(features, n_tokens=0, n_slots=0, n_truncated=0), len(texts)
    computed = extract([texts[i] for i in todo])
    for key, rows in computed.features.items():
        features[key][:, todo] = rows
    return BlockFeatures(features, n_tokens=computed.n_tokens, n_slots=computed.n_slots,
                         n_truncated=computed.n_truncated), int(found.sum())
