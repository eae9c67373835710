"""The built-in demo dataset: 3,000 Rotten Tomatoes snippets shipped inside the package."""
from __future__ import annotations

import importlib.resources


def demo_data_path() -> str:
    """The bundled RT snippets CSV (the built-in default dataset; ``PROVENANCE.md`` beside it)."""
    return str(importlib.resources.files("stc_gpu") / "demo" / "rt_snippets.csv.gz")
