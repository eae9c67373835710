"""Saving a fitted probe as plain arrays (``probe.npz``) + JSON (``probe.json``); no pickle."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

FORMAT = "stc-gpu-l1-probe"
FORMAT_VERSION = 1


def save_probe(model, path) -> None:
    """Write ``model`` (a fitted L1LogisticRegression) to directory ``path``."""
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(model, "coef_")
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    classes = np.asarray(model.classes_)
    if classes.dtype == object:
        classes = classes.astype(str)
    arrays = {"coef": model.coef_, "intercept": model.intercept_, "classes": classes}
    if model.mean_ is not None:
        arrays.update(mean=model.mean_, scale=model.scale_)
    np.savez(path / "probe.npz", **arrays)
    meta = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "params": model.get_params(),
        "n_iter": int(model.n_iter_[0]),
        "objective": float(model.objective_),
        "backend": model.backend_,
    }
    (path / "probe.json").write_text(json.dumps(meta, indent=2))


def load_probe(cls, path):
    """Read a probe written by :func:`save_probe` into a new ``cls`` instance."""
    path = Path(path)
    meta_file, array_file = path / "probe.json", path / "probe.npz"
    if not meta_file.is_file() or not array_file.is_file():
        raise ValueError(f"{path} is not a saved probe (needs probe.json and probe.npz)")
    meta = json.loads(meta_file.read_text())
    if meta.get("format") != FORMAT or meta.get("version") != FORMAT_VERSION:
        raise ValueError(f"{meta_file} is not a {FORMAT} v{FORMAT_VERSION} file")
    with np.load(array_file, allow_pickle=False) as arrays:
        data = {key: arrays[key] for key in arrays.files}
    # probes saved before one-vs-rest existed have no "multiclass" parameter: they are multinomial
    model = cls(**{"multiclass": "multinomial", **meta["params"]})
    model._set_fitted(
        coef=data["coef"], intercept=data["intercept"], classes=data["classes"],
        mean=data.get("mean"), scale=data.get("scale"), n_iter=meta["n_iter"],
        objective=meta["objective"], backend=meta["backend"],
    )
    return model
