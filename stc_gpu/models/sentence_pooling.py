"""The sentence embedding a model declares for itself, as a sentence-transformers folder does.

Such a folder holds ``modules.json``: the transformer, then a ``Pooling`` module whose
``config.json`` names its pooling modes (mean, CLS token, max, last token, ...), and often a
``Normalize`` module (L2 normalisation of the pooled vector). all-MiniLM-L6-v2, for example,
declares mean pooling and Normalize. A plain Hugging Face model declares nothing.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import partial
from pathlib import Path

_POOLING = "sentence_transformers.models.Pooling"
_NORMALIZE = "sentence_transformers.models.Normalize"
_MODE_PREFIX = "pooling_mode_"


@dataclass(frozen=True)
class SentencePooling:
    """What a model's ``modules.json`` declares.

    Attributes
    ----------
    modes : the Pooling module's modes that are on, e.g. ``("mean_tokens",)``; several are
        concatenated by sentence-transformers.
    normalize : whether a Normalize module follows the pooling.
    source : the ``modules.json`` read.
    """

    modes: tuple[str, ...]
    normalize: bool
    source: str


def declared_pooling(name_or_path: str, *, revision: str | None = None) -> SentencePooling | None:
    """The sentence pooling ``name_or_path`` declares, or None when it declares none.

    A local folder (or a packaged model name) is read directly; a hub id through
    ``huggingface_hub`` (its cache when offline). A model without a readable ``modules.json``,
    or whose modules hold no Pooling module, declares nothing.
    """
    from stc_gpu.models.loading import resolve_model_path

    folder = Path(resolve_model_path(name_or_path))
    read = (partial(_read_local, folder) if folder.is_dir()
            else partial(_read_hub, name_or_path, revision))
    text = read("modules.json")
    if text is None:
        return None
    types = [module.get("type") for module in json.loads(text)]
    if _POOLING not in types:
        return None
    pooling = json.loads(text)[types.index(_POOLING)]
    config = json.loads(read(f"{pooling.get('path', '')}/config.json".lstrip("/")) or "{}")
    modes = tuple(sorted(key.removeprefix(_MODE_PREFIX) for key, on in config.items()
                         if key.startswith(_MODE_PREFIX) and on is True))
    return SentencePooling(modes, _NORMALIZE in types[types.index(_POOLING):],
                           f"{name_or_path}/modules.json")


def _read_local(folder: Path, filename: str) -> str | None:
    path = folder / filename
    return path.read_text() if path.is_file() else None


def _read_hub(repo_id: str, revision: str | None, filename: str) -> str | None:
    """``filename`` of hub repo ``repo_id`` (downloaded if needed), or None."""
    try:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(repo_id, filename, revision=revision)).read_text()
    except Exception:  # no such repo or file, no network, a name that is no repo id: nothing
        return None
