"""A fitted :class:`~stc_gpu.stc.classifier.STCClassifier` on disk, without pickle.

Folder layout: ``classifier.json`` (model identity, pool, blocks, classes, selection, config) and
``head/`` (the L1 logistic head's arrays, :meth:`L1LogisticRegression.save`).
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from stc_gpu import __version__
from stc_gpu.config import STCConfig
from stc_gpu.stc.aggregate import FeatureBlock

FORMAT = "stc-gpu-classifier/1"


def write_classifier(path: str | Path, state: dict) -> Path:
    """Write the fitted ``state`` (``STCClassifier._fitted_state()``) into folder ``path``."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    state["head"].save(path / "head")
    meta = {
        "format": FORMAT, "stc_gpu_version": __version__, "model": state["model"],
        "revision": state["revision"], "model_identity": state["model_identity"],
        "pool": state["pool"], "max_length": state["max_length"],
        "blocks": [{"kind": b.kind, "layer": b.layer, "ids": list(b.ids)}
                   for b in state["blocks"]],
        "classes": np.asarray(state["classes"]).tolist(), "selection": state["selection"],
        "config": state["config"].to_dict(),
    }
    (path / "classifier.json").write_text(json.dumps(meta, indent=2, default=_jsonable))
    return path


def read_classifier(path: str | Path, *, device: str | None = None) -> dict:
    """The fitted state :func:`write_classifier` wrote into ``path``, its config predicting on
    ``device``; config fields this version does not know (from a later one) are left out."""
    from stc_gpu.probe import L1LogisticRegression

    path = Path(path)
    meta_file = path / "classifier.json"
    if not meta_file.exists():
        raise FileNotFoundError(f"{path} is not a saved STC classifier (no classifier.json)")
    meta = json.loads(meta_file.read_text())
    if meta.get("format") != FORMAT:
        raise ValueError(f"{meta_file}: unknown format {meta.get('format')!r}")
    known = {f.name for f in dataclasses.fields(STCConfig)}
    saved = {k: v for k, v in meta.get("config", {}).items() if k in known}
    return dict(
        config=STCConfig.from_dict({**saved, "device": device}), model=meta["model"],
        revision=meta["revision"], model_identity=meta["model_identity"], pool=meta["pool"],
        blocks=[FeatureBlock(b["kind"], int(b["layer"]), tuple(b["ids"]))
                for b in meta["blocks"]],
        head=L1LogisticRegression.load(path / "head"), classes=meta["classes"],
        selection=meta["selection"], max_length=meta["max_length"])


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
