"""The paper's cost model (section 5.2, Tables 5 and 6) and a FLOP estimate for a user's own run.

Symbols follow the paper: ``L`` layers, ``D`` hidden width, ``k`` FFN-activation width over ``D``,
``N`` tokens per sequence, ``rho_eta`` the share of features kept by the η rule, ``N_f`` pooling
methods. The formulas that reproduce the paper's own Tables 5 and 6 differ from the ones printed
in section 5.2; docs/cost-model.md gives both, cell by cell.

Modules: :mod:`~stc_gpu.cost.dims` (model dimensions), :mod:`~stc_gpu.cost.counts` (the
formulas), and their two uses:

* :func:`paper_tables` (:mod:`~stc_gpu.cost.tables`) recomputes Tables 5 and 6 for the paper's six
  models with the paper's conventions (per-*sequence* FLOPs, the paper's headline parameter
  counts, 25,000 IMDb texts, 20 LR iterations) and puts the paper's printed figure beside every
  cell.
* :func:`estimate_run_flops` (:mod:`~stc_gpu.cost.estimate`) estimates a user's run with the same
  formulas made dimensionally right: FLOPs per *token* (Kaplan et al. 2020 count ``2 N_param`` per
  token), non-embedding parameters, a backward pass costing twice the forward, two matrix products
  per solver iteration.
"""
from stc_gpu.cost.counts import (forward_flops_per_token, linear_fit_flops, lr_probe_params,
                                 trainable_params, training_flops)
from stc_gpu.cost.dims import (PAPER_MODELS, PAPER_PARAM_COUNTS, ModelDims, as_model_dims,
                               dims_from_config, dims_from_model, paper_model_config,
                               paper_model_dims)
from stc_gpu.cost.estimate import estimate_run_flops
from stc_gpu.cost.tables import (PAPER_TABLE5, PAPER_TABLE6, TABLE5_COLUMNS, TABLE6_COLUMNS,
                                 PaperSetup, format_count, format_paper_tables, max_rel_diff,
                                 paper_tables, table_rows)

__all__ = ["PAPER_MODELS", "PAPER_PARAM_COUNTS", "PAPER_TABLE5", "PAPER_TABLE6", "TABLE5_COLUMNS",
           "TABLE6_COLUMNS", "ModelDims", "PaperSetup", "as_model_dims", "dims_from_config",
           "dims_from_model", "estimate_run_flops", "format_count", "format_paper_tables",
           "forward_flops_per_token", "linear_fit_flops", "lr_probe_params", "max_rel_diff",
           "paper_model_config", "paper_model_dims", "paper_tables", "table_rows",
           "trainable_params", "training_flops"]
