"""A labelled toy corpus with a planted signal, and a tiny random model saved to a folder."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from stc_gpu.models.synthetic import random_model_and_tokenizer

FILLER = ("the a movie film plot actors scene story it was is and of to in this that with for "
          "music ending camera script").split()
POSITIVE = ("good", "great", "wonderful", "superb")
NEGATIVE = ("bad", "awful", "boring", "terrible")
NEUTRAL = ("okay", "average", "decent", "fine")
CLASS_WORDS = {"pos": POSITIVE, "neg": NEGATIVE, "mid": NEUTRAL}


def planted_corpus(n: int = 160, seed: int = 0, n_classes: int = 2) -> tuple[list[str], list[str]]:
    """``(texts, labels)``: each text holds filler words and one word of its label's class
    (classes pos, neg, and mid when ``n_classes == 3``)."""
    rng = np.random.default_rng(seed)
    names = list(CLASS_WORDS)[:n_classes]
    texts, labels = [], []
    for i in range(n):
        label = names[i % n_classes]
        words = list(rng.choice(FILLER, size=rng.integers(3, 12)))
        words.insert(int(rng.integers(0, len(words) + 1)), str(rng.choice(CLASS_WORDS[label])))
        texts.append(" ".join(words))
        labels.append(label)
    return texts, labels


def write_corpus(path: Path, texts, labels, **extra_columns) -> Path:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label", *extra_columns])
        for i, (t, y) in enumerate(zip(texts, labels)):
            writer.writerow([t, y, *(col[i] for col in extra_columns.values())])
    return path


def save_tiny_model(folder: Path, family: str = "bert", texts=()) -> Path:
    """Save a 3-layer random model and its tokenizer so ``--model folder`` loads it offline."""
    model, tokenizer = random_model_and_tokenizer(
        family, list(texts) + [" ".join(FILLER + list(POSITIVE + NEGATIVE + NEUTRAL))])
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


#: Words planted for each label of :func:`planted_label_sets`.
LABEL_WORDS = {"loud": ("drums", "guitar", "trumpet"), "wet": ("rain", "river", "ocean")}


def planted_label_sets(n: int = 240, seed: int = 0) -> tuple[list[str], list[str]]:
    """``(texts, tags)``: each label of :data:`LABEL_WORDS` applies to a row independently (a
    third of the rows each), and a text holds filler words and one word of each label that
    applies; ``tags`` joins a row's labels with "|" (empty: none)."""
    rng = np.random.default_rng(seed)
    texts, tags = [], []
    for _ in range(n):
        applies = [name for name in LABEL_WORDS if rng.random() < 1 / 3]
        words = list(rng.choice(FILLER, size=rng.integers(3, 10)))
        for name in applies:
            words.insert(int(rng.integers(0, len(words) + 1)), str(rng.choice(LABEL_WORDS[name])))
        texts.append(" ".join(words))
        tags.append("|".join(applies))
    return texts, tags
