"""Where the capture sites live in each supported architecture family.

An adapter maps the canonical sites ``hidden.{l}`` (l = 0..L, the residual stream entering block l,
``hidden.L`` being the output of the last block) and ``ffn.{l}`` (l = 0..L-1, the input of block l's
FFN down-projection, A = kD wide) onto a model's modules, and says which token is the "single" one.

Final norm: GPT-2 (``ln_f``) and Llama-style models (``norm``) apply a final normalisation after the
last block, and Hugging Face's last ``hidden_states`` entry is taken *after* it. The adapters capture
``hidden.L`` *before* that norm (the raw output of the last block), so that every hidden site is the
same kind of quantity: the residual stream between blocks. Encoders (BERT, RoBERTa, DistilBERT) have
no final norm outside their blocks, so there all L+1 sites equal ``output_hidden_states``.
``final_norm`` names the final norm, so that the model's own output (Hugging Face's
``last_hidden_state``: the final norm applied to ``hidden.L``) can be captured as well.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

#: Supported ``config.model_type`` values -> adapter family.
SUPPORTED_MODEL_TYPES = {
    "gpt2": "gpt2",
    "distilbert": "distilbert",
    "bert": "bert",
    "roberta": "roberta",
    "xlm-roberta": "roberta",
    "llama": "llama",
    "mistral": "llama",
    "qwen2": "llama",
}

#: Families of causal decoders, whose "single" token is the last valid one (else the first).
DECODER_FAMILIES = frozenset({"gpt2", "llama"})


@dataclass(frozen=True)
class ModelAdapter:
    """Capture-site map of one base model.

    Attributes
    ----------
    family : str
        Adapter family: ``gpt2``, ``distilbert``, ``bert``, ``roberta`` or ``llama``.
    base : torch.nn.Module
        The base model (no task head) whose forward the extractor runs.
    blocks : torch.nn.ModuleList
        The L transformer blocks in order; block l's input is ``hidden.{l}``, its output
        ``hidden.{l+1}``.
    ffn_down : tuple[torch.nn.Module, ...]
        Each block's FFN down-projection; the input it receives is ``ffn.{l}`` (B, T, A).
    hidden_size : int
        D, width of the hidden sites.
    ffn_width : int
        A, width of the FFN sites.
    decoder : bool
        True for causal decoders: the single token is the last valid one; else the first ([CLS]/<s>).
    position_offset : int
        Position id of a text's first token (RoBERTa counts from ``padding_idx + 1``).
    final_norm : torch.nn.Module or None
        The norm applied after the last block (GPT-2's ``ln_f``, Llama's ``norm``); None for
        encoders, whose last block's output is already the model's output.
    """

    family: str
    base: torch.nn.Module
    blocks: torch.nn.ModuleList
    ffn_down: tuple
    hidden_size: int
    ffn_width: int
    decoder: bool
    position_offset: int = 0
    final_norm: torch.nn.Module | None = None

    @property
    def n_layers(self) -> int:
        """L, the number of blocks."""
        return len(self.blocks)

    def position_ids(self, attention_mask: torch.Tensor) -> torch.Tensor:
        """Position ids (B, T) counting valid tokens only, so that left padding is harmless."""
        positions = (attention_mask.long().cumsum(-1) - 1).clamp_(min=0)
        return positions + self.position_offset


def _gpt2(base) -> ModelAdapter:
    blocks = base.h
    return ModelAdapter("gpt2", base, blocks, tuple(b.mlp.c_proj for b in blocks),
                        base.config.n_embd, blocks[0].mlp.c_fc.nf, decoder=True,
                        final_norm=base.ln_f)


def _bert(base, family: str = "bert") -> ModelAdapter:
    blocks = base.encoder.layer
    offset = 0
    if family == "roberta":
        offset = base.embeddings.position_embeddings.padding_idx + 1
    return ModelAdapter(family, base, blocks, tuple(b.output.dense for b in blocks),
                        base.config.hidden_size, blocks[0].intermediate.dense.out_features,
                        decoder=False, position_offset=offset)


def _distilbert(base) -> ModelAdapter:
    blocks = base.transformer.layer
    return ModelAdapter("distilbert", base, blocks, tuple(b.ffn.lin2 for b in blocks),
                        base.config.dim, blocks[0].ffn.lin1.out_features, decoder=False)


def _llama(base) -> ModelAdapter:
    blocks = base.layers
    return ModelAdapter("llama", base, blocks, tuple(b.mlp.down_proj for b in blocks),
                        base.config.hidden_size, blocks[0].mlp.down_proj.in_features, decoder=True,
                        final_norm=base.norm)


_BUILDERS = {
    "gpt2": _gpt2,
    "bert": _bert,
    "roberta": lambda base: _bert(base, "roberta"),
    "distilbert": _distilbert,
    "llama": _llama,
}


def unchunk_feed_forward(model: torch.nn.Module) -> int:
    """Turn off chunked FFNs (``chunk_size_feed_forward > 0``, BERT / RoBERTa / DistilBERT) in place.

    A chunked FFN runs its down-projection once per slice of the sequence, so a hook on it would
    see one slice at a time; unchunked, it sees the whole sequence. Each token's result is the same
    either way (chunking only bounds activation memory). Returns how many modules were changed.
    """
    changed = 0
    for module in model.modules():
        if getattr(module, "chunk_size_feed_forward", 0):
            module.chunk_size_feed_forward = 0
            changed += 1
    return changed


def adapter_for(model: torch.nn.Module) -> ModelAdapter:
    """The :class:`ModelAdapter` of a Hugging Face model (a base model or one with a task head).

    Raises
    ------
    ValueError
        The model's architecture is not supported (the message lists the supported ones).
    """
    config = getattr(model, "config", None)
    model_type = getattr(config, "model_type", None)
    if model_type not in SUPPORTED_MODEL_TYPES:
        supported = ", ".join(sorted(SUPPORTED_MODEL_TYPES))
        raise ValueError(f"unsupported architecture {model_type!r} "
                         f"({type(model).__name__}); supported model types: {supported}")
    base = getattr(model, "base_model", model)
    return _BUILDERS[SUPPORTED_MODEL_TYPES[model_type]](base)
