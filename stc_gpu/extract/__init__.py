"""Feature extraction: batched forward passes with hooks that pool every captured layer."""
from stc_gpu.extract.extractor import KINDS, BlockFeatures, Extractor, TokenFeatures
from stc_gpu.extract.pooling import POOLS

__all__ = ["KINDS", "POOLS", "BlockFeatures", "Extractor", "TokenFeatures"]
