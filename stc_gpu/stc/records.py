"""Helpers over result records (lists of dicts) shared by the tables and the plots.

Record fields (the results schema):

- probes: ``kind, pool, layer, C, alpha, val_acc, val_f1, nnz, n_iter`` (every fit);
- probe_best: ``kind, pool, layer, C, val_acc, val_f1`` (+ optional ``test_acc, test_f1``);
- aggregation: ``kind, pool, eta, L_temp, C, n_features, val_acc, val_f1`` (+ optional
  ``n_layers``, ``test_acc, test_f1``). ``L_temp`` is the deepest layer aggregated (layers
  ``0..L_temp``, paper §3.4), so ``n_layers`` defaults to ``L_temp + 1``.
"""
from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

from stc_gpu.metrics import metric_key

Record = Mapping[str, Any]

__all__ = ["Record", "metric_key", "matching", "only_value", "best_per", "n_layers"]


def matching(rows: Iterable[Record], **criteria: Any) -> list[Record]:
    """The rows whose fields equal every criterion that is not None."""
    wanted = {key: value for key, value in criteria.items() if value is not None}
    return [row for row in rows if all(row.get(key) == value for key, value in wanted.items())]


def only_value(rows: Sequence[Record], key: str) -> Any:
    """The one value ``key`` takes over ``rows``; an error naming the values when there are more."""
    values = sorted({row.get(key) for row in rows}, key=repr)
    if len(values) != 1:
        raise ValueError(f"the rows hold {len(values)} values of {key!r} ({values}); choose one "
                         f"with {key}=...")
    return values[0]


def best_per(rows: Iterable[Record], keys: Sequence[str], score: str) -> dict[tuple[Hashable, ...], Record]:
    """For each distinct value of ``keys``, the row with the highest ``score`` (first on ties)."""
    best: dict[tuple[Hashable, ...], Record] = {}
    for row in rows:
        group = tuple(row.get(key) for key in keys)
        if row.get(score) is None:
            continue
        if group not in best or row[score] > best[group][score]:
            best[group] = row
    return best


def n_layers(row: Record) -> int:
    """Number of layers an aggregation row gathers neurons from."""
    return int(row["n_layers"]) if row.get("n_layers") is not None else int(row["L_temp"]) + 1


def best_per_layer(rows: list[Record], metric: str, keys=("kind", "pool", "layer")
                   ) -> list[Record]:
    """The best row per ``keys`` on validation (``val_acc`` or ``val_f1``, by ``metric``),
    ties to the smaller C."""
    by_C = sorted(rows, key=lambda r: r["C"])
    return list(best_per(by_C, keys, f"val_{metric_key(metric)}").values())
