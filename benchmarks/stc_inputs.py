"""Inputs the STC benchmarks share: an RT snippets sample, a CSV of it, the ``--quick`` grids."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Sequence


def sample_rt_snippets(n_texts: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """``(texts, labels)``: ``n_texts`` bundled RT snippets, stratified by label (all if fewer)."""
    from sklearn.model_selection import train_test_split

    from stc_gpu.data.readers import read_column
    from stc_gpu.data.demo import demo_data_path

    texts = [str(t) for t in read_column(demo_data_path(), "text")]
    labels = [str(y) for y in read_column(demo_data_path(), "label")]
    if n_texts >= len(texts):
        return texts, labels
    texts, _, labels, _ = train_test_split(texts, labels, train_size=n_texts, stratify=labels,
                                           random_state=seed)
    return list(texts), list(labels)


def write_labelled_csv(path: Path, texts: Sequence[str], labels: Sequence) -> Path:
    """``path`` as a CSV with columns ``text`` and ``label``."""
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["text", "label"])
        writer.writerows(zip(texts, labels))
    return path


#: The reduced grids of ``--quick`` runs (full runs use the paper's, the STCConfig defaults).
QUICK_GRIDS = dict(pools=["mean", "max"], C_grid=[0.1, 1.0, 10.0], eta_grid=[0.01, 0.1, 0.5])


def describe_grids(grids: dict) -> str:
    """A benchmark note naming the grids that override the defaults (none: the paper's)."""
    if not grids:
        return "grids: the paper's (3 pools x 2 kinds, 5 C, 10 eta)"
    return "grids: " + ", ".join(f"{k}={v}" for k, v in grids.items())
