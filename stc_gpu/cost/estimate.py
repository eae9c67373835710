"""The FLOP estimate of a user's own run vs fine-tuning the same model (the pipeline's cost line)."""
from __future__ import annotations

from stc_gpu.cost.counts import forward_flops_per_token, linear_fit_flops
from stc_gpu.cost.dims import as_model_dims


def estimate_run_flops(model_or_config, n_train_texts: int, mean_tokens: float, *,
                       n_probe_fits: int, n_agg_fits: int, n_extracted_texts: int | None = None,
                       probe_width: float | None = None, agg_width: float | None = None,
                       lr_iterations: float = 100, n_classes: int = 2,
                       finetune_epochs: int = 1, rho_eta: float = 0.1) -> dict:
    """Estimated FLOPs of an STC run vs fine-tuning the same model.

    Per token, a forward pass costs ``2 N + 2 L n D`` (Kaplan et al. 2020) with ``N`` the
    non-embedding parameters and ``n = mean_tokens``; fine-tuning costs three forward passes
    (forward + backward) per training token and epoch. STC costs one forward pass over every
    extracted text plus its logistic fits, each iteration one score and one gradient product
    (``2 (2 width + 1)`` FLOPs per row and output).

    Parameters
    ----------
    model_or_config
        A :class:`ModelDims`, paper model name, transformers config or loaded model.
    n_train_texts : int
        Texts the probes and fine-tuning train on.
    mean_tokens : float
        Mean tokens per text (after truncation).
    n_probe_fits, n_agg_fits : int
        Logistic fits of the layer-wise sweep and of the aggregation sweep.
    n_extracted_texts : int, optional
        Texts the frozen model reads (train + validation + test); default ``n_train_texts``.
    probe_width : float, optional
        Mean features per probe fit; default ``(1 + k) D / 2`` (as many hidden-state fits of width
        ``D`` as FFN fits of width ``kD``).
    agg_width : float, optional
        Mean features per aggregation fit; default ``rho_eta (1 + k) D (L + 1) / 2``, the mean over
        ``L_temp = 1..L`` of ``rho_eta L_temp (1 + k) D``.
    lr_iterations : float
        Solver iterations per fit.
    n_classes : int
        One weight vector per class, one only for two classes.
    finetune_epochs : int
    rho_eta : float
        Used by the default ``agg_width`` only.

    Returns
    -------
    dict
        ``model``, ``n_params_non_embedding``, ``tokens_extracted``, ``tokens_finetune`` and
        ``flops``: ``{"forward", "lr_probes", "lr_aggregation", "stc_total", "finetune"}``, plus
        ``speedup = finetune / stc_total``.
    """
    for label, value in (("n_train_texts", n_train_texts), ("mean_tokens", mean_tokens),
                         ("lr_iterations", lr_iterations), ("finetune_epochs", finetune_epochs)):
        if value <= 0:
            raise ValueError(f"{label} must be positive, got {value}")
    for label, value in (("n_probe_fits", n_probe_fits), ("n_agg_fits", n_agg_fits)):
        if value < 0:
            raise ValueError(f"{label} must be non-negative, got {value}")
    if n_classes < 2:
        raise ValueError(f"n_classes must be at least 2, got {n_classes}")
    dims = as_model_dims(model_or_config)
    n_extracted = n_train_texts if n_extracted_texts is None else n_extracted_texts
    if n_extracted < n_train_texts:
        raise ValueError(f"n_extracted_texts ({n_extracted}) is below n_train_texts "
                         f"({n_train_texts}): the training texts are extracted too")
    layer_width = (1 + dims.ffn_ratio) * dims.d_model
    probe_width = layer_width / 2 if probe_width is None else probe_width
    agg_width = (rho_eta * layer_width * (dims.n_layers + 1) / 2
                 if agg_width is None else agg_width)
    outputs = 1 if n_classes == 2 else n_classes

    per_token = forward_flops_per_token(dims.n_params_non_embedding, dims, mean_tokens)
    forward = per_token * mean_tokens * n_extracted
    finetune = 3 * per_token * mean_tokens * n_train_texts * finetune_epochs
    fit = {"outputs": outputs, "products_per_iteration": 2}
    lr_probes = n_probe_fits * linear_fit_flops(n_train_texts, probe_width, lr_iterations, **fit)
    lr_agg = n_agg_fits * linear_fit_flops(n_train_texts, agg_width, lr_iterations, **fit)
    stc_total = forward + lr_probes + lr_agg
    return {"model": dims.name, "n_params_non_embedding": dims.n_params_non_embedding,
            "tokens_extracted": mean_tokens * n_extracted,
            "tokens_finetune": mean_tokens * n_train_texts * finetune_epochs,
            "flops": {"forward": forward, "lr_probes": lr_probes, "lr_aggregation": lr_agg,
                      "stc_total": stc_total, "finetune": finetune},
            "speedup": finetune / stc_total}
