"""Tiny randomly initialised models and an offline tokenizer, for tests and benchmarks.

Nothing here touches a model hub: configs are built in code and the tokenizer is a word-level
vocabulary learnt from the texts it is given (plus a fixed character fallback).
"""
from __future__ import annotations

import string
from typing import Iterable

import torch
from transformers import PreTrainedTokenizerFast

FAMILIES = ("gpt2", "bert", "roberta", "distilbert", "llama")

_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def simple_tokenizer(texts: Iterable[str] = (), *, vocab_size: int = 512,
                     decoder: bool = False) -> PreTrainedTokenizerFast:
    """A word-level fast tokenizer trained on ``texts`` (no downloads).

    Encoders get ``[CLS] ... [SEP]`` around each text; decoders (``decoder=True``) get no special
    tokens and pad on the right by default, like GPT-2 once a pad token is set.
    """
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    corpus = list(texts) + [" ".join(string.ascii_lowercase + string.digits + string.punctuation)]
    trainer = trainers.WordLevelTrainer(vocab_size=vocab_size, special_tokens=_SPECIALS)
    tok.train_from_iterator(corpus, trainer=trainer)
    if not decoder:
        cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]")
    if not decoder:
        fast.cls_token, fast.sep_token, fast.mask_token = "[CLS]", "[SEP]", "[MASK]"
    fast.model_max_length = 64
    return fast


def random_config(family: str, *, n_layer: int = 3, d_model: int = 32, n_head: int = 4,
                  ffn_mult: int = 4, vocab_size: int = 512, max_positions: int = 64):
    """A transformers config for a small random model of ``family`` (one of :data:`FAMILIES`)."""
    from transformers import (BertConfig, DistilBertConfig, GPT2Config, LlamaConfig,
                              RobertaConfig)

    ffn = ffn_mult * d_model
    if family == "gpt2":
        return GPT2Config(n_layer=n_layer, n_embd=d_model, n_head=n_head, n_inner=ffn,
                          vocab_size=vocab_size, n_positions=max_positions,
                          pad_token_id=0, bos_token_id=2, eos_token_id=3)
    if family == "bert":
        return BertConfig(num_hidden_layers=n_layer, hidden_size=d_model, num_attention_heads=n_head,
                          intermediate_size=ffn, vocab_size=vocab_size,
                          max_position_embeddings=max_positions, pad_token_id=0)
    if family == "roberta":
        return RobertaConfig(num_hidden_layers=n_layer, hidden_size=d_model,
                             num_attention_heads=n_head, intermediate_size=ffn,
                             vocab_size=vocab_size, max_position_embeddings=max_positions + 2,
                             pad_token_id=0, bos_token_id=2, eos_token_id=3)
    if family == "distilbert":
        return DistilBertConfig(n_layers=n_layer, dim=d_model, n_heads=n_head, hidden_dim=ffn,
                                vocab_size=vocab_size, max_position_embeddings=max_positions,
                                pad_token_id=0)
    if family == "llama":
        return LlamaConfig(num_hidden_layers=n_layer, hidden_size=d_model, num_attention_heads=n_head,
                           num_key_value_heads=n_head, intermediate_size=ffn, vocab_size=vocab_size,
                           max_position_embeddings=max_positions, pad_token_id=0,
                           bos_token_id=2, eos_token_id=3)
    raise ValueError(f"unknown family {family!r}; expected one of {FAMILIES}")


def random_model(family: str, *, seed: int = 0, **config_kwargs) -> torch.nn.Module:
    """A randomly initialised base model (no head) of ``family``, in eval mode."""
    from transformers import AutoModel

    torch.manual_seed(seed)
    model = AutoModel.from_config(random_config(family, **config_kwargs))
    return model.eval()


def random_model_and_tokenizer(family: str, texts: Iterable[str] = (), *, seed: int = 0,
                               **config_kwargs):
    """``(model, tokenizer)``: a tiny random model and a matching offline tokenizer."""
    texts = list(texts)
    vocab_size = config_kwargs.setdefault("vocab_size", 512)
    tokenizer = simple_tokenizer(texts, vocab_size=vocab_size,
                                 decoder=family in ("gpt2", "llama"))
    return random_model(family, seed=seed, **config_kwargs), tokenizer
