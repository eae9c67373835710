"""``export_classifier``: a saved STC classifier as a folder that serves without the training stack.

The folder is built beside ``out`` and renamed into place only when complete, its manifest last;
the ONNX graph is checked against the torch classifier with onnxruntime before that (right and
left padding, other batch and length than the traced ones; the result is in ``serving.json``). The folder's files are described in
:mod:`stc_gpu.export.runtime`.
"""
from __future__ import annotations

import json
import os
import shutil
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from stc_gpu import __version__
from stc_gpu.export import runtime
from stc_gpu.export.card import model_card
from stc_gpu.export.graph import INPUT_NAMES, OUTPUT_NAMES, ClassifierGraph
from stc_gpu.extract.batching import pad_batch, tokenize
from stc_gpu.models.truncate import blocks_needed

#: Model types whose ONNX export is tested (tests/unit/test_export.py); others are refused.
EXPORTABLE_MODEL_TYPES = ("gpt2", "bert", "roberta", "xlm-roberta", "distilbert", "llama",
                          "mistral", "qwen2")
#: ONNX opset of the graph (TorchScript exporter).
OPSET = 17
#: Largest relative feature difference between onnxruntime and torch accepted by the check
#: (float32 rounding gives ~1e-6; a wrong pooling, mask or position gives ~1e-1).
FEATURE_TOLERANCE = 1e-4
#: Texts that trace the graph and check it (several lengths, so batches are padded).
_SAMPLE_TEXTS = ("A quiet, patient film about two brothers who stop speaking for a decade.",
                 "Dull.", "The jokes land, the plot does not, and the ending drags on for ever.",
                 "Great fun", "An uneven but often moving portrait of a small town in winter.")


def export_classifier(classifier, out: str | Path, *, results: dict | None = None) -> Path:
    """Write ``classifier`` (an ``STCClassifier``, or the folder of a saved one) to folder ``out``.

    ``results``: the run's ``results.json`` dict for the model card (default: read from beside a
    classifier folder when its selection matches). Returns ``out``. A classifier object must be
    on the CPU; its (truncated) model is left in float32.

    Raises
    ------
    ImportError
        onnx or onnxruntime is not installed (the ``export`` extra).
    ValueError
        ``out`` exists and is not empty; the classifier's model type is not one the ONNX export
        handles (the message names it); its tokenizer has no ``tokenizer.json`` form; the export
        fails or onnxruntime does not reproduce the torch features (:func:`check_graph`).
    """
    from stc_gpu.stc.classifier import STCClassifier

    _require_onnx()
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"{out} exists and is not empty: choose a new folder for the export")
    if not isinstance(classifier, STCClassifier):
        folder = Path(classifier)
        classifier = STCClassifier.load(folder, device="cpu")
        if results is None:
            results = _results_beside(folder, classifier.selection_)
    extractor = classifier.extractor()
    if extractor.device.type != "cpu":
        raise ValueError("the export runs on the CPU: load the classifier with device='cpu'")
    model_type = extractor.model.config.model_type
    family = extractor.adapter.family
    if model_type not in EXPORTABLE_MODEL_TYPES:
        raise ValueError(f"ONNX export does not handle model type {model_type!r} (family "
                         f"{family}); exportable: {', '.join(EXPORTABLE_MODEL_TYPES)}")
    if getattr(extractor.tokenizer, "backend_tokenizer", None) is None:
        raise ValueError(f"the tokenizer of {classifier.model_!r} ({type(extractor.tokenizer).__name__}) "
                         "has no tokenizer.json form, which the export's runtime needs")
    graph = ClassifierGraph(extractor, classifier.blocks_, classifier.pool_,
                            classifier.head_).float()
    partial = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        check = _export_graph(graph, extractor, partial / runtime.MODEL, model_type, family)
        extractor.tokenizer.save_pretrained(partial / Path(runtime.TOKENIZER).parent)
        serving = {**_serving(classifier, extractor, model_type), "check": check}
        (partial / runtime.SERVING).write_text(json.dumps(serving, indent=2))
        (partial / runtime.CARD).write_text(
            model_card(serving, classifier.config_.to_dict(), results))
        _write_manifest(partial)
        if out.exists():
            out.rmdir()
        partial.rename(out)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return out


def _require_onnx() -> None:
    import importlib.util

    missing = [name for name in ("onnx", "onnxruntime") if importlib.util.find_spec(name) is None]
    if missing:
        raise ImportError(f"the export needs {' and '.join(missing)}: "
                          "pip install 'stc-gpu[export]'")


def _results_beside(folder: Path, selection: dict) -> dict | None:
    """The run's ``results.json`` next to a classifier folder, if it selected this classifier."""
    path = folder.parent / "results.json"
    if not path.is_file():
        return None
    results = json.loads(path.read_text())
    agg = results.get("selection", {}).get("agg", {})
    same = all(agg.get(key) == value for key, value in selection.items())
    return results if same else None


def _token_batch(extractor, texts, padding_side: str):
    tokenized = tokenize(extractor.tokenizer, texts, extractor.max_length)
    batch = pad_batch(tokenized.ids, np.arange(len(texts)), extractor.pad_id, padding_side)
    return batch.input_ids, batch.attention_mask


def _export_graph(graph: ClassifierGraph, extractor, path: Path, model_type: str,
                  family: str) -> dict:
    """Trace ``graph`` to ONNX at ``path`` (dynamic batch and tokens); :func:`check_graph`'s
    result."""
    import onnxruntime

    example = _token_batch(extractor, _SAMPLE_TEXTS[:3], "right")
    axes = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
            **{name: {0: "batch"} for name in OUTPUT_NAMES}}
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # tracer and deprecation notices: the check below is what guards the traced graph
            warnings.simplefilter("ignore")
            torch.onnx.export(graph.eval(), example, str(path), input_names=list(INPUT_NAMES),
                              output_names=list(OUTPUT_NAMES), dynamic_axes=axes,
                              opset_version=OPSET, dynamo=False)
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as err:  # the exporter raises many types; the family is what the user needs
        raise ValueError(f"ONNX export failed for model type {model_type!r} (family {family}): "
                         f"{type(err).__name__}: {err}") from err
    return check_graph(graph, session, extractor, f"model type {model_type!r} (family {family})")


def check_graph(graph: ClassifierGraph, session, extractor, what: str) -> dict:
    """onnxruntime against torch on the sample texts, padded right and left.

    Returns ``{"texts", "max_feature_difference", "max_probability_difference"}``; the feature
    difference is relative, ``|f_onnx - f_torch| / (1 + |f_torch|)``. The probabilities are
    reported, not checked: a head whose scaler divides by tiny spreads turns float32 rounding
    into visible differences in both runtimes alike.

    Raises
    ------
    ValueError
        Outputs of another shape, or a feature difference above :data:`FEATURE_TOLERANCE`
        (``what`` names the model in the message).
    """
    worst = {"max_feature_difference": 0.0, "max_probability_difference": 0.0}
    for side in ("right", "left"):
        input_ids, mask = _token_batch(extractor, _SAMPLE_TEXTS, side)
        with torch.no_grad():
            expected = [t.numpy() for t in graph(input_ids, mask)]
        got = session.run(list(OUTPUT_NAMES), {"input_ids": input_ids.numpy(),
                                               "attention_mask": mask.numpy()})
        if [g.shape for g in got] != [e.shape for e in expected]:
            raise ValueError(f"the ONNX graph of {what} gives outputs of shapes "
                             f"{[g.shape for g in got]}, torch {[e.shape for e in expected]}")
        (p, f), (p_ref, f_ref) = got, expected
        worst["max_feature_difference"] = max(worst["max_feature_difference"], float(
            (np.abs(f - f_ref) / (1 + np.abs(f_ref))).max()))
        worst["max_probability_difference"] = max(worst["max_probability_difference"],
                                                   float(np.abs(p - p_ref).max()))
    if not worst["max_feature_difference"] <= FEATURE_TOLERANCE:
        raise ValueError(f"the ONNX graph of {what} does not reproduce the torch features "
                         f"(largest relative difference {worst['max_feature_difference']:.2e} > "
                         f"{FEATURE_TOLERANCE:g})")
    return {"texts": 2 * len(_SAMPLE_TEXTS), **worst}


def _serving(classifier, extractor, model_type: str) -> dict:
    identity = classifier.model_identity_
    head = classifier.head_
    return {
        "format": runtime.FORMAT, "stc_gpu_version": __version__,
        "classes": classifier.classes_.tolist(),
        "model": {"name": classifier.model_, "revision": classifier.revision_,
                  "weights_sha256": identity.get("weights_sha256"),
                  "tokenizer_sha256": identity.get("tokenizer_sha256")},
        "model_type": model_type, "family": extractor.adapter.family,
        "decoder": extractor.adapter.decoder,
        "n_layers": extractor.n_layers, "n_blocks": blocks_needed(extractor.layers),
        "max_length": extractor.max_length, "truncation_side": extractor.tokenizer.truncation_side,
        "padding_side": extractor.padding_side, "pad_id": int(extractor.pad_id),
        "pool": classifier.pool_, "feature_dtype": "float32",
        "head": "binary" if head.coef_.shape[0] == 1 else head.multiclass,
        "n_features": classifier.n_features,
        "blocks": [{"kind": b.kind, "layer": b.layer, "ids": [int(i) for i in b.ids]}
                   for b in classifier.blocks_],
        "selection": classifier.selection_,
        "inputs": list(INPUT_NAMES), "outputs": list(OUTPUT_NAMES), "opset": OPSET,
    }


def _write_manifest(folder: Path) -> None:
    """``manifest.json``: format, creation time and sha256 + size of every other file (last)."""
    files = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = path.relative_to(folder).as_posix()
        files[name] = {"sha256": runtime.file_sha256(path), "bytes": path.stat().st_size}
    manifest = {"format": runtime.FORMAT, "stc_gpu_version": __version__,
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "files": files}
    (folder / runtime.MANIFEST).write_text(json.dumps(manifest, indent=2))
