"""Serve an exported STC classifier with onnxruntime, tokenizers and numpy only.

This module imports nothing from torch, transformers or the rest of stc-gpu, so a service can
install ``onnxruntime tokenizers numpy`` and this one file (or ``stc-gpu --no-deps``)::

    from stc_gpu.export.runtime import ExportedClassifier
    clf = ExportedClassifier("exported/")          # refuses a corrupt or partial folder
    clf.predict(["A moving, beautifully acted film."]), clf.predict_proba([...])

An export folder holds ``model.onnx`` (token ids + mask -> class probabilities, and the head's
input features as a second output), ``tokenizer/``, ``serving.json`` (classes, tokenisation, the
pool and neuron ids, the export's check), ``README.md`` (the model card) and ``manifest.json``
(format version and the sha256 and size of every other file), written last.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Sequence

import numpy as np

FORMAT = "stc-gpu-export/1"
MANIFEST = "manifest.json"
SERVING = "serving.json"
MODEL = "model.onnx"
TOKENIZER = "tokenizer/tokenizer.json"
CARD = "README.md"
REQUIRED = (MODEL, SERVING, TOKENIZER, CARD)
#: Padded tokens per onnxruntime call (rows * longest row).
SERVING_TOKEN_BUDGET = 2048


class ExportError(ValueError):
    """An export folder that cannot be served (missing, partial, corrupt or of another format)."""


def file_sha256(path: Path) -> str:
    """sha256 hex of a file's bytes, read in 1 MiB pieces."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for piece in iter(lambda: f.read(1 << 20), b""):
            digest.update(piece)
    return digest.hexdigest()


def check_folder(folder: str | Path) -> dict:
    """The manifest of export ``folder``, after checking every file it lists.

    Raises
    ------
    ExportError
        No manifest (a partial export: the manifest is written last), an unknown format, a
        required file not listed, or a listed file missing or differing in size or sha256.
    """
    folder = Path(folder)
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise ExportError(f"{folder} is not a complete stc-gpu export (no {MANIFEST}; "
                          "an interrupted export never writes it): export the classifier again")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ExportError(f"{manifest_path} is corrupt ({err}): export the classifier again") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise ExportError(f"{manifest_path}: unknown format {found!r} (this runtime reads {FORMAT})")
    files = manifest.get("files", {})
    unlisted = [name for name in REQUIRED if name not in files]
    if unlisted:
        raise ExportError(f"{manifest_path} does not list {', '.join(unlisted)}: "
                          "export the classifier again")
    for name, expected in files.items():
        path = folder / name
        if not path.is_file():
            raise ExportError(f"{folder} is partial: {name} is missing; export the classifier again")
        if path.stat().st_size != expected["bytes"] or file_sha256(path) != expected["sha256"]:
            raise ExportError(f"{folder} is corrupt: {name} does not match its sha256 in "
                              f"{MANIFEST}; export the classifier again")
    return manifest


class ExportedClassifier:
    """An exported STC classifier served by onnxruntime.

    Parameters
    ----------
    folder : an export folder (checked against its manifest first)
    providers : onnxruntime execution providers (default: CPU)
    threads : intra-op threads (default: onnxruntime's choice)
    token_budget : padded tokens per call; texts are sorted by length and batched under it

    Attributes
    ----------
    classes_ : (K,) label values, the columns of :meth:`predict_proba`
    serving : the export's ``serving.json`` (tokenisation, pool, sites and neuron ids, ...)
    """

    def __init__(self, folder: str | Path, *, providers: Sequence[str] | None = None,
                 threads: int | None = None, token_budget: int = SERVING_TOKEN_BUDGET):
        import onnxruntime
        from tokenizers import Tokenizer

        self.folder = Path(folder)
        self.manifest = check_folder(self.folder)
        self.serving = json.loads((self.folder / SERVING).read_text())
        self.classes_ = np.asarray(self.serving["classes"])
        self.token_budget = int(token_budget)
        if self.token_budget < 1:
            raise ValueError(f"token_budget must be >= 1, got {token_budget}")
        self.tokenizer = Tokenizer.from_file(str(self.folder / TOKENIZER))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(self.serving["max_length"],
                                         direction=self.serving["truncation_side"])
        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = int(threads)
        self.session = onnxruntime.InferenceSession(
            str(self.folder / MODEL), options, providers=list(providers or ["CPUExecutionProvider"]))

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids per text (special tokens added, cut at ``max_length``) as in training."""
        if isinstance(texts, str):
            raise TypeError("pass a list of texts, not a single string")
        texts = list(texts)
        bad = [i for i, t in enumerate(texts) if not isinstance(t, str) or not t.strip()]
        if bad:
            raise ValueError(f"texts at positions {bad[:10]} are not non-empty strings")
        ids = [encoding.ids for encoding in self.tokenizer.encode_batch(texts)]
        empty = [i for i, row in enumerate(ids) if not row]
        if empty:
            raise ValueError(f"texts at positions {empty[:10]} produce no tokens")
        return ids

    def _batches(self, ids: list[list[int]]):
        """``(rows, input_ids (B, T), attention_mask (B, T))`` int64, longest texts first."""
        lengths = np.fromiter((len(row) for row in ids), dtype=np.int64, count=len(ids))
        order = np.argsort(-lengths, kind="stable")
        left = self.serving["padding_side"] == "left"
        start = 0
        while start < len(order):
            width = int(lengths[order[start]])
            rows = order[start:start + max(1, self.token_budget // width)]
            input_ids = np.full((len(rows), width), self.serving["pad_id"], dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for i, row in enumerate(rows):
                n = len(ids[row])
                span = slice(width - n, width) if left else slice(0, n)
                input_ids[i, span] = ids[row]
                mask[i, span] = 1
            yield rows, input_ids, mask
            start += len(rows)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(n_texts, K) float32 class probabilities, columns in ``classes_`` order."""
        ids = self.token_ids(texts)
        out = np.empty((len(ids), len(self.classes_)), dtype=np.float32)
        for rows, input_ids, mask in self._batches(ids):
            out[rows] = self.session.run(["probabilities"], {"input_ids": input_ids,
                                                             "attention_mask": mask})[0]
        return out

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """(n_texts,) predicted labels."""
        return self.classes_[self.predict_proba(texts).argmax(axis=1)]
