"""The saved classifier serves as it was trained: dtype, max length and token budget of the
extraction, one forward pass for `predict --proba`, and token heat maps of any class of a
multiclass classifier through `stc-gpu explain`."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from stc_gpu.cli import cli
from stc_gpu.config import STCConfig
from stc_gpu.extract import Extractor
from stc_gpu import pipeline
from stc_gpu.stc.classifier import STCClassifier
from tests.pipeline_data import planted_corpus, save_tiny_model, write_corpus

TEXTS = ["a good film", "an awful plot", "a fine story", "superb acting and music"]


@pytest.fixture(scope="module")
def multiclass(tmp_path_factory):
    """A saved 3-class classifier (pos / neg / mid) on a tiny BERT, trained with budget 2048."""
    root = tmp_path_factory.mktemp("serving")
    texts, labels = planted_corpus(240, seed=5, n_classes=3)
    model = save_tiny_model(root / "model", family="bert", texts=texts)
    config = STCConfig(model=str(model), data=str(write_corpus(root / "d.csv", texts, labels)),
                       store=str(root / "store"), out=str(root / "out"), kinds=["hidden"],
                       pools=["mean"], C_grid=[1.0, 10.0], eta_grid=[0.5], max_iter=10,
                       token_budget=2048, max_length=48)
    pipeline.run(config, show_progress=False)
    return root / "out" / "classifier"


@pytest.fixture
def built_with(monkeypatch):
    """Record the keyword arguments the classifier builds its extractor with (no model loads)."""
    seen = {}

    class Built:
        def describe(self):
            return {}

    def fake(cls, name_or_path, **kwargs):
        seen.update(kwargs)
        return Built()

    monkeypatch.setattr(Extractor, "from_pretrained", classmethod(fake))
    return seen


def test_a_cuda_host_predicts_in_the_trained_dtype_and_budget(multiclass, built_with, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    clf = STCClassifier.load(multiclass)
    assert clf.model_identity_["dtype"] == "float32"  # extracted on this CPU
    clf.extractor()
    assert built_with["device"] == "cuda"
    assert built_with["dtype"] == "float32"  # not the CUDA default, float16
    assert (built_with["max_length"], built_with["token_budget"]) == (48, 2048)
    assert built_with["padding_side"] == clf.model_identity_["padding_side"]
    clf = STCClassifier.load(multiclass)
    clf.model_identity_["dtype"] = "bfloat16"
    clf.extractor()
    assert built_with["dtype"] == "bfloat16"


def test_a_float16_classifier_on_a_cpu_predicts_in_float32(multiclass, built_with):
    clf = STCClassifier.load(multiclass, device="cpu")
    clf.model_identity_["dtype"] = "float16"
    with pytest.warns(UserWarning, match="float16.*float32"):
        clf.extractor()
    assert (built_with["device"], built_with["dtype"]) == ("cpu", "float32")


def test_a_different_model_is_still_refused(multiclass):
    clf = STCClassifier.load(multiclass)
    clf.model_identity_["weights_sha256"] = "0" * 64
    with pytest.raises(ValueError, match="does not match the one this classifier was trained on"):
        clf.extractor()


def test_predict_proba_runs_the_model_once(multiclass, monkeypatch):
    passes = []
    extract = Extractor.extract
    def counted(self, texts, **kwargs):
        passes.append(len(texts))
        return extract(self, texts, **kwargs)

    monkeypatch.setattr(Extractor, "extract", counted)
    result = CliRunner().invoke(cli, ["predict", str(multiclass), *TEXTS, "--proba"])
    assert result.exit_code == 0, result.output
    assert passes == [len(TEXTS)]
    clf = STCClassifier.load(multiclass)
    expected = clf.predict_proba(TEXTS)
    for line, text, row, label in zip(result.stdout.splitlines(), TEXTS, expected,
                                      clf.predict(TEXTS)):
        printed, probs, shown = line.split("\t")
        assert (printed, shown) == (str(label), text)
        assert probs == " ".join(f"{c}={p:.3f}" for c, p in zip(clf.classes_, row))


def _sections(page: str) -> list[str]:
    return re.findall(r"<section>.*?</section>", page, flags=re.S)


def test_explain_a_multiclass_classifier(multiclass, tmp_path):
    clf = STCClassifier.load(multiclass)
    assert clf.classes_.tolist() == ["mid", "neg", "pos"]
    predicted, proba = clf.predict_with_proba(TEXTS)
    out = tmp_path / "x.html"
    result = CliRunner().invoke(cli, ["explain", str(multiclass), *TEXTS, "--out", str(out)])
    assert result.exit_code == 0, result.output
    sections = _sections(out.read_text())
    assert len(sections) == len(TEXTS)
    for section, label, row in zip(sections, predicted, proba):
        # each text shows P(its predicted class) per token, against the rest
        assert f"predicted: {label}" in section
        assert f"not {label} (0)" in section and f"{label} (1)" in section
        assert f"P({label}) = {row[clf.class_index(label)]:.3f}" in section
    by_token = clf.token_scores(TEXTS)
    assert [s.target for s in by_token] == list(predicted)
    for s in by_token:
        assert np.all((0 <= s.scores) & (s.scores <= 1)) and len(s.scores) == len(s.tokens)

    result = CliRunner().invoke(cli, ["explain", str(multiclass), *TEXTS, "--out", str(out),
                                      "--class", "mid"])
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert all("not mid (0)" in s and "P(mid) = " in s for s in _sections(page))
    mid = clf.token_scores(TEXTS[:1], target="mid")[0]
    assert f'title="P(mid) = {mid.scores[0]:.3f}' in page  # [CLS]: "... (special token)"

    result = CliRunner().invoke(cli, ["explain", str(multiclass), *TEXTS, "--out", str(out),
                                      "--class", "sport"])
    assert result.exit_code != 0
    assert "unknown class 'sport'; the classes are mid, neg, pos" in result.output


def test_explain_methods(multiclass, tmp_path):
    clf = STCClassifier.load(multiclass)
    out = tmp_path / "x.html"
    runner = CliRunner()
    result = runner.invoke(cli, ["explain", str(multiclass), *TEXTS, "--out", str(out),
                                 "--method", "attribution"])
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert "exact attribution" in page and "token-wise" not in page
    explained = clf.explain(TEXTS)
    lines = result.stdout.splitlines()
    assert lines[-1] == f"wrote {out}" and len(lines) == len(TEXTS) + 1
    for line, e, text in zip(lines, explained, TEXTS):
        predicted, logit, top, shown = line.split("\t")
        assert (predicted, shown) == (str(e.predicted), text)
        assert logit == (f"logit({e.target}) {e.logit:+.2f} = intercept {e.intercept:+.2f} + "
                         f"tokens {e.shares.sum():+.2f}")
        assert top == ", ".join(f"{t} {s:+.2f}" for t, s in e.largest())
    result = runner.invoke(cli, ["explain", str(multiclass), *TEXTS, "--out", str(out),
                                 "--method", "tokenwise"])
    assert result.exit_code == 0 and result.stdout == f"wrote {out}\n"
    assert "exact attribution" not in out.read_text()
    result = runner.invoke(cli, ["explain", str(multiclass), "a", "--method", "lime"])
    assert result.exit_code != 0 and "lime" in result.output
