"""Extraction as a config describes it: the one set-up ``stc-gpu run``, ``stc-gpu extract`` and
:meth:`STCClassifier.fit` share."""
from __future__ import annotations

from stc_gpu.config import STCConfig
from stc_gpu.data.demo import demo_data_path
from stc_gpu.vocabulary import FINAL


def extract(config: STCConfig, *, source=None, show_progress: bool = True, layers=None,
            device=None, wait: bool = False, compressor: str = "none", write=None):
    """Extract (or reuse) the features of ``source`` (default ``config.data``, else the demo
    data) into ``config.store``.

    The ``final`` site (the model's output, which the references read) is extracted beside the
    configured kinds. Returns ``(entry, summary, extractor)``; no forward pass runs when the store
    already holds these texts for this model. The options of ``stc-gpu extract``: ``layers``
    (indices, instead of every layer up to ``config.max_layer``), ``device`` (instead of
    ``config.device``), ``wait`` and ``compressor`` (see
    :func:`~stc_gpu.extract.to_store.extract_to_store`), and ``write``: the function that fills
    the store, ``write(source, extractor, store, **options) -> (entry, summary)``, by default
    :func:`~stc_gpu.extract.to_store.extract_to_store` (a torchrun rank passes its share's).
    """
    from stc_gpu.extract import Extractor
    from stc_gpu.extract.to_store import extract_to_store

    # The final site follows the last block: with a max_layer the model stops before it.
    final = (FINAL,) if config.max_layer is None else ()
    extractor = Extractor.from_pretrained(
        config.model, revision=config.revision, kinds=(*config.kinds, *final),
        pools=tuple(config.pools), layers=layers, max_layer=config.max_layer,
        max_length=config.max_length, device=device or config.device, dtype=config.dtype,
        token_budget=config.token_budget)
    write = write or extract_to_store
    entry, summary = write(
        source if source is not None else config.data or demo_data_path(), extractor,
        config.store, text_column=config.text_column, block_rows=config.block_rows,
        max_texts=config.max_texts, progress=show_progress, wait=wait, compressor=compressor)
    return entry, summary, extractor
