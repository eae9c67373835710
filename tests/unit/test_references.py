"""The references beside STC (Embedding, the model's own pooling), the grids and truncation records,
through `pipeline.run` / `stc-gpu run` on tiny random models."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from stc_gpu.cli import cli
from stc_gpu.config import STCConfig
from stc_gpu.metrics import score
from stc_gpu.models.sentence_pooling import SentencePooling, declared_pooling
from stc_gpu import pipeline
from stc_gpu.stc.baseline import own_pooling_rule
from stc_gpu.store.feature_store import StoreEntry
from tests.pipeline_data import planted_corpus, save_tiny_model, write_corpus

GRIDS = dict(C_grid=[0.1, 1.0], eta_grid=[0.5], max_iter=10, kinds=["hidden"],
             pools=["mean", "single"])


def _run(tmp_path, family, texts, labels, **options):
    model = save_tiny_model(tmp_path / "model", family=family, texts=texts)
    config = STCConfig(model=str(model), data=str(write_corpus(tmp_path / "d.csv", texts, labels)),
                       store=str(tmp_path / "store"), out=str(tmp_path / "out"),
                       **{**GRIDS, **options})
    return model, config, pipeline.run(config, show_progress=False)["label"]


def _split(X, res):
    return [X[np.asarray(res["splits"][name])] for name in ("train", "val", "test")]


def test_embedding_of_a_decoder_is_the_normalised_last_hidden_state(tmp_path):
    """GPT-2's Embedding reads its last valid token *after* ln_f (Hugging Face's
    last_hidden_state), not hidden.L; the scores are a logistic regression on exactly that."""
    from transformers import AutoModel, AutoTokenizer

    texts, labels = planted_corpus(120, seed=1)
    model_dir, config, res = _run(tmp_path, "gpt2", texts, labels)
    emb = res["selection"]["embedding"]
    assert (emb["kind"], emb["pool"], emb["layer"]) == ("final", "single", 3)
    model, tokenizer = AutoModel.from_pretrained(model_dir), AutoTokenizer.from_pretrained(model_dir)
    with torch.no_grad():
        last = np.stack([model(**tokenizer([t], return_tensors="pt")).last_hidden_state[0, -1].numpy()
                         for t in texts])
    entry = StoreEntry.open(res["store_entry"])
    stored = entry.features("final", "single", 3).astype(np.float32)
    np.testing.assert_allclose(stored, last.astype(np.float16), rtol=2e-3, atol=2e-3)
    before_norm = entry.features("hidden", "single", 3).astype(np.float32)
    assert np.abs(before_norm - last).max() > 0.1  # hidden.L stays before ln_f

    X_train, X_val, X_test = _split(last.astype(np.float16).astype(np.float32), res)
    y = np.asarray([res["classes"].index(v) for v in labels])
    y_train, y_val, y_test = _split(y, res)
    fits = {C: make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000, random_state=0))
            .fit(X_train, y_train) for C in GRIDS["C_grid"]}
    val = {C: score(y_val, m.predict(X_val), "accuracy") for C, m in fits.items()}
    best = max(sorted(val), key=lambda C: val[C])  # first of the best, ascending C
    n_val, n_test = len(y_val), len(y_test)
    assert emb["C"] == best
    assert emb["val_acc"] == pytest.approx(val[best], abs=1.5 / n_val)
    assert emb["test_acc"] == pytest.approx(score(y_test, fits[best].predict(X_test), "accuracy"),
                                            abs=1.5 / n_test)


def _declare_sentence_pooling(folder, modes=("mean_tokens",), normalize=True):
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling",
                "type": "sentence_transformers.models.Pooling"}]
    if normalize:
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize",
                        "type": "sentence_transformers.models.Normalize"})
    (folder / "modules.json").write_text(json.dumps(modules))
    (folder / "1_Pooling").mkdir()
    flags = ("cls_token", "mean_tokens", "max_tokens", "mean_sqrt_len_tokens", "lasttoken")
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(
        {"word_embedding_dimension": 32, **{f"pooling_mode_{f}": f in modes for f in flags}}))


def test_own_pooling_reference_is_the_declared_sentence_embedding(tmp_path):
    """A sentence-transformers model (mean pooling + Normalize) gets its own embedding as the
    second reference: the L2-normalised mean of final.L, given as it is to the logistic
    regression, C on validation; reported in results.json, table.md and the printed summary."""
    texts, labels = planted_corpus(160, seed=2)
    model_dir = save_tiny_model(tmp_path / "model", family="bert", texts=texts)
    _declare_sentence_pooling(model_dir)
    data = write_corpus(tmp_path / "d.csv", texts, labels)
    args = ["run", "--model", str(model_dir), "--data", str(data), "--store", str(tmp_path / "s"),
            "--out", str(tmp_path / "out"), "--quiet", "--kinds", "hidden", "--pools",
            "mean,single", "--C-grid", "0.1,1,10", "--eta-grid", "0.5"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    own = res["selection"]["own_pooling"]
    assert (own["kind"], own["pool"], own["normalize"], own["standardize"]) == (
        "final", "mean", True, False)
    assert "mean_tokens pooling + Normalize" in own["rule"]
    assert {r["C"] for r in res["aggregation"]} == {0.1, 1.0, 10.0}
    assert {r["eta"] for r in res["aggregation"]} == {0.5}

    entry = StoreEntry.open(res["store_entry"])
    X = entry.features("final", "mean", 3).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = np.asarray([res["classes"].index(v) for v in labels])
    (X_train, X_val, X_test), (y_train, y_val, y_test) = _split(X, res), _split(y, res)
    fits = {C: LogisticRegression(C=C, max_iter=2000, random_state=0).fit(X_train, y_train)
            for C in (0.1, 1.0, 10.0)}
    val = {C: score(y_val, m.predict(X_val), "accuracy") for C, m in fits.items()}
    best = max(sorted(val), key=lambda C: val[C])
    assert (own["C"], own["val_acc"]) == (best, val[best])
    assert own["test_acc"] == score(y_test, fits[best].predict(X_test), "accuracy")

    table = (tmp_path / "out" / "table.md").read_text()
    assert f"{100 * own['test_acc']:.2f}" in table.splitlines()[2].split("|")[5]
    summary = next(line for line in result.output.splitlines() if line.startswith("own pool"))
    assert f"{own['test_acc']:.4f}" in summary and "normalize=True" in summary


@pytest.mark.parametrize("modes, family, expected", [
    (("mean_tokens",), "bert", "mean"),
    (("max_tokens",), "gpt2", "max"),
    (("cls_token",), "roberta", "single"),
    (("lasttoken",), "llama", "single"),
    (("cls_token",), "gpt2", None),            # a decoder's single token is its last
    (("lasttoken",), "bert", None),
    (("mean_tokens", "max_tokens"), "bert", None),  # concatenated modes
    (("mean_sqrt_len_tokens",), "bert", None),
    ((), "bert", None),
])
def test_own_pooling_rule(modes, family, expected):
    rule = own_pooling_rule(SentencePooling(modes, True, "m/modules.json"), family)
    assert rule.pool == expected
    assert ("the paper's Embedding" in rule.rule) == (expected is None)
    assert own_pooling_rule(None, family).pool is None


def test_declared_pooling_reads_sentence_transformers_folders(tmp_path):
    assert declared_pooling(str(tmp_path)) is None  # a plain folder declares nothing
    _declare_sentence_pooling(tmp_path, modes=("cls_token",), normalize=False)
    assert declared_pooling(str(tmp_path)) == SentencePooling(
        ("cls_token",), False, f"{tmp_path}/modules.json")
    minilm = declared_pooling("all-MiniLM-L6-v2")  # the packaged demo model
    assert minilm is not None and (minilm.modes, minilm.normalize) == (("mean_tokens",), True)


def test_truncation_is_recorded_per_task_and_split(tmp_path):
    texts, labels = planted_corpus(120, seed=4)
    texts = [t + " and" * (30 if i % 3 == 0 else 0) for i, t in enumerate(texts)]
    model_dir, config, res = _run(tmp_path, "bert", texts, labels, max_length=16)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    cut = np.asarray([len(ids) > 16 for ids in tokenizer(texts)["input_ids"]])
    record = res["truncation"]
    assert record["max_length"] == 16 and record["texts"] == 120
    assert record["truncated"] == cut.sum() >= 40
    assert record["by_split"] == {name: int(cut[res["splits"][name]].sum())
                                  for name in ("train", "val", "test")}
    assert res["extraction"]["truncated"] == cut.sum()


@pytest.mark.parametrize("option, value, message", [
    ("--C-grid", "0.1,-1", "C_grid must be distinct positive numbers"),
    ("--C-grid", "1,1", "C_grid must be distinct positive numbers"),
    ("--C-grid", "1,nan", "C_grid must be distinct positive numbers"),
    ("--C-grid", "a,b", "expected a comma-separated list"),
    ("--eta-grid", "0.5,1.5", "eta_grid must be distinct numbers in (0, 1]"),
    ("--eta-grid", "0", "eta_grid must be distinct numbers in (0, 1]"),
    ("--eta-grid", ",", "must not be empty"),
])
def test_bad_grids_fail_before_any_work(tmp_path, option, value, message):
    result = CliRunner().invoke(cli, ["run", "--store", str(tmp_path / "store"), "--out",
                                      str(tmp_path / "out"), "--quiet", option, value])
    assert result.exit_code != 0
    assert message in result.output
    assert not (tmp_path / "store").exists()
