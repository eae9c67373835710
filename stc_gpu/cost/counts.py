"""The cost model's formulas: trainable parameters and FLOPs of fine-tuning vs STC (section 5.2).

Symbols follow the paper: ``L`` layers, ``D`` hidden width, ``k`` FFN-activation width over ``D``,
``N`` tokens per sequence, ``rho_eta`` the share of features kept by the η rule, ``N_f`` pooling
methods.
"""
from __future__ import annotations

from stc_gpu.cost.dims import ModelDims


def lr_probe_params(dims: ModelDims) -> float:
    """``N_param LR = L (1 + k) D``: one weight per hidden-state and FFN feature of every layer."""
    return dims.n_layers * (1 + dims.ffn_ratio) * dims.d_model


def trainable_params(dims: ModelDims, *, rho_eta: float = 0.1, n_pools: int = 3) -> dict:
    """One row of Table 5: trainable parameters of fine-tuning vs STC.

    ``stc = N_f (1 + rho_eta (L+1)/2) N_param LR``: per pooling method, the layer-wise probes plus
    the aggregated classifiers of every ``L_temp`` (``rho_eta l (1+k) D`` weights for ``l`` layers,
    summed over ``l = 1..L``). Section 5.2 prints ``(1 + rho_eta N_f (L+1)/2) N_param LR``, which
    does not reproduce the table (see docs/cost-model.md).
    """
    stc = n_pools * (1 + rho_eta * (dims.n_layers + 1) / 2) * lr_probe_params(dims)
    return {"finetune": dims.n_params, "stc": stc, "ratio": dims.n_params / stc}


def forward_flops_per_token(n_params: float, dims: ModelDims, n_ctx: float) -> float:
    """Kaplan et al. (2020): ``2 N_param + 2 L n_ctx D`` FLOPs for one token in context ``n_ctx``."""
    return 2 * n_params + 2 * dims.n_layers * n_ctx * dims.d_model


def linear_fit_flops(n_rows: float, width: float, iterations: float, *, outputs: int = 1,
                      products_per_iteration: int = 1) -> float:
    """FLOPs of fitting a linear model: ``(2 width + 1)`` per row, output and matrix product."""
    return products_per_iteration * (2 * width + 1) * outputs * n_rows * iterations


def training_flops(dims: ModelDims, *, n_texts: int = 25_000, finetune_epochs: int = 1,
                   lr_iterations: int = 20, rho_eta: float = 0.1) -> dict:
    """One row of Table 6 with the paper's conventions (FLOPs per *sequence*, not per token).

    * ``finetune = 6 N_param B S`` with ``B S = n_texts * finetune_epochs``;
    * ``forward = (2 N_param + 2 L max(N) D) n_texts``, one pass over the training texts;
    * ``lr_probes = (2 L (1+k) D + L) n_texts lr_iterations``, one pooling method;
    * ``lr_aggregation = rho_eta (L+1)/2 lr_probes``;
    * ``frozen_stc = forward + lr_probes + lr_aggregation`` and ``speedup = finetune / frozen_stc``.
    """
    finetune = 6 * dims.n_params * n_texts * finetune_epochs
    forward = forward_flops_per_token(dims.n_params, dims, dims.max_tokens) * n_texts
    per_layer_width = (1 + dims.ffn_ratio) * dims.d_model
    lr_probes = dims.n_layers * linear_fit_flops(n_texts, per_layer_width, lr_iterations)
    lr_aggregation = rho_eta * (dims.n_layers + 1) / 2 * lr_probes
    frozen_stc = forward + lr_probes + lr_aggregation
    return {"finetune": finetune, "forward": forward, "lr_probes": lr_probes,
            "lr_aggregation": lr_aggregation, "frozen_stc": frozen_stc,
            "speedup": finetune / frozen_stc}
