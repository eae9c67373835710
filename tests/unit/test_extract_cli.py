"""``stc-gpu extract`` and ``stc-gpu store ls/info`` through click's CliRunner.

The real Extractor is replaced by the deterministic fake (same interface), installed as
``stc_gpu.extract.Extractor``, where the extraction that ``run`` shares imports it from.
"""
from __future__ import annotations

import csv

import numpy as np
import pytest
from click.testing import CliRunner
from store_fake_extractor import FakeExtractor

from stc_gpu.cli import cli
from stc_gpu.store import FeatureStore

TEXTS = [f"review {i} " + "good " * (i % 4) for i in range(25)]


@pytest.fixture
def calls(monkeypatch):
    """Install a fake ``stc_gpu.extract.Extractor``; returns the from_pretrained kwargs."""
    seen = []

    class Extractor(FakeExtractor):
        @classmethod
        def from_pretrained(cls, name_or_path, **kwargs):
            seen.append({"name_or_path": name_or_path, **kwargs})
            layers = kwargs["layers"] or list(range((kwargs["max_layer"] or 2) + 1))
            return cls(name_or_path, kinds=kwargs["kinds"], pools=kwargs["pools"],
                       layers={k: [3] if k == "final" else layers for k in kwargs["kinds"]},
                       units={"hidden": 8, "ffn": 12, "final": 8})

    import stc_gpu.extract

    monkeypatch.setattr(stc_gpu.extract, "Extractor", Extractor)
    return seen


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "reviews.csv"
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["body", "label"])
        writer.writerows((t, i % 2) for i, t in enumerate(TEXTS))
    return path


def _run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_extract_then_ls_and_info(calls, data, tmp_path):
    store = tmp_path / "store"
    result = _run("extract", data, "--store", store, "--text-column", "body", "--layers", "0,2",
                  "--kinds", "hidden", "--pools", "mean,max", "--block-rows", 10, "--max-length",
                  64, "--token-budget", 512, "--quiet")
    assert result.exit_code == 0, result.output
    assert calls == [{"name_or_path": "all-MiniLM-L6-v2", "revision": None, "kinds": ("hidden", "final"),
                      "pools": ("mean", "max"), "layers": [0, 2], "max_layer": None,
                      "max_length": 64, "device": None, "dtype": None, "token_budget": 512}]
    assert "texts 25" in result.output and "MiB/s" in result.output
    entry = FeatureStore.open(store).entry()
    assert entry.is_complete and entry.layers("hidden") == [0, 2] and entry.pools == ("mean", "max")
    expected = FakeExtractor("all-MiniLM-L6-v2", kinds=("hidden",), pools=("mean", "max"),
                             layers={"hidden": [0, 2]}).extract(TEXTS).features
    np.testing.assert_array_equal(entry.features("hidden", "max", 2), expected[("hidden", "max")][1])

    again = _run("extract", data, "--store", store, "--text-column", "body", "--layers", "0,2",
                 "--kinds", "hidden", "--pools", "mean,max", "--quiet")
    assert again.exit_code == 0 and "already extracted" in again.output

    listing = _run("store", "ls", store)
    assert listing.exit_code == 0
    assert entry.key in listing.output and "all-MiniLM-L6-v2" in listing.output
    assert "reviews.csv" in listing.output and "3/3" in listing.output

    info = _run("store", "info", store)
    assert info.exit_code == 0
    for text in (entry.model_fingerprint, entry.dataset_fingerprint, "25 in 3 blocks of 10",
                 "hidden layers:", "[0, 2] x 8 units", "complete:", "yes (3/3 blocks)"):
        assert text in info.output
    assert _run("store", "info", store, entry.dataset_fingerprint[:5]).exit_code == 0


def test_extract_errors_are_clear(calls, data, tmp_path):
    store = tmp_path / "store"
    bad_column = _run("extract", data, "--store", store, "--quiet")
    assert bad_column.exit_code == 1
    assert "Error: reviews.csv: no column 'text'; its columns are: body, label" in bad_column.output
    both = _run("extract", data, "--store", store, "--layers", "0", "--max-layer", "3")
    assert both.exit_code == 2 and "--layers or --max-layer, not both" in both.output
    bad_layers = _run("extract", data, "--store", store, "--layers", "0,x")
    assert bad_layers.exit_code == 2 and "comma-separated" in bad_layers.output
    assert not store.exists()  # bad input: nothing created


def test_store_commands_errors(tmp_path, calls, data):
    missing = _run("store", "ls", tmp_path / "nothing")
    assert missing.exit_code == 1 and "no feature store at" in missing.output
    store = tmp_path / "store"
    for model in ("model-a", "model-b"):
        assert _run("extract", data, "--store", store, "--model", model, "--text-column", "body",
                    "--quiet").exit_code == 0
    ambiguous = _run("store", "info", store)
    assert ambiguous.exit_code == 1 and "2 entries are in" in ambiguous.output
    assert _run("store", "ls", store).output.count("/") >= 2
    nomatch = _run("store", "info", store, "zzz")
    assert nomatch.exit_code == 1 and "no entry matches 'zzz'" in nomatch.output


def test_extract_builds_its_config_as_run_does(calls, data, tmp_path):
    """A --config file fills what the options leave out, the options override it, and a bad
    value is the same one-line error as run's."""
    config = tmp_path / "extract.toml"
    config.write_text('model = "from-toml"\ntext_column = "body"\nblock_rows = 10\n')
    store = tmp_path / "store"
    result = _run("extract", "--data", data, "--config", config, "--model", "from-cli",
                  "--store", store, "--quiet")
    assert result.exit_code == 0, result.output
    assert calls[0]["name_or_path"] == "from-cli"
    assert FeatureStore.open(store).entry().block_rows == 10
    errors = [_run(command, "--data", data, "--max-texts", 5, "--store", store, "--quiet").output
              for command in ("extract", "run")]
    assert errors[0] == errors[1] == "Error: config: max_texts must be at least 10, got 5\n"


def test_run_reuses_what_extract_stored(tmp_path):
    """``extract`` then ``run`` with the same options: run's extraction runs no forward pass
    (extract stores the model's output too, which run's references read)."""
    import json

    from tests.pipeline_data import planted_corpus, save_tiny_model, write_corpus

    texts, labels = planted_corpus(60)
    corpus = write_corpus(tmp_path / "d.csv", texts, labels)
    model = save_tiny_model(tmp_path / "model", texts=texts)
    common = ["--model", model, "--data", corpus, "--store", tmp_path / "store", "--pools",
              "mean", "--block-rows", 25, "--quiet"]
    extracted = _run("extract", *common)
    assert extracted.exit_code == 0, extracted.output
    ran = _run("run", *common, "--out", tmp_path / "out", "--C-grid", 1, "--eta-grid", 0.8)
    assert ran.exit_code == 0, ran.output
    summary = json.loads((tmp_path / "out" / "extraction.json").read_text())
    assert summary["blocks_written"] == 0 and summary["blocks_already_done"] == 3
    entry = FeatureStore.open(tmp_path / "store").entry()
    assert entry.kinds == ("hidden", "ffn", "final") and f"entry {entry.key}" in extracted.output
