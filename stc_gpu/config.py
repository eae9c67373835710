"""One typed, validated configuration for an STC run: defaults, a TOML file, CLI overrides.

The resolved config is saved beside the results (``config.json``) so a run can be reproduced.
"""
from __future__ import annotations

import dataclasses
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stc_gpu.vocabulary import (BACKENDS, DEFAULT_BLOCK_ROWS, DEFAULT_C_GRID, DEFAULT_ETA_GRID,
                                DEFAULT_FIT_THREADS, DEFAULT_MAX_ITER, DEFAULT_MODEL,
                                DEFAULT_MULTICLASS, DEFAULT_TOL, KINDS, METRICS,
                                MULTICLASS_MODES, POOLS)



@dataclass
class STCConfig:
    """Everything an ``stc-gpu run`` needs; every field has a sensible default.

    ``data=None`` means the bundled demo (RT snippets); ``max_texts=None`` means all rows;
    ``max_length=None`` the model's own limit; ``token_budget=None`` 8,192 tokens per batch, or
    ``max_length`` when that is larger; ``max_layer=None`` every layer (a ``max_layer`` stops the
    model there, so the references, which read its output, are left out). ``C_grid`` and
    ``eta_grid``: see the grids of :mod:`stc_gpu.vocabulary`.
    ``multi_label``: each label column holds a set of labels per row (a list in Parquet/JSONL, or
    text joined by ``label_separator``; empty means no label applies), and one binary STC is
    fitted per label.
    """

    model: str = DEFAULT_MODEL
    revision: str | None = None
    data: str | None = None
    text_column: str = "text"
    label_columns: list[str] = field(default_factory=lambda: ["label"])
    multi_label: bool = False
    label_separator: str = "|"
    split_column: str | None = None
    store: str = "stc_store"
    out: str = "stc_runs/latest"
    device: str | None = None
    dtype: str | None = None
    backend: str = "auto"
    kinds: list[str] = field(default_factory=lambda: list(KINDS))
    pools: list[str] = field(default_factory=lambda: list(POOLS))
    C_grid: list[float] = field(default_factory=lambda: list(DEFAULT_C_GRID))
    eta_grid: list[float] = field(default_factory=lambda: list(DEFAULT_ETA_GRID))
    combine_kinds: bool = False
    metric: str = "accuracy"
    multiclass: str = DEFAULT_MULTICLASS
    max_texts: int | None = None
    max_length: int | None = None
    max_layer: int | None = None
    max_iter: int = DEFAULT_MAX_ITER
    tol: float = DEFAULT_TOL
    #: Newton steps without a validation gain after which a fit stops (the paper treats the
    #: number of iterations as a hyper-parameter chosen on validation); None: never
    patience: int | None = 5
    val_fraction: float = 0.2
    test_fraction: float = 0.2
    seed: int = 0
    block_rows: int = DEFAULT_BLOCK_ROWS
    token_budget: int | None = None
    workers: int | None = None
    scheduler: str | None = None
    #: in-process tasks of the search at once (:class:`stc_gpu.executors.LocalExecutor`)
    fit_threads: int = DEFAULT_FIT_THREADS

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad field."""
        def bad(name: str, why: str) -> None:
            raise ValueError(f"config: {name} {why}")

        if isinstance(self.label_columns, str):
            self.label_columns = [self.label_columns]
        if not self.label_columns:
            bad("label_columns", "must name at least one label column")
        for name, allowed in (("kinds", KINDS), ("pools", POOLS)):
            values = getattr(self, name)
            if isinstance(values, str):
                values = [v.strip() for v in values.split(",") if v.strip()]
                setattr(self, name, values)
            if not values or any(v not in allowed for v in values):
                bad(name, f"must be a non-empty subset of {allowed}, got {values}")
        self.C_grid = _grid(self.C_grid, "C_grid", "must be distinct positive numbers",
                            lambda c: 0 < c < math.inf)
        self.eta_grid = _grid(self.eta_grid, "eta_grid", "must be distinct numbers in (0, 1]",
                              lambda e: 0 < e <= 1)
        if self.multiclass not in MULTICLASS_MODES:
            bad("multiclass", f"must be one of {MULTICLASS_MODES}, got {self.multiclass!r}")
        if self.metric not in METRICS:
            bad("metric", f"must be one of {METRICS}, got {self.metric!r}")
        if self.backend not in BACKENDS:
            bad("backend", f"must be one of {BACKENDS}, got {self.backend!r}")
        if self.max_texts is not None and self.max_texts < 10:
            bad("max_texts", f"must be at least 10, got {self.max_texts}")
        for name in ("val_fraction", "test_fraction"):
            if not 0 < getattr(self, name) < 0.5:
                bad(name, f"must lie in (0, 0.5), got {getattr(self, name)}")
        if self.max_iter < 1:
            bad("max_iter", "must be at least 1")
        if self.patience is not None and self.patience < 1:
            bad("patience", f"must be at least 1 (or None), got {self.patience}")
        if not self.tol > 0:
            bad("tol", f"must be positive, got {self.tol}")
        if self.workers is not None and self.workers < 1:
            bad("workers", f"must be at least 1, got {self.workers}")
        if self.fit_threads < 1:
            bad("fit_threads", f"must be at least 1, got {self.fit_threads}")
        if not isinstance(self.label_separator, str) or not self.label_separator:
            bad("label_separator", f"must be a non-empty string, got {self.label_separator!r}")
        if self.max_layer is not None and self.max_layer < 0:
            bad("max_layer", f"must be at least 0 (or None), got {self.max_layer}")
        for name in ("max_length", "token_budget"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                bad(name, f"must be at least 1 (or None), got {getattr(self, name)}")

    @classmethod
    def from_toml(cls, path: str | Path, **overrides: Any) -> "STCConfig":
        """Read a TOML file (flat keys, as the field names) and apply non-None ``overrides``."""
        with open(path, "rb") as f:
            values = tomllib.load(f)
        values = values.get("stc", values)
        return cls.from_dict({**values, **{k: v for k, v in overrides.items() if v is not None}})

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "STCConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"config: unknown option(s) {unknown}; known: {sorted(known)}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2))


def field_default(name: str) -> Any:
    """The default of :class:`STCConfig` field ``name`` (the one place defaults are written)."""
    spec = {f.name: f for f in dataclasses.fields(STCConfig)}[name]
    if spec.default_factory is not dataclasses.MISSING:
        return spec.default_factory()
    return spec.default


def _grid(values, name: str, rule: str, ok) -> list[float]:
    """``values`` as a list of floats, or ValueError "config: <name> <rule>, got ..."."""
    try:
        grid = None if isinstance(values, str) else [float(v) for v in values]
    except (TypeError, ValueError):
        grid = None
    if not grid or not all(ok(v) for v in grid) or len(set(grid)) != len(grid):
        raise ValueError(f"config: {name} {rule}, got {values!r}")
    return grid
