"""Multi-label tasks: a set of labels per row, as an indicator matrix, checked and split.

A label set comes from a list column (Parquet, JSONL) or from text joined by a separator
(``"comp|sys"``); an empty set (an empty or null cell, an empty list) is legitimate: no label
applies. Every label becomes one binary task, so each must occur in at least
:data:`~stc_gpu.data.splits.MIN_SPLIT_ROWS` rows and be absent from as many, and the split must
give each label rows in train, validation and test; every message names the label and what to do.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from stc_gpu.data.splits import MIN_SPLIT_ROWS, SPLIT_NAMES, Splits, make_splits

_SPLIT_TITLES = {"train": "train", "val": "validation", "test": "test"}


@dataclass(frozen=True, eq=False)
class LabelSets:
    """The label sets of n rows: ``names`` (L,) sorted label names and ``Y`` (n, L) bool,
    ``Y[i, l]`` when label ``names[l]`` applies to row i."""

    names: tuple[str, ...]
    Y: np.ndarray

    def __post_init__(self) -> None:
        Y = np.asarray(self.Y)
        if Y.ndim != 2 or Y.shape[1] != len(self.names):
            raise ValueError(f"Y must be (n, {len(self.names)}) for labels {list(self.names)}, "
                             f"got shape {Y.shape}")
        if not np.isin(Y, (0, 1)).all():
            raise ValueError("Y must hold 0/1 (or bool) values")
        if len(set(self.names)) != len(self.names) or not all(
                isinstance(n, str) and n for n in self.names):
            raise ValueError(f"label names must be distinct non-empty strings, got "
                             f"{list(self.names)}")
        object.__setattr__(self, "names", tuple(self.names))
        object.__setattr__(self, "Y", Y.astype(bool))

    @classmethod
    def from_sets(cls, sets: Iterable, names: Sequence[str] | None = None,
                  separator: str = "|") -> "LabelSets":
        """From one label set per row (see :func:`parse_label_sets`); ``names`` default to every
        label found, sorted; a label outside given ``names`` is an error naming its row."""
        rows = parse_label_sets(sets, separator)
        names = tuple(sorted({label for row in rows for label in row}) if names is None
                      else names)
        column = {name: j for j, name in enumerate(names)}
        Y = np.zeros((len(rows), len(names)), dtype=bool)
        for i, row in enumerate(rows):
            for label in row:
                if label not in column:
                    raise ValueError(f"row {i}: label {label!r} is not among {list(names)}")
                Y[i, column[label]] = True
        return cls(names, Y)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, LabelSets) and other.names == self.names
                and np.array_equal(other.Y, self.Y))

    @property
    def n_rows(self) -> int:
        return self.Y.shape[0]

    def sets(self) -> list[tuple[str, ...]]:
        """(n,) the label set of each row, labels in ``names`` order."""
        return [tuple(self.names[j] for j in np.flatnonzero(row)) for row in self.Y]

    def column(self, label: str) -> np.ndarray:
        """(n,) int64: 1 where ``label`` applies, else 0 (the binary task of one label)."""
        return self.Y[:, self.names.index(label)].astype(np.int64)


def parse_label_sets(values: Iterable, separator: str = "|") -> list[tuple[str, ...]]:
    """(n,) label sets, each a sorted tuple of distinct names, from raw column values.

    A value is text split at ``separator`` (pieces stripped, blank ones dropped), a list / tuple /
    set of strings or integers, or empty: None, NaN, ``""`` or ``[]`` (no label applies).
    """
    out = []
    for row, value in enumerate(values):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            items: list = []
        elif isinstance(value, str):
            items = value.split(separator)
        elif isinstance(value, (list, tuple, set, frozenset, np.ndarray)):
            items = list(value)
            bad = [v for v in items if isinstance(v, bool) or not isinstance(v, (str, int))]
            if bad:
                raise ValueError(f"row {row}: label {bad[0]!r} is not a string or an integer")
        else:
            raise ValueError(f"row {row}: {value!r:.40} is not a label set (text joined by "
                             f"{separator!r}, or a list)")
        out.append(tuple(sorted({str(v).strip() for v in items} - {""})))
    return out


def check_label_sets(labels: LabelSets) -> None:
    """Every label must be present in, and absent from, at least ``MIN_SPLIT_ROWS`` rows.

    ValueError on the first bad label, saying what to do (the other bad labels are named too).
    """
    if not labels.names:
        raise ValueError("every label set is empty, so there is no label to learn; check the "
                         "label column and the label separator")
    n = labels.n_rows
    problems = []
    for name, count in zip(labels.names, labels.Y.sum(axis=0).tolist()):
        if count == 0:
            problems.append((name, f"label {name!r} occurs in no row: drop it from the labels"))
        elif count == n:
            problems.append((name, f"label {name!r} applies to every row ({n} of {n}), so there "
                                   "is nothing to tell apart: drop it, or add rows without it"))
        elif count < MIN_SPLIT_ROWS:
            problems.append((name, f"label {name!r} occurs in only {count} row(s); a train/"
                                   f"validation/test split needs at least {MIN_SPLIT_ROWS}: add "
                                   "rows with it, or drop it"))
        elif n - count < MIN_SPLIT_ROWS:
            problems.append((name, f"label {name!r} is absent from only {n - count} row(s); a "
                                   f"train/validation/test split needs at least {MIN_SPLIT_ROWS} "
                                   "rows without it: add such rows, or drop it"))
    if problems:
        raise ValueError(problems[0][1] + _others(problems))


def _others(problems: list) -> str:
    if len(problems) == 1:
        return ""
    return f" (also: {', '.join(repr(name) for name, _ in problems[1:])})"


def split_label_sets(labels: LabelSets, *, val_fraction: float, test_fraction: float | None,
                     given: Sequence[str] | None = None, seed: int = 0) -> Splits:
    """Train / validation / test rows shared by every label (stratified, reproducible).

    The draws are stratified on each row's label combination, combinations of fewer than
    ``MIN_SPLIT_ROWS`` rows pooled together; ``given`` and the fractions are those of
    :func:`~stc_gpu.data.splits.make_splits`.
    """
    pool = np.arange(labels.n_rows)
    if given is not None:
        pool = np.flatnonzero(np.array([str(v).strip().lower() == "train" for v in given]))
    return make_splits(_strata(labels.Y, pool), val_fraction=val_fraction,
                       test_fraction=test_fraction, given=given, seed=seed)


def _strata(Y: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """(n,) stratum codes: a row's label combination, counted over the ``pool`` rows that the
    draws split; combinations rarer than ``MIN_SPLIT_ROWS`` there share one stratum (merged
    into the largest while still too rare). Rows outside the pool take a stratum of the pool."""
    keys = [row.tobytes() for row in np.packbits(Y, axis=1)]
    counts = Counter(keys[i] for i in pool)
    common = {key for key, count in counts.items() if count >= MIN_SPLIT_ROWS}
    rare = sum(count for key, count in counts.items() if key not in common)
    largest = max(counts, key=lambda key: (counts[key], key)) if counts else None
    pooled = b"rare" if rare >= MIN_SPLIT_ROWS else largest
    strata = np.array([k if k in common else pooled for k in keys], dtype=object)
    codes = np.unique(strata, return_inverse=True)[1].astype(np.int64)
    if len(np.unique(codes[pool])) < 2:  # one stratum: nothing to stratify on
        codes = np.arange(len(keys)) % 2
    return codes


def check_splits(labels: LabelSets, splits: Splits) -> None:
    """Each label must have rows in train, validation and test, and train rows without it.

    ValueError on the first label that does not, naming where its rows are and what to do.
    """
    counts = {name: labels.Y[getattr(splits, name)].sum(axis=0) for name in SPLIT_NAMES}
    drawn = any(how != "given" for how in splits.how.values())
    fix = ("draw other splits (--seed), give a --split-column, or drop the label" if drawn
           else "move some of its rows to the other splits in the split column, or drop the label")
    problems = []
    for j, name in enumerate(labels.names):
        per_split = {split: int(counts[split][j]) for split in SPLIT_NAMES}
        where = ", ".join(f"{_SPLIT_TITLES[s]} {k}" for s, k in per_split.items() if k)
        present = [s for s, k in per_split.items() if k]
        if len(present) == 1:
            problems.append((name, f"label {name!r} occurs only in the {_SPLIT_TITLES[present[0]]}"
                                   f" split ({per_split[present[0]]} rows); train, validation and "
                                   f"test each need rows with it: {fix}"))
        elif len(present) == 2:
            absent = next(_SPLIT_TITLES[s] for s, k in per_split.items() if k == 0)
            problems.append((name, f"label {name!r} occurs in no {absent} row (its rows: "
                                   f"{where}); train, validation and test each need rows with "
                                   f"it: {fix}"))
        elif per_split["train"] == len(splits.train):
            problems.append((name, f"label {name!r} applies to every train row, so its classifier "
                                   f"has nothing to tell apart: {fix}"))
    if problems:
        raise ValueError(problems[0][1] + _others(problems))


def label_counts(labels: LabelSets, splits: Splits) -> dict[str, dict[str, int]]:
    """label -> split name -> rows it applies to (JSON-able)."""
    per_split = {name: labels.Y[getattr(splits, name)].sum(axis=0) for name in SPLIT_NAMES}
    return {label: {split: int(per_split[split][j]) for split in SPLIT_NAMES}
            for j, label in enumerate(labels.names)}

