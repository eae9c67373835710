"""The whole classifier as one torch module, from token ids to class probabilities (for ONNX).

``ClassifierGraph`` runs the (truncated) base model with the extractor's capture hooks, keeps the
selected neurons of each site, pools them over the valid tokens with the extractor's reference
pooling (:func:`stc_gpu.extract.pooling.masked_pool`: masked mean, masked max, single token =
first valid token for encoders, last valid one for decoders), standardises them and applies the L1
logistic head, all in float32. Position ids are computed from the mask, so left and right padding
give the same result.

The features stay in float32: ``STCClassifier.predict`` rounds them to the store's float16 first
(its extractor's ``out_dtype``), which moves a probability by up to ~5e-4 (all-MiniLM-L6-v2 demo),
and a rounding in the graph would not remove that: a value within float32 noise of a float16 step
rounds to either side.
"""
from __future__ import annotations

import numpy as np
import torch

from stc_gpu.extract.hooks import capture_sites
from stc_gpu.extract.pooling import masked_pool, single_token_index

INPUT_NAMES = ("input_ids", "attention_mask")
OUTPUT_NAMES = ("probabilities", "features")


class ClassifierGraph(torch.nn.Module):
    """``(input_ids (B, T) int64, attention_mask (B, T) int64) -> (probabilities (B, K),
    features (B, n_features))``, float32; ``features`` is the head's input (before the scaler).

    Parameters
    ----------
    extractor : the classifier's :class:`~stc_gpu.extract.Extractor` (its adapter and sites; the
        model is used as it is, on the CPU in float32 for export)
    blocks : the classifier's ``FeatureBlock`` s, in the head's column order
    pool : ``"mean"``, ``"max"`` or ``"single"``
    head : the fitted ``L1LogisticRegression`` (binary, one-vs-rest or multinomial)
    """

    def __init__(self, extractor, blocks, pool: str, head):
        super().__init__()
        self.adapter = extractor.adapter
        self.base = extractor.adapter.base
        self.sites = {kind: list(layers) for kind, layers in extractor.layers.items()}
        self.pool = pool
        self.block_sites = [(b.kind, b.layer) for b in blocks if len(b.ids)]
        for i, b in enumerate(b for b in blocks if len(b.ids)):
            self.register_buffer(f"ids_{i}", torch.as_tensor(list(b.ids), dtype=torch.long))
        d = head.coef_.shape[1]
        mean = np.zeros(d) if head.mean_ is None else head.mean_
        scale = np.ones(d) if head.scale_ is None else head.scale_
        for name, value in (("mean", mean), ("scale", scale), ("coef", head.coef_),
                            ("intercept", head.intercept_)):
            self.register_buffer(name, torch.as_tensor(np.asarray(value), dtype=torch.float32))
        self.multiclass = getattr(head, "multiclass", "ovr")

    def features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(B, n_features) float32: the head's input."""
        captured = {}
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask,
                  "position_ids": self.adapter.position_ids(attention_mask)}
        if self.adapter.decoder:
            inputs["use_cache"] = False

        def sink(kind, layer, x):
            captured[kind, layer] = x

        with capture_sites(self.adapter, self.sites, sink, stop=False):
            self.base(**inputs)
        index = (single_token_index(attention_mask, self.adapter.decoder)
                 if self.pool == "single" else None)
        pooled = [masked_pool(captured[site][..., getattr(self, f"ids_{i}")], attention_mask,
                              index, (self.pool,))[self.pool]
                  for i, site in enumerate(self.block_sites)]
        return torch.cat(pooled, dim=1)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        features = self.features(input_ids, attention_mask)
        margins = ((features - self.mean) / self.scale) @ self.coef.T + self.intercept
        if margins.shape[1] == 1:  # binary: one weight row, the positive class second
            p = torch.sigmoid(margins)
            return torch.cat([1 - p, p], dim=1), features
        if self.multiclass == "ovr":
            p = torch.sigmoid(margins)
            return p / p.sum(dim=1, keepdim=True), features
        return torch.softmax(margins, dim=1), features
