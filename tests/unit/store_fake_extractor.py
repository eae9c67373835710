"""A deterministic stand-in for ``stc_gpu.extract.extractor.Extractor`` (same interface).

Features of a text depend only on the text (seeded by its sha256), never on the batch, like the
real extractor's; ``delay`` seconds of sleep per ``extract`` call let tests kill a run mid-way.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BlockFeatures:
    features: dict
    n_tokens: int
    n_slots: int
    n_truncated: int


class FakeExtractor:
    def __init__(self, name="fake-model", *, kinds=("hidden", "ffn"), pools=("mean", "max", "single"),
                 layers=None, units=None, out_dtype="float16", max_length=6, delay=0.0):
        self.name = name
        self.kinds = tuple(kinds)
        self.pools = tuple(pools)
        self.layers = layers or {"hidden": [0, 1, 2, 3], "ffn": [0, 1, 2]}
        self.units = units or {"hidden": 8, "ffn": 12}
        self.out_dtype = out_dtype
        self.max_length = max_length
        self.delay = delay
        self.calls = 0

    def describe(self) -> dict:
        return {"name": self.name, "revision": None, "max_length": self.max_length,
                "dtype": self.out_dtype, "kinds": list(self.kinds), "pools": list(self.pools),
                "layers": self.layers}

    def _one(self, text: str) -> dict:
        seed = int.from_bytes(hashlib.sha256((self.name + text).encode()).digest()[:8], "little")
        rng = np.random.default_rng(seed)
        return {(k, p): rng.standard_normal((len(self.layers[k]), self.units[k]))
                for k in self.kinds for p in self.pools}

    def extract(self, texts, *, progress=None) -> BlockFeatures:
        self.calls += 1
        time.sleep(self.delay)
        if progress is not None:
            progress.update(len(texts))
        per_text = [self._one(t) for t in texts]
        features = {key: np.stack([f[key] for f in per_text], axis=1).astype(self.out_dtype)
                    for key in per_text[0]}
        lengths = [len(t.split()) + 2 for t in texts]
        return BlockFeatures(features, n_tokens=sum(min(n, self.max_length) for n in lengths),
                             n_slots=len(texts) * min(max(lengths), self.max_length),
                             n_truncated=sum(n > self.max_length for n in lengths))
