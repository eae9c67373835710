"""What the estimators take as ``X``: a 1-D sequence of texts, or a feature-store entry."""
from __future__ import annotations

from stc_gpu.config import STCConfig


def check_texts(texts) -> list[str]:
    """``texts`` as a list of non-empty str: a list, a 1-D array or a Series of them."""
    if isinstance(texts, str):
        raise TypeError("pass a list of texts, not a single string")
    if getattr(texts, "ndim", 1) != 1:
        raise ValueError(f"expected a 1-D sequence of texts, got an array of shape "
                         f"{getattr(texts, 'shape', '?')}")
    texts = list(texts)
    for i, t in enumerate(texts):
        if not isinstance(t, str) or not t.strip():
            raise ValueError(f"text {i} is {'empty' if isinstance(t, str) else type(t).__name__}: "
                             "every text must be a non-empty string")
    return texts


def entry_for(X, y, config: STCConfig, *, show_progress: bool = True):
    """``(entry, identity, extractor)`` for ``X``: a feature-store entry as it is (no identity or
    extractor), or texts (a 1-D sequence of str, as many as the labels ``y``) extracted with
    ``config`` (reused when stored)."""
    if hasattr(X, "features") and hasattr(X, "n_rows"):  # a feature-store entry
        return X, None, None
    from sklearn.utils.validation import check_consistent_length

    from stc_gpu.extract.configured import extract

    texts = check_texts(X)
    check_consistent_length(texts, y)
    entry, _, extractor = extract(config, source=texts, show_progress=show_progress)
    return entry, extractor.describe(), extractor
