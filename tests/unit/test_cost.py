"""The paper's cost model: Tables 5 and 6 within 1% of the printed figures, config converters,
and the estimate of a user's run."""
from __future__ import annotations

import pytest
from transformers import BertConfig, DistilBertConfig, GPT2Config, LlamaConfig, RobertaConfig

from stc_gpu import cost
from stc_gpu.models.synthetic import random_model

#: Footnotes 3-8 of the paper: L, D, max(N).
FOOTNOTES = {"DistilBERT": (6, 768, 512), "RoBERTa": (12, 768, 512), "GPT2": (12, 768, 1024),
             "GPT2-M": (24, 1024, 1024), "GPT2-L": (36, 1280, 1024), "GPT2-XL": (48, 1600, 1024)}


@pytest.fixture(scope="module")
def tables():
    return cost.paper_tables()


@pytest.mark.parametrize("name", cost.PAPER_MODELS)
def test_paper_models_match_the_footnotes(name):
    dims = cost.paper_model_dims(name)
    assert (dims.n_layers, dims.d_model, dims.max_tokens) == FOOTNOTES[name]
    assert dims.ffn_ratio == 4
    assert dims.n_params == cost.PAPER_PARAM_COUNTS[name]


@pytest.mark.parametrize("table, columns", [("table5", cost.TABLE5_COLUMNS),
                                            ("table6", cost.TABLE6_COLUMNS)])
@pytest.mark.parametrize("name", cost.PAPER_MODELS)
def test_every_cell_within_one_percent_of_the_paper(tables, name, table, columns):
    cells = tables["models"][name][table]
    assert tuple(cells) == columns
    for column, cell in cells.items():
        assert cell["rel_diff"] == pytest.approx(cell["ours"] / cell["paper"] - 1)
        assert abs(cell["rel_diff"]) < 0.01, (name, column, cell)


def test_table5_formula_by_hand():
    # GPT2-XL: N_f (1 + rho (L+1)/2) L (1+k) D = 3 * 3.45 * 48 * 5 * 1600
    row = cost.trainable_params(cost.paper_model_dims("GPT2-XL"), rho_eta=0.1, n_pools=3)
    assert row["stc"] == pytest.approx(3 * 3.45 * 48 * 5 * 1600)
    assert row["ratio"] == pytest.approx(1.56e9 / row["stc"])


def test_table6_formula_by_hand():
    dims = cost.paper_model_dims("DistilBERT")
    row = cost.training_flops(dims, n_texts=25_000, finetune_epochs=1, lr_iterations=20)
    assert row["finetune"] == 6 * 66e6 * 25_000
    assert row["forward"] == (2 * 66e6 + 2 * 6 * 512 * 768) * 25_000
    assert row["lr_probes"] == pytest.approx((2 * 6 * 5 * 768 + 6) * 25_000 * 20)
    assert row["lr_aggregation"] == pytest.approx(0.35 * row["lr_probes"])
    assert row["speedup"] == pytest.approx(row["finetune"] / (
        row["forward"] + row["lr_probes"] + row["lr_aggregation"]))


def test_the_printed_table5_formula_does_not_reproduce_the_table():
    # (1 + rho N_f (L+1)/2) N_LR, as printed in section 5.2, is half the DistilBERT figure.
    dims = cost.paper_model_dims("DistilBERT")
    printed = (1 + 0.1 * 3 * (dims.n_layers + 1) / 2) * cost.lr_probe_params(dims)
    assert printed / cost.PAPER_TABLE5["DistilBERT"][1] < 0.55


def test_format_count_uses_the_papers_style():
    assert [cost.format_count(v) for v in (93_312, 1.9699e6, 9.9e12, 23.04e9, 384e9, 12)] == \
        ["93.3K", "1.97M", "9.90T", "23.0B", "384B", "12.0"]


def test_format_paper_tables_shows_every_model(tables):
    text = cost.format_paper_tables(tables)
    assert all(text.count(name + " ") >= 2 for name in cost.PAPER_MODELS)
    assert "707:1 (707:1, +0.04%)" in text


@pytest.mark.parametrize("config, expected", [
    (GPT2Config(n_layer=48, n_embd=1600, n_head=25), (48, 1600, 4.0, 1024, 1_557_611_200)),
    (BertConfig(), (12, 768, 4.0, 512, 109_482_240)),
    (DistilBertConfig(), (6, 768, 4.0, 512, 66_362_880)),
    (RobertaConfig(vocab_size=50265, max_position_embeddings=514, type_vocab_size=1,
                   pad_token_id=1), (12, 768, 4.0, 512, 124_645_632)),
    (LlamaConfig(num_hidden_layers=2, hidden_size=64, intermediate_size=172,
                 num_attention_heads=4, vocab_size=100, max_position_embeddings=256),
     (2, 64, 172 / 64, 256, None)),
])
def test_dims_from_config(config, expected):
    dims = cost.dims_from_config(config)
    n_layers, d_model, ffn_ratio, max_tokens, n_params = expected
    assert (dims.n_layers, dims.d_model, dims.max_tokens) == (n_layers, d_model, max_tokens)
    assert dims.ffn_ratio == pytest.approx(ffn_ratio)
    if n_params is not None:  # the published checkpoints' counts
        assert dims.n_params == n_params
    assert 0 < dims.n_params_non_embedding < dims.n_params


def test_dims_from_config_excludes_embedding_tables():
    config = GPT2Config(n_layer=2, n_embd=64, n_head=4, vocab_size=1000, n_positions=128)
    dims = cost.dims_from_config(config)
    assert dims.n_params - dims.n_params_non_embedding == (1000 + 128) * 64


def test_dims_from_a_loaded_model_count_its_parameters(family):
    model = random_model(family)
    dims = cost.as_model_dims(model)
    assert dims.n_params == sum(p.numel() for p in model.parameters())
    assert dims == cost.as_model_dims(model.config)
    assert (dims.n_layers, dims.d_model, dims.ffn_ratio) == (3, 32, 4.0)


def test_as_model_dims_rejects_other_objects():
    with pytest.raises(ValueError, match="cannot read model dimensions"):
        cost.as_model_dims(3.5)
    with pytest.raises(ValueError, match="unknown paper model"):
        cost.as_model_dims("GPT5")


def test_estimate_run_flops_by_hand():
    dims = cost.ModelDims("toy", n_layers=2, d_model=10, ffn_ratio=4, max_tokens=64,
                          n_params=5000, n_params_non_embedding=3000)
    est = cost.estimate_run_flops(dims, 100, 8, n_probe_fits=12, n_agg_fits=5,
                                  n_extracted_texts=150, lr_iterations=50)
    per_token = 2 * 3000 + 2 * 2 * 8 * 10
    flops = est["flops"]
    assert flops["forward"] == per_token * 8 * 150
    assert flops["finetune"] == 3 * per_token * 8 * 100
    assert flops["lr_probes"] == 12 * 2 * (2 * 25 + 1) * 100 * 50   # default width (1+k)D/2
    assert flops["lr_aggregation"] == pytest.approx(5 * 2 * (2 * 7.5 + 1) * 100 * 50)
    assert flops["stc_total"] == pytest.approx(sum(flops[k] for k in
                                                   ("forward", "lr_probes", "lr_aggregation")))
    assert est["speedup"] == pytest.approx(flops["finetune"] / flops["stc_total"])
    assert est["tokens_extracted"] == 1200 and est["tokens_finetune"] == 800


def test_estimate_multiclass_fits_cost_one_vector_per_class():
    common = dict(n_probe_fits=4, n_agg_fits=0, probe_width=100)
    binary = cost.estimate_run_flops("GPT2", 1000, 30, n_classes=2, **common)
    five = cost.estimate_run_flops("GPT2", 1000, 30, n_classes=5, **common)
    assert five["flops"]["lr_probes"] == 5 * binary["flops"]["lr_probes"]
    assert five["flops"]["forward"] == binary["flops"]["forward"]


def test_estimate_accepts_a_loaded_model():
    model = random_model("gpt2")
    est = cost.estimate_run_flops(model, 10, 5, n_probe_fits=1, n_agg_fits=1)
    assert est["model"] == "gpt2" and est["speedup"] > 1


@pytest.mark.parametrize("kwargs, message", [
    (dict(n_train_texts=0), "n_train_texts"), (dict(mean_tokens=-1), "mean_tokens"),
    (dict(n_probe_fits=-1), "n_probe_fits"), (dict(n_classes=1), "n_classes"),
    (dict(n_extracted_texts=5), "n_extracted_texts"),
])
def test_estimate_rejects_bad_sizes(kwargs, message):
    args = dict(n_train_texts=10, mean_tokens=5, n_probe_fits=1, n_agg_fits=1) | kwargs
    with pytest.raises(ValueError, match=message):
        cost.estimate_run_flops("GPT2", **args)
