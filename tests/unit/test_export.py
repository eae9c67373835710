"""`stc-gpu export`: one ONNX graph that onnxruntime serves like the torch classifier."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from tests.pipeline_data import planted_corpus, save_tiny_model, write_corpus
from tests.tiny_classifier import float32_reference, tiny_classifier

from stc_gpu.cli import cli
from stc_gpu.extract.batching import tokenize
from stc_gpu.models.truncate import weight_bytes

pytest.importorskip("onnxruntime")

from stc_gpu.export import runtime, writer  # noqa: E402
from stc_gpu.export.runtime import ExportedClassifier, ExportError  # noqa: E402

#: New texts (another seed than training), a one-word text and one longer than max_length (64).
TEXTS = planted_corpus(24, seed=7)[0] + ["a", " ".join(["the good movie"] * 40)]

#: (family, pool, sites): every pool on an encoder and a decoder (single = first token / last
#: valid one). An encoder's first token varies most at the output (elsewhere a random model's
#: barely does, and a head dividing by that spread turns float32 rounding into 1e-4).
CASES = [("bert", "mean", None), ("roberta", "single", {"hidden": [3]}), ("distilbert", "max", None),
         ("gpt2", "single", None), ("gpt2", "max", None), ("llama", "mean", None)]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Export on first use per (family, pool, multiclass); ``(classifier, folder)``."""
    root, cache = tmp_path_factory.mktemp("export"), {}

    def get(family, pool="mean", sites=None, n_classes=2, multiclass="ovr"):
        key = (family, pool, str(sites), n_classes, multiclass)
        if key not in cache:
            clf, _ = tiny_classifier(root, family, pool=pool, sites=sites, n_classes=n_classes,
                                     multiclass=multiclass)
            folder = writer.export_classifier(clf, root / f"export-{len(cache)}")
            cache[key] = clf, folder
        return cache[key]

    return get


def _check_same(clf, served, texts=TEXTS):
    """The torch classifier in float32: features within 1e-5 (relative), probabilities within
    1e-4, same predictions. (``predict_proba`` rounds the features to float16 first.)"""
    X, expected = float32_reference(clf, texts)
    got = served.predict_proba(texts)
    assert got.shape == expected.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4)
    assert (served.predict(texts) == clf.classes_[expected.argmax(axis=1)]).all()
    ids = served.token_ids(texts)
    for rows, input_ids, mask in served._batches(ids):
        features = served.session.run(["features"], {"input_ids": input_ids,
                                                     "attention_mask": mask})[0]
        np.testing.assert_allclose(features, X[rows], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("family, pool, sites", CASES)
def test_onnxruntime_serves_like_the_torch_classifier(exported, family, pool, sites):
    clf, folder = exported(family, pool, sites)
    served = ExportedClassifier(folder)
    extractor = clf.extractor()
    assert served.token_ids(TEXTS) == tokenize(extractor.tokenizer, TEXTS,
                                                extractor.max_length).ids
    assert max(map(len, served.token_ids(TEXTS))) == extractor.max_length  # cut like training
    _check_same(clf, served)
    served.serving = {**served.serving, "padding_side": "left"}  # the graph takes either side
    _check_same(clf, served)
    served.token_budget = 50  # one-row and several-row batches of every width
    _check_same(clf, served)


@pytest.mark.parametrize("model_type, pool", [("mistral", "single"), ("qwen2", "single"),
                                             ("xlm-roberta", "max")])
def test_other_supported_model_types_export(tmp_path, model_type, pool):
    """The model types that map onto the llama and roberta adapters, sliding windows included."""
    import torch
    from transformers import AutoConfig, AutoModel

    from stc_gpu.models.synthetic import simple_tokenizer

    texts = planted_corpus(120, seed=1)[0]
    sizes = dict(num_hidden_layers=3, hidden_size=32, num_attention_heads=4, intermediate_size=64,
                 vocab_size=512, max_position_embeddings=66, pad_token_id=0)
    extra = {"mistral": dict(num_key_value_heads=2, sliding_window=4),
             "qwen2": dict(num_key_value_heads=2, use_sliding_window=True, sliding_window=4,
                           max_window_layers=1),
             "xlm-roberta": {}}[model_type]
    torch.manual_seed(0)
    model = AutoModel.from_config(AutoConfig.for_model(model_type, **sizes, **extra))
    folder = tmp_path / f"{model_type}-model"
    model.save_pretrained(folder)
    simple_tokenizer(texts, decoder=model_type != "xlm-roberta").save_pretrained(folder)
    clf, _ = tiny_classifier(tmp_path, model_type, pool=pool)
    served = ExportedClassifier(writer.export_classifier(clf, tmp_path / "out"))
    _check_same(clf, served)
    served.serving = {**served.serving, "padding_side": "left"}
    _check_same(clf, served)


@pytest.mark.parametrize("multiclass", ["ovr", "multinomial"])
def test_multiclass_heads_export(exported, multiclass):
    clf, folder = exported("bert", "mean", None, 3, multiclass)
    served = ExportedClassifier(folder)
    assert served.classes_.tolist() == ["mid", "neg", "pos"]
    _check_same(clf, served)
    np.testing.assert_allclose(served.predict_proba(TEXTS).sum(axis=1), 1, atol=1e-6)


def test_folder_holds_the_truncated_graph_tokenizer_card_and_manifest(exported):
    clf, folder = exported("bert", "mean")
    names = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert set(runtime.REQUIRED) | {runtime.MANIFEST} <= names
    manifest = json.loads((folder / runtime.MANIFEST).read_text())
    assert manifest["format"] == runtime.FORMAT and set(manifest["files"]) == names - {"manifest.json"}
    serving = json.loads((folder / runtime.SERVING).read_text())
    assert serving["pool"] == "mean" and serving["n_blocks"] == 2 and serving["n_layers"] == 3
    assert serving["blocks"] == [{"kind": b.kind, "layer": b.layer, "ids": list(b.ids)}
                                 for b in clf.blocks_]
    assert serving["n_features"] == clf.n_features
    assert serving["check"]["max_feature_difference"] < 1e-5
    assert serving["check"]["max_probability_difference"] < 1e-4
    # blocks 0..1 of 3 and no pooler: the graph's weights are under the full model's
    from stc_gpu.extract import Extractor

    full_bytes = weight_bytes(Extractor.from_pretrained(clf.model_, device="cpu").model)
    assert (folder / runtime.MODEL).stat().st_size < full_bytes
    card = (folder / runtime.CARD).read_text()
    for section in ("## Model", "## Data", "## Metrics", "## How it was selected",
                    "## Intended use", "## Checked", "blocks 0..1 of 3", "hidden.2 | 10"):
        assert section in card


def test_runtime_serves_without_torch_or_transformers(exported):
    _, folder = exported("gpt2", "single")
    code = ("import sys\n"
            "for name in ('torch', 'transformers', 'sklearn'):\n"
            "    sys.modules[name] = None  # any import of them fails\n"
            "from stc_gpu.export.runtime import ExportedClassifier\n"
            f"clf = ExportedClassifier({str(folder)!r})\n"
            "print(clf.predict(['a good film', 'an awful film']).tolist())\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert set(json.loads(done.stdout.replace("'", '"'))) <= {"pos", "neg"}


# ------------------------------------------------------------------------------ bad input
def _copy(folder, tmp_path):
    import shutil

    return shutil.copytree(folder, tmp_path / "copy")


@pytest.mark.parametrize("damage, message", [
    (lambda f: (f / "manifest.json").unlink(), "not a complete stc-gpu export"),
    (lambda f: (f / "tokenizer" / "tokenizer.json").unlink(), "partial: tokenizer/tokenizer.json"),
    (lambda f: (f / "model.onnx").write_bytes((f / "model.onnx").read_bytes()[:-10]),
     "corrupt: model.onnx"),
    (lambda f: (f / "serving.json").write_text(
        (f / "serving.json").read_text().replace('"mean"', '"max"')), "corrupt: serving.json"),
    (lambda f: (f / "manifest.json").write_text('{"format": "stc-gpu-export/9", "files": {}}'),
     "unknown format 'stc-gpu-export/9'"),
    (lambda f: (f / "manifest.json").write_text('{"format": "stc-gpu-ex'), "manifest.json is corrupt"),
])
def test_a_corrupt_or_partial_folder_is_refused(exported, tmp_path, damage, message):
    _, folder = exported("bert", "mean")
    copy = _copy(folder, tmp_path)
    damage(copy)
    with pytest.raises(ExportError, match=message):
        ExportedClassifier(copy)


def test_a_flipped_byte_in_the_graph_is_refused(exported, tmp_path):
    _, folder = exported("bert", "mean")
    copy = _copy(folder, tmp_path)
    data = bytearray((copy / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(ExportError, match="corrupt: model.onnx does not match its sha256"):
        ExportedClassifier(copy)


def test_runtime_refuses_texts_it_cannot_classify(exported):
    served = ExportedClassifier(exported("bert", "mean")[1])
    with pytest.raises(TypeError, match="list of texts"):
        served.predict("one string")
    with pytest.raises(ValueError, match=r"positions \[1\]"):
        served.predict(["fine", "  "])


def test_a_model_type_the_export_cannot_handle_is_named(tmp_path, monkeypatch):
    clf, _ = tiny_classifier(tmp_path, "gpt2")
    monkeypatch.setattr(writer, "EXPORTABLE_MODEL_TYPES", ("bert",))
    with pytest.raises(ValueError, match="does not handle model type 'gpt2' \\(family gpt2\\)"):
        writer.export_classifier(clf, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_an_exporter_failure_names_the_family_and_leaves_nothing(tmp_path, monkeypatch):
    import torch

    clf, _ = tiny_classifier(tmp_path, "llama")

    def fail(*args, **kwargs):
        raise RuntimeError("Exporting the operator 'aten::frobnicate' to ONNX is not supported")

    monkeypatch.setattr(torch.onnx, "export", fail)
    with pytest.raises(ValueError, match="failed for model type 'llama' \\(family llama\\).*"
                                         "frobnicate"):
        writer.export_classifier(clf, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]


@pytest.mark.parametrize("other", [("distilbert", "max"), ("bert", "mean", None, 3, "ovr")])
def test_a_graph_that_differs_from_torch_is_refused(exported, other):
    import onnxruntime

    from stc_gpu.export.graph import ClassifierGraph

    clf, _ = exported("bert", "mean")
    _, other_folder = exported(*other)
    session = onnxruntime.InferenceSession(str(other_folder / runtime.MODEL))
    graph = ClassifierGraph(clf.extractor(), clf.blocks_, clf.pool_, clf.head_)
    with pytest.raises(ValueError, match="of bert (does not reproduce the torch features|"
                                         "gives outputs of shapes)"):
        writer.check_graph(graph, session, clf.extractor(), "bert")


def test_export_into_a_non_empty_folder_is_refused_and_keeps_its_files(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    res = CliRunner().invoke(cli, ["export", str(tmp_path), "--out", str(tmp_path / "out")])
    assert res.exit_code != 0 and "exists and is not empty" in res.output
    assert (tmp_path / "out" / "keep.txt").read_text() == "mine"


def test_cli_exports_a_run_with_its_metrics_in_the_card(tmp_path):
    from stc_gpu.config import STCConfig
    from stc_gpu import pipeline

    texts, labels = planted_corpus(160)
    model = save_tiny_model(tmp_path / "model", "distilbert", texts=texts)
    config = STCConfig(model=str(model), data=str(write_corpus(tmp_path / "d.csv", texts, labels)),
                       store=str(tmp_path / "store"), out=str(tmp_path / "run"), kinds=["hidden"],
                       pools=["mean"], C_grid=[1.0], eta_grid=[0.5], max_iter=20)
    selected = pipeline.run(config, show_progress=False)["label"]["selection"]["agg"]
    res = CliRunner().invoke(cli, ["export", str(tmp_path / "run" / "classifier"),
                                   "--out", str(tmp_path / "served")])
    assert res.exit_code == 0, res.output
    assert "blocks 0.." in res.output and "probabilities within" in res.output
    card = (tmp_path / "served" / "README.md").read_text()
    assert f"{100 * selected['test_acc']:.1f}" in card and "STC Agg. (this export)" in card
    assert "d.csv" in card and "rows: " in card
    served = ExportedClassifier(tmp_path / "served")
    assert set(served.predict(["a good film", "an awful film"])) <= {"pos", "neg"}


def test_export_without_onnxruntime_says_what_to_install(tmp_path, monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "onnxruntime" else find_spec(name, *a))
    res = CliRunner().invoke(cli, ["export", str(tmp_path), "--out", str(tmp_path / "out")])
    assert res.exit_code != 0
    assert "needs onnxruntime: pip install 'stc-gpu[export]'" in res.output
