"""Model dimensions for the cost model: from a transformers config, a loaded model, or one of the
paper's six models (built offline on the ``meta`` device)."""
from __future__ import annotations

from dataclasses import dataclass

#: How a config names its FFN inner width (A = kD), in the order tried; ``None`` values mean 4D.
_FFN_WIDTH_ATTRS = ("intermediate_size", "n_inner", "hidden_dim", "ffn_dim", "d_ff")
#: Model types whose position table holds ``pad_token_id + 1`` extra rows (RoBERTa's offset).
_PADDING_OFFSET_POSITIONS = {"roberta", "xlm-roberta", "camembert", "roberta-prelayernorm",
                             "data2vec-text", "xlm-roberta-xl"}


@dataclass(frozen=True)
class ModelDims:
    """What the cost model needs to know about a transformer.

    Attributes
    ----------
    name : str
    n_layers : int
        ``L``, transformer blocks.
    d_model : int
        ``D``, width of the hidden states (residual stream).
    ffn_ratio : float
        ``k``, width of the FFN activations over ``D`` (4 for BERT and GPT-2).
    max_tokens : int
        ``max(N)``, the longest sequence the model reads.
    n_params : int
        Parameter count used where the paper uses ``N_param`` (its headline figure for the paper's
        models; the exact count, embeddings included, for a config or a model).
    n_params_non_embedding : int
        Parameters outside embedding tables (what Kaplan et al. count for FLOPs).
    """

    name: str
    n_layers: int
    d_model: int
    ffn_ratio: float
    max_tokens: int
    n_params: int
    n_params_non_embedding: int


def _ffn_width(config) -> int:
    for attr in _FFN_WIDTH_ATTRS:
        if hasattr(config, attr):
            width = getattr(config, attr)
            return 4 * config.hidden_size if width is None else int(width)
    raise ValueError(f"cannot find the FFN width of a {type(config).__name__} "
                     f"(looked for {', '.join(_FFN_WIDTH_ATTRS)})")


def _max_tokens(config) -> int:
    n_positions = getattr(config, "max_position_embeddings", None)
    if n_positions is None:
        raise ValueError(f"{type(config).__name__} states no max_position_embeddings")
    if getattr(config, "model_type", "") in _PADDING_OFFSET_POSITIONS:
        n_positions -= (config.pad_token_id or 0) + 1
    return int(n_positions)


def _count_params(model) -> tuple[int, int]:
    """``(total, non_embedding)`` parameters of a ``torch.nn.Module`` (shared weights once)."""
    import torch

    total = sum(p.numel() for p in model.parameters())
    embedding_weights = {id(m.weight): m.weight.numel() for m in model.modules()
                         if isinstance(m, torch.nn.Embedding)}
    return total, total - sum(embedding_weights.values())


def dims_from_config(config, *, name: str | None = None, n_params: int | None = None) -> ModelDims:
    """:class:`ModelDims` of a transformers config, parameters counted exactly.

    The model is built on PyTorch's ``meta`` device (no memory, no weights downloaded).

    Parameters
    ----------
    config : transformers.PretrainedConfig
        Any architecture ``AutoModel.from_config`` builds (GPT-2, BERT, DistilBERT, RoBERTa, Llama...).
    name : str, optional
        Defaults to ``config.name_or_path`` or the model type.
    n_params : int, optional
        Overrides the counted total (e.g. a published headline figure).
    """
    import torch
    from transformers import AutoModel

    with torch.device("meta"):
        model = AutoModel.from_config(config)
    return _dims(config, model, name=name, n_params=n_params)


def dims_from_model(model, *, name: str | None = None) -> ModelDims:
    """:class:`ModelDims` of a loaded transformers model (its ``config`` and its own parameters)."""
    if not hasattr(model, "config"):
        raise ValueError(f"{type(model).__name__} has no transformers config")
    return _dims(model.config, model, name=name, n_params=None)


def _dims(config, model, *, name: str | None, n_params: int | None) -> ModelDims:
    total, non_embedding = _count_params(model)
    d_model = int(config.hidden_size)
    return ModelDims(
        name=name or getattr(config, "name_or_path", "") or config.model_type,
        n_layers=int(config.num_hidden_layers), d_model=d_model,
        ffn_ratio=_ffn_width(config) / d_model, max_tokens=_max_tokens(config),
        n_params=total if n_params is None else int(n_params),
        n_params_non_embedding=non_embedding)


def as_model_dims(model_or_config) -> ModelDims:
    """:class:`ModelDims` from dims, a paper model name, a transformers config, or a loaded model."""
    from transformers import PretrainedConfig

    if isinstance(model_or_config, ModelDims):
        return model_or_config
    if isinstance(model_or_config, str):
        return paper_model_dims(model_or_config)
    if isinstance(model_or_config, PretrainedConfig):
        return dims_from_config(model_or_config)
    if hasattr(model_or_config, "config") and hasattr(model_or_config, "parameters"):
        return dims_from_model(model_or_config)
    raise ValueError(f"cannot read model dimensions from a {type(model_or_config).__name__}; "
                     "pass a ModelDims, a paper model name, a transformers config or model")


#: The paper's headline parameter counts (Table 5, "Fine-tuning" column).
PAPER_PARAM_COUNTS = {"DistilBERT": 66_000_000, "RoBERTa": 125_000_000, "GPT2": 117_000_000,
                      "GPT2-M": 345_000_000, "GPT2-L": 774_000_000, "GPT2-XL": 1_560_000_000}
PAPER_MODELS = tuple(PAPER_PARAM_COUNTS)


def paper_model_config(name: str):
    """The transformers config of one of the paper's six models (footnotes 3-8), built offline."""
    from transformers import DistilBertConfig, GPT2Config, RobertaConfig

    gpt2 = {"GPT2": (12, 768, 12), "GPT2-M": (24, 1024, 16), "GPT2-L": (36, 1280, 20),
            "GPT2-XL": (48, 1600, 25)}
    if name == "DistilBERT":
        return DistilBertConfig()  # distilbert-base-uncased: L=6, D=768, 4D FFN, 512 positions
    if name == "RoBERTa":  # roberta-base
        return RobertaConfig(vocab_size=50265, max_position_embeddings=514, type_vocab_size=1,
                             pad_token_id=1, bos_token_id=0, eos_token_id=2)
    if name in gpt2:
        n_layer, n_embd, n_head = gpt2[name]
        return GPT2Config(n_layer=n_layer, n_embd=n_embd, n_head=n_head, n_positions=1024)
    raise ValueError(f"unknown paper model {name!r}; expected one of {PAPER_MODELS}")


def paper_model_dims(name: str) -> ModelDims:
    """:class:`ModelDims` of a paper model, ``n_params`` being the paper's headline figure."""
    return dims_from_config(paper_model_config(name), name=name,
                            n_params=PAPER_PARAM_COUNTS.get(name))
