"""Early exit in memory (paper §5.2.2): keep only the blocks that a classifier's sites need.

A classifier reading layers 0..L_temp never runs the later blocks (the extractor stops its forward
pass after the last captured site); :func:`truncate` also drops them, with the pooler and the final
norm, so that their weights are never moved to the device (nor kept in host memory once the caller
lets go of the full model). The model's ``config`` is left as it was: it still describes the full
model (its limits and its identity).
"""
from __future__ import annotations

import torch

from stc_gpu.models.adapters import ModelAdapter, adapter_for

#: family -> (path of the blocks' ModuleList, final norm or None, pooler or None) in the base model.
_PARTS = {
    "gpt2": ("h", "ln_f", None),
    "bert": ("encoder.layer", None, "pooler"),
    "roberta": ("encoder.layer", None, "pooler"),
    "distilbert": ("transformer.layer", None, None),
    "llama": ("layers", "norm", None),
}


def blocks_to_run(kind: str, layer: int) -> int:
    """Blocks the forward pass runs to reach site ``kind.layer``.

    ``hidden.l`` is the output of block l-1 (l blocks; ``hidden.0`` is the embedding output);
    ``ffn.l`` is inside block l (l + 1 blocks).
    """
    return layer + 1 if kind == "ffn" else layer


def blocks_needed(layers: dict) -> int:
    """Blocks to keep for the sites ``layers`` (kind -> layer indices): at least one, since the
    capture hook of ``hidden.0`` sits on block 0."""
    return max([1] + [blocks_to_run(kind, layer) for kind, idx in layers.items() for layer in idx])


def truncate(model: torch.nn.Module, n_blocks: int) -> ModelAdapter:
    """Keep blocks ``0..n_blocks-1`` of ``model``'s base model, in place; return its adapter.

    Also dropped: the pooler (BERT, RoBERTa), a task head (the adapter's ``base`` is the base
    model) and, when blocks are dropped, the final norm (GPT-2 ``ln_f``, Llama ``norm``), which
    would only normalise an intermediate layer. The capture sites of the kept blocks, and hence the
    features, are unchanged.

    Raises
    ------
    ValueError
        ``n_blocks`` is not in ``1..L``.
    """
    adapter = adapter_for(model)
    if not 1 <= n_blocks <= adapter.n_layers:
        raise ValueError(f"n_blocks must be in 1..{adapter.n_layers}, got {n_blocks}")
    base = adapter.base
    blocks_path, final_norm, pooler = _PARTS[adapter.family]
    parent_path, _, name = blocks_path.rpartition(".")
    parent = base.get_submodule(parent_path)
    setattr(parent, name, torch.nn.ModuleList(list(adapter.blocks)[:n_blocks]))
    if hasattr(parent, "n_layers"):  # DistilBERT's Transformer keeps its own count
        parent.n_layers = n_blocks
    if final_norm is not None and n_blocks < adapter.n_layers:
        setattr(base, final_norm, torch.nn.Identity())
    if pooler is not None:
        setattr(base, pooler, None)
    return adapter_for(base)


def weight_bytes(module: torch.nn.Module) -> int:
    """Bytes of ``module``'s parameters and buffers (shared tensors counted once)."""
    seen, total = set(), 0
    for tensor in list(module.parameters()) + list(module.buffers()):
        if tensor.data_ptr() not in seen:
            seen.add(tensor.data_ptr())
            total += tensor.numel() * tensor.element_size()
    return total
