"""The fine-tuning baseline: every weight of the model trained for one epoch with a classification head.

``finetune_one_epoch`` is what STC's training cost is compared with (section 5.2 of the paper):
``AutoModelForSequenceClassification`` on the base model folder, AdamW, a linear learning-rate
decay to zero over one epoch, no warm-up. Run ``python -m benchmarks.finetune`` to time it on the
bundled Rotten Tomatoes snippets.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import gzip
import json
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from sklearn.metrics import accuracy_score, f1_score
from tqdm.auto import tqdm

from stc_gpu.models.loading import resolve_model_path
from stc_gpu.vocabulary import DEFAULT_MODEL

RT_SNIPPETS = Path(__file__).resolve().parents[1] / "stc_gpu" / "demo" / "rt_snippets.csv.gz"


def _encode_labels(train_labels: Sequence, test_labels: Sequence) -> tuple[list, np.ndarray,
                                                                            np.ndarray]:
    classes = sorted(set(train_labels))
    if len(classes) < 2:
        raise ValueError(f"the training labels hold {len(classes)} class; need at least 2")
    index = {label: i for i, label in enumerate(classes)}
    unseen = sorted(set(test_labels) - set(index), key=str)
    if unseen:
        raise ValueError(f"test labels {unseen[:5]} do not occur in the training labels")
    return (classes, np.array([index[y] for y in train_labels]),
            np.array([index[y] for y in test_labels]))


def _autocast(device: torch.device, mixed_precision: bool):
    if mixed_precision and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def finetune_one_epoch(model_name_or_path: str, train_texts: Sequence[str],
                       train_labels: Sequence, test_texts: Sequence[str], test_labels: Sequence,
                       *, device: str = "cpu", batch_size: int = 32, lr: float = 5e-5,
                       max_length: int = 128, seed: int = 0,
                       mixed_precision: bool = True) -> dict:
    """Fine-tune all weights of a base model plus a new classification head for one epoch.

    Parameters
    ----------
    model_name_or_path : str
        A base model folder (or a name :func:`stc_gpu.models.loading.resolve_model_path` knows).
    train_texts, train_labels, test_texts, test_labels : sequences of equal pairwise length
        Labels of any hashable type; classes are the sorted distinct training labels.
    device : str
        Torch device; on CUDA the forward and backward run under bf16 autocast unless
        ``mixed_precision`` is False (weights and optimizer state stay fp32).
    batch_size, lr, max_length, seed
        Mini-batch size, AdamW peak learning rate (decays linearly to 0), truncation length, and
        the seed of the head's initialisation and the shuffling.

    Returns
    -------
    dict
        ``wall_s`` (training, one epoch), ``eval_wall_s``, ``texts_per_s`` (training),
        ``test_acc``, ``test_f1`` (macro), ``n_params_trained``, ``n_train``, ``n_test``,
        ``n_steps``, ``final_loss``, ``device``.
    """
    from transformers import (AutoModelForSequenceClassification, AutoTokenizer,
                              get_linear_schedule_with_warmup)

    if len(train_texts) != len(train_labels) or len(test_texts) != len(test_labels):
        raise ValueError("texts and labels differ in length")
    if not len(train_texts) or not len(test_texts):
        raise ValueError("need at least one training and one test text")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    classes, y_train, y_test = _encode_labels(train_labels, test_labels)
    torch_device = torch.device(device)

    path = resolve_model_path(model_name_or_path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:  # GPT-2 style tokenizers have none
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=len(classes))
    model.config.pad_token_id = tokenizer.pad_token_id
    model.to(torch_device).train()
    trainable = [p for p in model.parameters() if p.requires_grad]

    n_steps = -(-len(train_texts) // batch_size)
    optimizer = torch.optim.AdamW(trainable, lr=lr)
    schedule = get_linear_schedule_with_warmup(optimizer, 0, n_steps)
    order = torch.randperm(len(train_texts), generator=torch.Generator().manual_seed(seed))

    def batch(texts: Sequence[str], rows) -> dict:
        encoded = tokenizer([texts[i] for i in rows], padding=True, truncation=True,
                            max_length=max_length, return_tensors="pt")
        return {name: tensor.to(torch_device) for name, tensor in encoded.items()}

    _synchronize(torch_device)
    start = time.perf_counter()
    loss = torch.tensor(float("nan"))
    for rows in tqdm(order.split(batch_size), desc="fine-tuning", unit="batch"):
        labels = torch.as_tensor(y_train[rows.numpy()], device=torch_device)
        with _autocast(torch_device, mixed_precision):
            loss = model(**batch(train_texts, rows.tolist()), labels=labels).loss
        loss.backward()
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
    _synchronize(torch_device)
    wall_s = time.perf_counter() - start

    model.eval()
    predictions = []
    start = time.perf_counter()
    with torch.no_grad(), _autocast(torch_device, mixed_precision):
        for rows in tqdm(torch.arange(len(test_texts)).split(batch_size), desc="testing",
                         unit="batch"):
            logits = model(**batch(test_texts, rows.tolist())).logits
            predictions.append(logits.argmax(-1).cpu())
    eval_wall_s = time.perf_counter() - start
    predicted = torch.cat(predictions).numpy()
    return {"wall_s": wall_s, "eval_wall_s": eval_wall_s,
            "texts_per_s": len(train_texts) / wall_s,
            "test_acc": float(accuracy_score(y_test, predicted)),
            "test_f1": float(f1_score(y_test, predicted, average="macro")),
            "n_params_trained": sum(p.numel() for p in trainable),
            "n_train": len(train_texts), "n_test": len(test_texts), "n_steps": n_steps,
            "final_loss": float(loss.detach()), "device": str(torch_device)}


def _read_rt_snippets() -> tuple[list[str], list[str]]:
    with gzip.open(RT_SNIPPETS, "rt", encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    return [row["text"] for row in rows], [row["label"] for row in rows]


def main(argv: list[str] | None = None) -> dict:
    """Time the baseline on a stratified sample of the bundled Rotten Tomatoes snippets."""
    from sklearn.model_selection import train_test_split

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--n-train", type=int, default=1000)
    parser.add_argument("--n-test", type=int, default=500)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="write the result here")
    args = parser.parse_args(argv)
    texts, labels = _read_rt_snippets()
    train_x, test_x, train_y, test_y = train_test_split(
        texts, labels, train_size=args.n_train, test_size=args.n_test, stratify=labels,
        random_state=args.seed)
    measured = finetune_one_epoch(args.model, train_x, train_y, test_x, test_y,
                                  device=args.device, batch_size=args.batch_size, lr=args.lr,
                                  max_length=args.max_length, seed=args.seed)
    result = {"model": args.model, "batch_size": args.batch_size, "lr": args.lr, **measured}
    print(json.dumps(result, indent=2))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
