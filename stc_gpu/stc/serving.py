"""What a fitted classifier predicts with: its extractor, and the rows a store already holds."""
from __future__ import annotations

import warnings

from stc_gpu.stc.fit_options import fit_device


def serving_extractor(clf, *, sites: dict | None = None, pools: tuple | None = None):
    """An extractor of the fitted ``clf`` (an :class:`~stc_gpu.stc.classifier.STCClassifier`)
    limited to ``sites`` (kind -> layers, default its own) and ``pools`` (default its pool).

    It extracts as the training features were extracted: the compute dtype, padding side and
    output dtype recorded in ``model_identity_``, the same max length, and the training config's
    token budget; on the classifier's ``device`` parameter (default: CUDA when available). A
    float16 model on a CPU, which cannot compute in float16, runs in float32, with a warning.
    ValueError when the loaded weights or tokenizer are not the ones it was trained on.
    """
    from stc_gpu.extract import Extractor

    clf._check_fitted()
    sites = sites or clf.sites
    identity = clf.model_identity_
    device = fit_device(clf._config())
    extractor = Extractor.from_pretrained(
        clf.model_, revision=clf.revision_, kinds=tuple(sites),
        pools=pools or (clf.pool_,), layers=sites, max_length=clf.max_length_,
        device=device, dtype=_serving_dtype(identity.get("dtype"), device),
        token_budget=clf.config_.token_budget, padding_side=identity.get("padding_side"),
        out_dtype=identity.get("out_dtype", "float16"), truncate=True)
    _check_identity(clf, extractor.describe())
    return extractor


def _check_identity(clf, described: dict) -> None:
    for key in ("weights_sha256", "tokenizer_sha256"):
        saved, now = clf.model_identity_.get(key), described.get(key)
        if saved and now and saved != now:
            raise ValueError(
                f"model {clf.model_!r} does not match the one this classifier was trained "
                f"on ({key} {now[:12]} != {saved[:12]}): load the same weights and tokenizer")


def stored_rows(clf):
    """The :class:`~stc_gpu.store.row_index.RowIndex` of ``clf``'s sites in its ``store``, or
    None when the training extraction's identity lacks what it needs."""
    from stc_gpu.store.row_index import RowIndex
    from stc_gpu.store.writer import EntryLayout

    identity, sites = clf.model_identity_, clf.sites
    units = identity.get("units") or {}
    if clf.store is None or "out_dtype" not in identity or not set(sites) <= set(units):
        return None
    spec = EntryLayout(tuple(sites), (clf.pool_,), sites, {k: int(units[k]) for k in sites},
                       identity["out_dtype"])
    return RowIndex.of_store(clf.store, identity, spec)


def _serving_dtype(trained: str | None, device: str) -> str | None:
    """The compute dtype to predict with: ``trained`` (the extraction's), except float16 on a CPU
    (not supported there), which becomes float32 with a warning."""
    if trained == "float16" and str(device).split(":")[0] == "cpu":
        warnings.warn("this classifier's features were extracted in float16, which a CPU cannot "
                      "compute: predicting in float32 (scores may differ in the last digits)",
                      stacklevel=4)
        return "float32"
    return trained
