"""What identifies an extraction in the store's model fingerprint: the feature format, and digests of
the weights and of the tokenizer (see :meth:`stc_gpu.extract.extractor.Extractor.describe`)."""
from __future__ import annotations

import hashlib
import json

import torch

#: Version of what the stored features are (capture sites, pooling, dtypes), part of
#: :meth:`Extractor.describe` and so of the store's model fingerprint. Bump it only when the
#: features an unchanged model and text give change; a release that does not keeps every entry.
FEATURE_FORMAT = 1


def weights_sha256(module: torch.nn.Module) -> str:
    """SHA-256 of ``module``'s state dict: every tensor's name, dtype, shape and bytes, by name."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        tensor = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def tokenizer_sha256(tokenizer) -> str:
    """SHA-256 of a tokenizer's spec (vocabulary, rules, special tokens), padding and truncation
    settings left out."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        spec = json.loads(backend.to_str())
        spec.pop("truncation", None)
        spec.pop("padding", None)
    else:
        spec = {"vocab": sorted(tokenizer.get_vocab().items())}
    spec["class"] = type(tokenizer).__name__
    spec["special_tokens"] = {k: str(v) for k, v in sorted(tokenizer.special_tokens_map.items())}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()
