"""The batched extractor: pooled hidden states and FFN activations of every captured layer.

Hooks pool each site's token-level tensor as soon as the model produces it, so the token-level
tensors of different layers never coexist; the forward pass stops right after the last captured
site, so blocks past the last layer needed never run. On CUDA the pooled rows of a batch are copied
to pinned host memory on a side stream while the next batch is computed.

Its parts: :mod:`~stc_gpu.extract.sites` (which sites), :mod:`~stc_gpu.extract.hooks` (capturing
them), :mod:`~stc_gpu.extract.host` (pooled rows to the block's arrays) and
:mod:`~stc_gpu.extract.identity` (what :meth:`Extractor.describe` hashes).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial
from typing import Callable, Sequence

import numpy as np
import torch

from stc_gpu.extract.batching import (DEFAULT_MAX_PAD_FRACTION, Batch, default_max_length,
                                      pad_batch, plan_batches, tokenize)
from stc_gpu.extract.hooks import StopForward, capture_sites
from stc_gpu.extract.host import HostCopier, PoolingSink
from stc_gpu.extract.identity import FEATURE_FORMAT, tokenizer_sha256
from stc_gpu.extract.identity import weights_sha256 as _weights_sha256
from stc_gpu.extract.kernels import fused_masked_pool, fused_pool_available
from stc_gpu.extract.memory import bounded_heap
from stc_gpu.extract.pooling import length_spans, single_token_index, span_pool
from stc_gpu.extract.sites import resolve_layers
from stc_gpu.models.adapters import adapter_for, unchunk_feed_forward
from stc_gpu.models.truncate import blocks_needed, truncate as truncate_model
from stc_gpu.vocabulary import DEFAULT_TOKEN_BUDGET, FINAL, KINDS, POOLS

_OUT_DTYPES = {"float16": torch.float16, "float32": torch.float32}
_COMPUTE_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}


@dataclass(frozen=True)
class BlockFeatures:
    """Pooled features of a block of texts.

    Attributes
    ----------
    features : dict (kind, pool) -> (n_layers_of_kind, n_texts, units) array of the out dtype,
        rows in input order, layers in the order of ``Extractor.layers[kind]``
    n_tokens : valid (non-pad) tokens processed
    n_slots : token slots computed, padding included (padding ratio = n_slots / n_tokens)
    n_truncated : texts cut at max_length
    """

    features: dict
    n_tokens: int
    n_slots: int
    n_truncated: int

    @property
    def padding_ratio(self) -> float:
        """Token slots computed per valid token (1.0 = no padding)."""
        return self.n_slots / max(self.n_tokens, 1)


@dataclass(frozen=True)
class TokenFeatures:
    """Token-level features of one text.

    Attributes
    ----------
    tokens : list of str, the text's tokens (special tokens included)
    features : dict (kind, layer) -> (n_tokens, units) float32 array, for the captured layers
    """

    tokens: list
    features: dict


def _resolve_dtype(dtype, device: torch.device) -> torch.dtype:
    if dtype is None:
        return torch.float16 if device.type == "cuda" else torch.float32
    if isinstance(dtype, str):
        if dtype not in _COMPUTE_DTYPES:
            raise ValueError(f"dtype must be one of {sorted(_COMPUTE_DTYPES)}, got {dtype!r}")
        dtype = _COMPUTE_DTYPES[dtype]
    if dtype not in _COMPUTE_DTYPES.values():
        raise ValueError(f"unsupported compute dtype {dtype}")
    if device.type == "cpu" and dtype == torch.float16:
        raise ValueError("float16 compute is not supported on CPU; use float32 or bfloat16")
    return dtype



def _progress_bar(progress, total: int):
    """``(bar, owned)``: a new tqdm bar for ``True``, the given object, or ``None``."""
    if progress is None or progress is False:
        return None, False
    if progress is True:
        from tqdm.auto import tqdm
        return tqdm(total=total, unit="text", desc="extract", dynamic_ncols=True), True
    return progress, False


class Extractor:
    """Pooled hidden states and FFN activations of a frozen Hugging Face model.

    Parameters
    ----------
    model, tokenizer : a supported Hugging Face model (see :mod:`stc_gpu.models.adapters`) and its
        tokenizer. The model is frozen, put in eval mode and moved to ``device``/``dtype`` once.
    kinds : subset of ``("hidden", "ffn", "final")`` (``final``: see :data:`FINAL`)
    pools : subset of ``("mean", "max", "single")``
    layers : None (all), a list of layer indices for every kind, or dict kind -> list
    max_layer : capture layers 0..max_layer (ffn up to L-1); exclusive with ``layers``
    max_length : tokens per text (default: the model's own limit, see
        :func:`~stc_gpu.extract.batching.default_max_length`); longer texts are cut
    device : default "cuda" when available, else "cpu"
    dtype : compute dtype; default float16 on CUDA, float32 on CPU (bfloat16 allowed)
    out_dtype : "float16" or "float32", dtype of the pooled features
    token_budget : max rows * padded length of a batch (default: 8,192, or max_length if larger)
    max_pad_fraction : largest fraction of a batch row that may be padding (length bucketing)
    padding_side : "left" or "right" (default: the tokenizer's); results do not depend on it
    pool_backend : "auto" (fused Triton kernel on CUDA when available), "torch" or "triton"
    model_name, revision : identity recorded by :meth:`describe`
    truncate : drop the blocks past the last captured site, and the pooler, before the move to
        ``device`` (:func:`stc_gpu.models.truncate.truncate`; the model is changed in place)

    Notes
    -----
    ``hidden.L`` is the output of the last block *before* any final norm (GPT-2's ``ln_f``,
    Llama's ``norm``); ``final.L`` is after it (see :data:`FINAL` and
    :mod:`stc_gpu.models.adapters`). A chunked FFN (``chunk_size_feed_forward > 0``) is switched
    to unchunked, which gives the same activations.
    """

    def __init__(self, model, tokenizer, *, kinds=KINDS, pools=POOLS, layers=None,
                 max_layer=None, max_length=None, device=None, dtype=None, out_dtype="float16",
                 token_budget=None, model_name=None, revision=None, padding_side=None,
                 pool_backend="auto", max_pad_fraction=DEFAULT_MAX_PAD_FRACTION,
                 truncate=False):
        self.kinds = tuple(kinds)
        self.pools = tuple(pools)
        known = KINDS + (FINAL,)
        if not self.kinds or set(self.kinds) - set(known) or len(set(self.kinds)) != len(self.kinds):
            raise ValueError(f"kinds must be distinct values of {known}, got {kinds}")
        if not self.pools or set(self.pools) - set(POOLS) or len(set(self.pools)) != len(self.pools):
            raise ValueError(f"pools must be distinct values of {POOLS}, got {pools}")
        if str(out_dtype) not in _OUT_DTYPES:
            raise ValueError(f"out_dtype must be one of {sorted(_OUT_DTYPES)}, got {out_dtype!r}")
        self.out_dtype = np.dtype(str(out_dtype))
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.dtype = _resolve_dtype(dtype, self.device)

        self.adapter = adapter_for(model)
        unchunk_feed_forward(model)  # the FFN hooks must see whole sequences
        self._weights_digest = _weights_sha256(self.adapter.base)  # as given, before any cast
        self.n_layers = self.adapter.n_layers
        self.layers = resolve_layers(layers, max_layer, self.kinds, self.n_layers)
        if truncate:
            if FINAL in self.kinds:
                raise ValueError(f"the {FINAL!r} site needs the whole model: it cannot be "
                                 "captured with truncate=True")
            self.adapter = truncate_model(model, blocks_needed(self.layers))
        self.model = (self.adapter.base if truncate else model).eval().requires_grad_(False).to(
            device=self.device, dtype=self.dtype)
        self.tokenizer = tokenizer
        self.units = {k: self.adapter.ffn_width if k == "ffn" else self.adapter.hidden_size
                      for k in self.kinds}

        self.max_length = int(max_length or default_max_length(tokenizer, model.config))
        if self.max_length < 1:
            raise ValueError(f"max_length must be >= 1, got {max_length}")
        self.token_budget = int(token_budget or max(DEFAULT_TOKEN_BUDGET, self.max_length))
        if self.token_budget < self.max_length:
            raise ValueError(f"token_budget ({self.token_budget}) must be at least max_length "
                             f"({self.max_length})")
        self.max_pad_fraction = float(max_pad_fraction)
        self.padding_side = padding_side or getattr(tokenizer, "padding_side", "right")
        if self.padding_side not in ("left", "right"):
            raise ValueError(f"padding_side must be 'left' or 'right', got {self.padding_side!r}")
        self._pad_id = tokenizer.pad_token_id
        if self._pad_id is None:
            self._pad_id = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
        if pool_backend not in ("auto", "torch", "triton"):
            raise ValueError(f"pool_backend must be 'auto', 'torch' or 'triton', "
                             f"got {pool_backend!r}")
        fused = fused_pool_available(self.device)
        if pool_backend == "triton" and not fused:
            raise ValueError("pool_backend='triton' needs CUDA and the triton package")
        self.pool_backend = "triton" if pool_backend == "triton" or (
            pool_backend == "auto" and fused) else "torch"
        self.model_name = model_name or getattr(model.config, "_name_or_path", None) or None
        self.revision = revision

    @classmethod
    def from_pretrained(cls, name_or_path: str, *, revision=None, **kwargs) -> "Extractor":
        """Load ``name_or_path`` with :func:`stc_gpu.models.loading.load_model_and_tokenizer`."""
        from stc_gpu.models.loading import load_model_and_tokenizer

        model, tokenizer = load_model_and_tokenizer(name_or_path, revision=revision)
        kwargs.setdefault("model_name", name_or_path)
        return cls(model, tokenizer, revision=revision, **kwargs)

    @property
    def pad_id(self) -> int:
        """Token id that pads a batch (the tokenizer's pad token, else its end-of-text, else 0)."""
        return self._pad_id

    def describe(self) -> dict:
        """JSON-able identity of the extraction (the store's model fingerprint).

        ``weights_sha256`` hashes the base model's state dict as it was given to the constructor
        (before the move to ``device``/``dtype``), so it does not depend on where features are
        computed; the compute dtype is recorded separately. The package version is not part of it
        (every release would re-extract everything): :data:`FEATURE_FORMAT` is.
        """
        return {
            "model_name": self.model_name,
            "revision": self.revision,
            "weights_sha256": self._weights_digest,
            "tokenizer_sha256": tokenizer_sha256(self.tokenizer),
            "family": self.adapter.family,
            "n_layers": self.n_layers,
            "max_length": self.max_length,
            "padding_side": self.padding_side,
            "dtype": str(self.dtype).removeprefix("torch."),
            "out_dtype": self.out_dtype.name,
            "kinds": list(self.kinds),
            "pools": list(self.pools),
            "layers": {k: list(v) for k, v in self.layers.items()},
            "units": dict(self.units),
            "feature_format": FEATURE_FORMAT,
        }

    def _plan(self, tokenized) -> list[np.ndarray]:
        return plan_batches(tokenized.lengths, self.token_budget, self.max_pad_fraction)

    def _to_device(self, batch: Batch) -> dict:
        """Model inputs of ``batch`` on the device."""
        pin = self.device.type == "cuda"
        inputs = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}
        if self.padding_side == "left":
            inputs["position_ids"] = self.adapter.position_ids(batch.attention_mask)
        return {k: (v.pin_memory() if pin else v).to(self.device, non_blocking=pin)
                for k, v in inputs.items()}

    def _batch_pooler(self, batch: Batch, inputs: dict, out_dtype: torch.dtype) -> Callable:
        """``pool(x)`` for the sites of ``batch``: the fused kernel, or span pooling."""
        if self.pool_backend == "triton":
            mask = inputs["attention_mask"]
            index = single_token_index(mask, self.adapter.decoder)
            return partial(fused_masked_pool, attention_mask=mask, single_index=index,
                           pools=self.pools, out_dtype=out_dtype)
        spans = length_spans(batch.lengths, batch.input_ids.shape[1], self.padding_side)
        return partial(span_pool, spans=spans, pools=self.pools, decoder=self.adapter.decoder,
                       out_dtype=out_dtype)

    def _forward(self, inputs: dict) -> None:
        """Run the base model until the last captured site."""
        if self.adapter.decoder:
            inputs = {**inputs, "use_cache": False}
        try:
            self.adapter.base(**inputs)
        except StopForward:
            pass

    def extract(self, texts: Sequence[str], *, progress=None) -> BlockFeatures:
        """Pooled features of ``texts``.

        Parameters
        ----------
        texts : sequence of str
        progress : True for a tqdm bar (texts/s, tokens/s), or an object whose ``update(n)`` is
            called with the number of texts of each finished batch

        Returns
        -------
        BlockFeatures, rows in input order

        Host memory stays bounded by the block while it runs (:func:`bounded_heap`).
        """
        with bounded_heap():
            return self._extract(texts, progress)

    def _extract(self, texts: Sequence[str], progress) -> BlockFeatures:
        tokenized = tokenize(self.tokenizer, texts, self.max_length)
        n_texts = len(tokenized.ids)
        out = {(k, p): np.empty((len(self.layers[k]), n_texts, self.units[k]), self.out_dtype)
               for k in self.kinds for p in self.pools}
        out_dtype = _OUT_DTYPES[self.out_dtype.name]
        sink = PoolingSink(self.layers, self.pools)
        copier = HostCopier(out, self.device)
        bar, owned = _progress_bar(progress, n_texts)
        n_tokens = n_slots = 0
        started = time.perf_counter()
        try:
            with torch.inference_mode(), capture_sites(self.adapter, self.layers, sink):
                for rows in self._plan(tokenized):
                    batch = pad_batch(tokenized.ids, rows, self._pad_id, self.padding_side)
                    inputs = self._to_device(batch)
                    buffers = {(k, p): torch.empty((len(self.layers[k]), len(rows), self.units[k]),
                                                   dtype=out_dtype, device=self.device)
                               for k, p in out}
                    sink.start(self._batch_pooler(batch, inputs, out_dtype), buffers)
                    self._forward(inputs)
                    copier.submit(batch.rows, buffers)
                    n_tokens += batch.n_tokens
                    n_slots += batch.n_slots
                    if bar is not None:
                        bar.update(len(rows))
                        if owned:
                            rate = n_tokens / max(time.perf_counter() - started, 1e-9)
                            bar.set_postfix_str(f"{rate:,.0f} tok/s", refresh=False)
                copier.flush()
        finally:
            if owned:
                bar.close()
        return BlockFeatures(out, n_tokens, n_slots, int(tokenized.truncated.sum()))

    def token_features(self, texts: Sequence[str]) -> list[TokenFeatures]:
        """Token-level features of ``texts`` at the captured layers (for heat maps).

        Returns
        -------
        list of TokenFeatures in input order; arrays are (n_valid_tokens, units) float32
        """
        tokenized = tokenize(self.tokenizer, texts, self.max_length)
        results: list = [None] * len(tokenized.ids)
        captured: dict = {}

        def sink(kind, layer, x):
            captured[(kind, layer)] = x.float().cpu()

        with torch.inference_mode(), capture_sites(self.adapter, self.layers, sink):
            for rows in self._plan(tokenized):
                batch = pad_batch(tokenized.ids, rows, self._pad_id, self.padding_side)
                captured.clear()
                self._forward(self._to_device(batch))
                valid = batch.attention_mask.bool()
                for i, row in enumerate(batch.rows):
                    tokens = self.tokenizer.convert_ids_to_tokens(tokenized.ids[row])
                    features = {site: x[i][valid[i]].numpy() for site, x in captured.items()}
                    results[row] = TokenFeatures(list(tokens), features)
        return results
