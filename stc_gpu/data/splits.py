"""Train / validation / test splits: stratified, reproducible from a recorded seed (paper §4.1).

A predefined split column is used as given; when it has no validation rows, a stratified share of
its training rows becomes the validation split, as the paper does.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

from stc_gpu.data.labels import LabelEncoder, describe_rows

SPLIT_NAMES = ("train", "val", "test")
_GIVEN_ALIASES = {"train": "train", "validation": "val", "val": "val", "valid": "val", "dev": "val",
                  "test": "test"}
DEFAULT_TEST_FRACTION = 0.2
#: Rows of a class (or of a label) that a drawn train / validation / test split needs at least.
MIN_SPLIT_ROWS = 3


@dataclass(frozen=True, eq=False)
class Splits:
    """Row indices of each split, sorted ascending, and how they were made.

    Attributes
    ----------
    train, val, test : int64 arrays
        Disjoint row indices covering every row.
    seed : int
        Seed of every random draw that made them.
    how : dict
        For each split name, a sentence saying where its rows came from.
    """

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    seed: int
    how: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        """A JSON-able dict (index lists, seed, how)."""
        return {**{name: getattr(self, name).tolist() for name in SPLIT_NAMES},
                "seed": self.seed, "how": dict(self.how)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Splits:
        """The splits :meth:`to_json` described."""
        missing = [key for key in (*SPLIT_NAMES, "seed") if key not in data]
        if missing:
            raise ValueError(f"split description lacks {missing}")
        arrays = {name: np.asarray(data[name], dtype=np.int64).reshape(-1) for name in SPLIT_NAMES}
        return cls(**arrays, seed=int(data["seed"]), how=dict(data.get("how", {})))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Splits) and self.to_json() == other.to_json()

    def sizes(self) -> dict[str, int]:
        """Number of rows of each split."""
        return {name: len(getattr(self, name)) for name in SPLIT_NAMES}


def make_splits(y: Sequence[Any], *, val_fraction: float = 0.2, test_fraction: float | None = None,
                given: Sequence[str] | None = None, seed: int = 0) -> Splits:
    """Stratified train / validation / test splits of labelled rows.

    Parameters
    ----------
    y : (n,) labels (any values :class:`LabelEncoder` accepts)
    val_fraction : float in (0, 1)
        Share of the training rows carved out as validation when none is given.
    test_fraction : float in (0, 1) or None
        Share of all rows (of the given training rows, with ``given``) carved out as test.
        None: 0.2 without ``given``; with ``given``, the given test rows (an error if there are
        none). A number together with given test rows is an error.
    given : (n,) split names or None
        A predefined split per row: "train", "validation" (or "val", "valid", "dev"), "test".
    seed : int >= 0
        Seed of the random draws; the same inputs and seed give the same splits.
    """
    encoder = LabelEncoder.fit(y)
    codes = encoder.encode(y)
    seed = _checked_seed(seed)
    _check_fraction("val_fraction", val_fraction)
    if test_fraction is not None:
        _check_fraction("test_fraction", test_fraction)

    if given is None:
        fraction = DEFAULT_TEST_FRACTION if test_fraction is None else test_fraction
        rest, test = _stratified(np.arange(len(codes)), codes, fraction, seed, encoder, "all rows")
        train, val = _stratified(rest, codes, val_fraction, seed, encoder, "the non-test rows")
        how = {"train": "the rest",
               "val": f"stratified {val_fraction:g} of the non-test rows",
               "test": f"stratified {fraction:g} of all rows"}
    else:
        train, val, test, how = _from_given(given, codes, val_fraction, test_fraction, seed, encoder)

    absent = sorted(set(range(encoder.n_classes)) - set(codes[train].tolist()))
    if absent:
        raise ValueError(f"classes {encoder.decode(absent)!r} have no training rows")
    return Splits(train=train, val=val, test=test, seed=seed, how=how)


def _from_given(given, codes, val_fraction, test_fraction, seed, encoder):
    names = _given_names(given, len(codes))
    train, val, test = (np.flatnonzero(names == name) for name in SPLIT_NAMES)
    how = {name: "given" for name in SPLIT_NAMES}
    if len(train) == 0:
        raise ValueError("the split column has no 'train' rows")
    if len(test) and test_fraction is not None:
        raise ValueError(f"the split column already has {len(test)} 'test' rows; "
                         "do not pass test_fraction as well")
    if len(test) == 0:
        if test_fraction is None:
            raise ValueError("the split column has no 'test' rows; pass test_fraction to carve a "
                             "stratified test split from the training rows")
        train, test = _stratified(train, codes, test_fraction, seed, encoder, "the given train rows")
        how["test"] = f"stratified {test_fraction:g} of the given train rows"
    if len(val) == 0:
        train, val = _stratified(train, codes, val_fraction, seed, encoder, "the given train rows")
        how["val"] = f"stratified {val_fraction:g} of the given train rows"
    if how["val"] != "given" or how["test"] != "given":
        how["train"] = "the given train rows left"
    return train, val, test, how


def _given_names(given: Sequence[str], n: int) -> np.ndarray:
    """Canonical split names (n,) of a predefined split column."""
    raw = list(given.tolist() if isinstance(given, np.ndarray) else given)
    if len(raw) != n:
        raise ValueError(f"the split column has {len(raw)} rows but there are {n} labels")
    names = [_GIVEN_ALIASES.get(str(v).strip().lower()) if v is not None else None for v in raw]
    bad = [i for i, name in enumerate(names) if name is None]
    if bad:
        raise ValueError(f"split values must be train, validation or test; rows {describe_rows(bad)} "
                         f"hold {raw[bad[0]]!r}")
    return np.array(names)


def _stratified(pool: np.ndarray, codes: np.ndarray, fraction: float, seed: int,
                encoder: LabelEncoder, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Split ``pool`` (m,) row ids into (kept, held out), ``fraction`` of each class held out."""
    counts = np.bincount(codes[pool], minlength=encoder.n_classes)
    small = [k for k, count in enumerate(counts) if 0 < count < 2]
    if small:
        raise ValueError(f"classes {encoder.decode(small)!r} have fewer than 2 rows in {what}; "
                         "a stratified split needs at least 2 per class")
    try:
        kept, held = train_test_split(pool, test_size=fraction, stratify=codes[pool], random_state=seed)
    except ValueError as error:
        raise ValueError(f"cannot split {fraction:g} of {what} ({len(pool)} rows, "
                         f"{np.count_nonzero(counts)} classes) stratified: {error}") from None
    return np.sort(kept).astype(np.int64), np.sort(held).astype(np.int64)


def _check_fraction(name: str, value: float) -> None:
    if not isinstance(value, (int, float)) or not 0.0 < float(value) < 1.0:
        raise ValueError(f"{name} must be a number in (0, 1), got {value!r}")


def _checked_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an integer in [0, 2**32), got {seed!r}")
    return int(seed)
