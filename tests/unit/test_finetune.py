"""The fine-tuning baseline on a tiny random BERT saved to a folder (a few optimizer steps)."""
from __future__ import annotations

import pytest
import torch

import json

from benchmarks.finetune import finetune_one_epoch, main
from stc_gpu.models.synthetic import random_model_and_tokenizer
from tests.conftest import SAMPLE_TEXTS, cuda

LABELS = ["pos", "neg", "neg", "pos", "pos", "neg", "neg", "pos"]


@pytest.fixture(scope="module")
def tiny_bert_dir(tmp_path_factory):
    model, tokenizer = random_model_and_tokenizer("bert", SAMPLE_TEXTS)
    folder = tmp_path_factory.mktemp("tiny_bert")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def test_one_epoch_trains_every_weight_and_scores_the_test_texts(tiny_bert_dir):
    result = finetune_one_epoch(tiny_bert_dir, SAMPLE_TEXTS * 2, LABELS * 2, SAMPLE_TEXTS, LABELS,
                                batch_size=4, lr=1e-3, max_length=16)
    model, _ = random_model_and_tokenizer("bert", SAMPLE_TEXTS)
    head = 32 * 32 + 32 + 32 * 2 + 2  # pooler dense + classifier of a 32-wide BERT
    base_without_pooler = sum(p.numel() for p in model.parameters()) - (32 * 32 + 32)
    assert result["n_params_trained"] == base_without_pooler + head
    assert result["n_steps"] == 4 and result["n_train"] == 16 and result["n_test"] == 8
    assert 0.0 <= result["test_acc"] <= 1.0 and 0.0 <= result["test_f1"] <= 1.0
    assert result["wall_s"] > 0 and result["texts_per_s"] == pytest.approx(16 / result["wall_s"])
    assert torch.isfinite(torch.tensor(result["final_loss"]))


def test_same_seed_same_result(tiny_bert_dir):
    runs = [finetune_one_epoch(tiny_bert_dir, SAMPLE_TEXTS, LABELS, SAMPLE_TEXTS, LABELS,
                               batch_size=4, seed=3) for _ in range(2)]
    assert runs[0]["final_loss"] == runs[1]["final_loss"]
    assert runs[0]["test_acc"] == runs[1]["test_acc"]


def test_learns_a_separable_task(tiny_bert_dir):
    texts = ["great great great", "awful awful awful"] * 16
    labels = [1, 0] * 16
    result = finetune_one_epoch(tiny_bert_dir, texts, labels, texts[:4], labels[:4],
                                batch_size=4, lr=3e-3, seed=0)
    assert result["test_acc"] == 1.0


def test_command_line_samples_the_bundled_snippets(tiny_bert_dir, tmp_path):
    path = tmp_path / "ft.json"
    result = main(["--model", tiny_bert_dir, "--n-train", "24", "--n-test", "12",
                   "--batch-size", "8", "--lr", "1e-4", "--json", str(path)])
    assert json.loads(path.read_text()) == result
    assert (result["n_train"], result["n_test"], result["n_steps"]) == (24, 12, 3)
    assert result["lr"] == 1e-4 and result["model"] == tiny_bert_dir


@pytest.mark.parametrize("train_labels, test_labels, message", [
    (["a"] * 8, ["a"] * 8, "at least 2"),
    (LABELS, ["pos"] * 7 + ["other"], "do not occur"),
    (LABELS[:-1], LABELS, "differ in length"),
])
def test_bad_labels_are_named(tiny_bert_dir, train_labels, test_labels, message):
    with pytest.raises(ValueError, match=message):
        finetune_one_epoch(tiny_bert_dir, SAMPLE_TEXTS, train_labels, SAMPLE_TEXTS, test_labels)


@cuda
@pytest.mark.gpu
def test_runs_on_cuda(tiny_bert_dir):
    result = finetune_one_epoch(tiny_bert_dir, SAMPLE_TEXTS, LABELS, SAMPLE_TEXTS, LABELS,
                                device="cuda", batch_size=4)
    assert result["device"].startswith("cuda") and result["n_steps"] == 2
