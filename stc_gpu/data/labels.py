"""Label encoding: any label values (strings or integers) to class codes 0..K-1."""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

_KINDS = ("str", "int")


class LabelEncoder:
    """Maps label values to codes 0..K-1 in sorted order of the classes.

    Labels are all strings or all integers (integral floats such as ``1.0``, as pandas reads an
    integer column with gaps, count as integers; booleans as 0/1). Missing labels (None, NaN,
    empty strings) and fewer than two classes are errors naming the rows.

    Attributes
    ----------
    classes : list of str or list of int
        Sorted class values; code ``k`` stands for ``classes[k]``.
    kind : {"str", "int"}
    """

    def __init__(self, classes: Sequence[Any]):
        values, kind = _normalised(classes)
        if sorted(set(values)) != values:
            raise ValueError(f"classes must be sorted and distinct, got {list(classes)!r}")
        if len(values) < 2:
            raise ValueError(f"a classifier needs at least 2 classes, got {values!r}")
        self.classes: list = values
        self.kind: str = kind
        self._codes = {value: code for code, value in enumerate(values)}

    @classmethod
    def fit(cls, labels: Iterable[Any]) -> LabelEncoder:
        """Encoder for the classes found in ``labels`` (n,)."""
        values, _ = _normalised(labels)
        classes = sorted(set(values))
        if len(classes) < 2:
            raise ValueError(
                f"labels have {len(classes)} class(es) {classes!r} over {len(values)} rows; "
                "a classifier needs at least 2")
        return cls(classes)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def encode(self, labels: Iterable[Any]) -> np.ndarray:
        """Codes (n,) int64 of ``labels`` (n,); unknown values are an error naming the rows."""
        values, _ = _normalised(labels)
        codes = np.array([self._codes.get(v, -1) for v in values], dtype=np.int64)
        unknown = np.flatnonzero(codes < 0)
        if len(unknown):
            found = sorted({values[i] for i in unknown[:1000]}, key=repr)
            raise ValueError(f"labels {found[:10]!r} are not among the classes {self.classes!r} "
                             f"(rows {describe_rows(unknown)})")
        return codes

    def decode(self, codes: Iterable[int]) -> list:
        """Class values (n,) of codes (n,) in 0..K-1."""
        codes = np.asarray(codes)
        if codes.size and (not np.issubdtype(codes.dtype, np.integer)
                           or codes.min() < 0 or codes.max() >= self.n_classes):
            raise ValueError(f"codes must be integers in 0..{self.n_classes - 1}")
        return [self.classes[int(c)] for c in codes.reshape(-1)]

    def to_json(self) -> dict:
        """A JSON-able dict: ``{"classes": [...], "kind": "str" | "int"}``."""
        return {"classes": list(self.classes), "kind": self.kind}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LabelEncoder:
        """The encoder :meth:`to_json` described."""
        if not isinstance(data, Mapping) or "classes" not in data:
            raise ValueError(f"not a label encoder description: {data!r}")
        encoder = cls(data["classes"])
        if data.get("kind", encoder.kind) != encoder.kind:
            raise ValueError(f"label kind {data['kind']!r} does not match classes {encoder.classes!r}")
        return encoder

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LabelEncoder) and other.classes == self.classes

    def __repr__(self) -> str:
        return f"LabelEncoder(classes={self.classes!r})"


def _normalised(labels: Iterable[Any]) -> tuple[list, str]:
    """Labels as a list of Python str or int values, and which of the two they are."""
    if isinstance(labels, (str, bytes)):
        raise ValueError("labels must be a sequence of values, not a single string")
    values, kinds, missing, bad = [], [], [], []
    for row, value in enumerate(labels.tolist() if isinstance(labels, np.ndarray) else labels):
        value = value.item() if isinstance(value, np.generic) else value
        if _is_missing(value):
            missing.append(row)
            value, kind = None, None
        elif isinstance(value, str):
            kind = "str"
        elif isinstance(value, (bool, int)):
            value, kind = int(value), "int"
        elif isinstance(value, float) and value.is_integer():
            value, kind = int(value), "int"
        else:
            bad.append(row)
            kind = None
        values.append(value)
        kinds.append(kind)
    if missing:
        raise ValueError(f"labels are missing at rows {describe_rows(missing)} ({len(missing)} in all)")
    if bad:
        raise ValueError(f"labels must be strings or integers; rows {describe_rows(bad)} hold "
                         f"{values[bad[0]]!r}")
    found = set(kinds)
    if len(found) > 1:
        minority = min(found, key=kinds.count)
        rows = [i for i, k in enumerate(kinds) if k == minority]
        raise ValueError(f"labels mix strings and integers (rows {describe_rows(rows)} are {minority}); "
                         "use one type")
    return values, (found.pop() if found else "str")


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    if isinstance(value, str) and not value.strip():
        return True
    return type(value).__name__ in ("NAType", "NaTType")


def describe_rows(rows: Sequence[int], shown: int = 10) -> str:
    """``[3, 17, ... (n more)]``: row numbers for an error message."""
    rows = [int(r) for r in rows]
    more = f", ... ({len(rows) - shown} more)" if len(rows) > shown else ""
    return "[" + ", ".join(map(str, rows[:shown])) + more + "]"
