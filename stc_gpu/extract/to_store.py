"""Run an extractor over a dataset, block by block, into the feature store (resumable)."""
from __future__ import annotations

import dataclasses
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from stc_gpu.data.readers import TextScan, TextSource, iter_text_blocks, scan_texts
from stc_gpu.extract.memory import bounded_heap
from stc_gpu.extract.reuse import extract_reusing
from stc_gpu.store import layout
from stc_gpu.store.feature_store import FeatureStore, StoreEntry
from stc_gpu.store.fingerprint import model_fingerprint, text_digests
from stc_gpu.store.lock import claim_entry, join_entry
from stc_gpu.store.row_index import RowIndex
from stc_gpu.store.writer import (BlockWriter, EntryLayout, check_entry_matches, prepare_entry,
                                  remove_torn_writes)
from stc_gpu.vocabulary import DEFAULT_BLOCK_ROWS

_MIB = 2 ** 20


@dataclass(frozen=True)
class ExtractionSummary:
    """What one :func:`extract_to_store` call did (this process's share only)."""

    entry_key: str
    texts: int             # texts run through the model in this call
    tokens: int            # valid (non-padding) tokens
    truncated: int         # texts cut at the model's max length
    slots: int             # computed token slots, padding included
    blocks_written: int
    blocks_already_done: int
    bytes_written: int     # uncompressed feature bytes handed to the store
    write_seconds: float   # time the writer thread spent writing
    seconds: float         # wall time of the whole call
    texts_reused: int = 0  # texts read from other entries of the same extraction instead

    @property
    def reused(self) -> bool:
        """True when nothing had to be computed (the entry was already there)."""
        return self.blocks_written == 0

    @property
    def padding_ratio(self) -> float:
        """Computed token slots per valid token (1.0 = no padding at all)."""
        return self.slots / self.tokens if self.tokens else 1.0

    @property
    def texts_per_s(self) -> float:
        return self.texts / self.seconds if self.seconds else 0.0

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0

    @property
    def write_mib_per_s(self) -> float:
        return self.bytes_written / _MIB / self.write_seconds if self.write_seconds else 0.0

    def to_dict(self) -> dict:
        """The counters and the derived rates, JSON-able."""
        return {**dataclasses.asdict(self), "padding_ratio": self.padding_ratio,
                "texts_per_s": self.texts_per_s, "tokens_per_s": self.tokens_per_s,
                "write_mib_per_s": self.write_mib_per_s}

    def format(self) -> str:
        """A few human-readable lines."""
        if self.reused:
            return (f"entry {self.entry_key}: already extracted "
                    f"({self.blocks_already_done} blocks), no forward pass needed")
        return "\n".join([
            f"entry {self.entry_key}: wrote {self.blocks_written} blocks "
            f"({self.blocks_already_done} were already done)"
            + (f"; {self.texts_reused:,} texts read from other entries of this model"
               * bool(self.texts_reused)),
            f"texts {self.texts:,}  tokens {self.tokens:,}  truncated {self.truncated:,}  "
            f"padding ratio {self.padding_ratio:.3f}",
            f"time {self.seconds:.1f} s  {self.texts_per_s:,.1f} texts/s  "
            f"{self.tokens_per_s:,.0f} tokens/s",
            f"written {self.bytes_written / _MIB:,.1f} MiB at {self.write_mib_per_s:,.1f} MiB/s",
        ])


def tell_user(message: str) -> None:
    """Print ``message`` to stderr without breaking a progress bar."""
    tqdm.write(message, file=sys.stderr)


def complete_entry(scan: TextScan, extractor, store_path: str | Path) -> StoreEntry | None:
    """The entry for (extractor, scanned texts) if it is complete (checked against the
    extractor's layout: ValueError if it differs), else None; creates the store if absent."""
    path = entry_path(scan, extractor, store_path)
    try:
        entry = StoreEntry.open(path)
    except ValueError:
        return None
    check_entry_matches(entry, model_fingerprint(extractor.describe()), scan.fingerprint,
                        EntryLayout.of(extractor))
    return entry if entry.is_complete else None


@bounded_heap()  # host memory bounded by the block, from the first pass on
def extract_to_store(source: TextSource, extractor, store_path: str | Path, *,
                     text_column: str = "text", block_rows: int = DEFAULT_BLOCK_ROWS,
                     max_texts: int | None = None, progress: bool = True, rank: int = 0,
                     world_size: int = 1, wait: bool = False, compressor: str = "none",
                     scan: TextScan | None = None,
                     job: str | None = None) -> tuple[StoreEntry, ExtractionSummary]:
    """Extract features of every text into the store entry for (extractor, texts).

    First pass: read, validate and hash every row (bad input raises ValueError before any forward
    pass). Second pass: blocks of ``block_rows`` texts -> ``extractor.extract`` -> writer thread.
    Blocks already written are skipped, so a killed run resumes; a complete entry is returned
    without any forward pass. Texts that other entries of the same extraction hold (another
    subset or order of the same texts: :mod:`stc_gpu.store.row_index`) are copied from them, not
    run through the model again.

    Parameters
    ----------
    source : a data file or ``datasets`` folder (see :mod:`stc_gpu.data.readers`), or a list of str.
    extractor : an :class:`stc_gpu.extract.extractor.Extractor` (or anything with its interface).
    block_rows : rows per block and per chunk, for a new entry (an existing one keeps its own).
    rank, world_size : this process computes the blocks ``b`` with ``b % world_size == rank``.
    wait : if another job is writing the entry, wait for it (True) or raise
        :class:`~stc_gpu.store.lock.StoreLockedError` naming it (False).
    compressor : ``"none"`` or ``"zstd"`` for the feature arrays of a new entry.
    scan : the first pass's result, if the caller already ran :func:`scan_texts` on ``source``
        with the same ``text_column`` and ``max_texts`` (the first pass is then skipped).
    job : the id of the writer job this call is a rank of, whose leader holds the entry (see
        :func:`~stc_gpu.store.lock.claim_entry`; the caller has created the entry); None makes the
        call a job of its own.
    """
    if block_rows < 1:
        raise ValueError(f"block_rows must be positive, not {block_rows}")
    if not 0 <= rank < world_size:
        raise ValueError(f"rank must be in [0, world_size); got rank={rank}, world_size={world_size}")
    if max_texts is not None and max_texts < 1:
        raise ValueError(f"max_texts must be positive, not {max_texts}")
    t_start = time.perf_counter()
    if scan is None:
        scan = scan_texts(source, text_column=text_column, max_texts=max_texts, progress=progress)
    entry = complete_entry(scan, extractor, store_path)
    if entry is None:
        path = entry_path(scan, extractor, store_path)
        with ExitStack() as stack:
            if job is None:
                job = stack.enter_context(claim_entry(path, wait=wait, notify=tell_user))
                create_entry(scan, extractor, store_path, block_rows=block_rows,
                             text_column=text_column, compressor=compressor)
            stack.enter_context(join_entry(path, job))
            entry = StoreEntry.open(path)
            return entry, _run_blocks(source, extractor, entry, scan.digests, text_column,
                                      max_texts, progress, rank, world_size, t_start)
    summary = ExtractionSummary(entry.key, 0, 0, 0, 0, 0, entry.n_blocks, 0, 0.0,
                                time.perf_counter() - t_start)
    return entry, summary


def create_entry(scan: TextScan, extractor, store_path: str | Path, *, block_rows: int = DEFAULT_BLOCK_ROWS,
                 text_column: str = "text", compressor: str = "none") -> StoreEntry:
    """Open the store entry for (extractor, scanned texts), creating store and entry if needed.

    Call as the entry's writer job (:func:`~stc_gpu.store.lock.claim_entry` on
    :func:`entry_path`); nothing is extracted. An existing entry is checked against the
    extractor's layout (ValueError if it differs) and returned as it is.
    """
    store = FeatureStore.create(store_path)
    return prepare_entry(store.root, extractor.describe(), scan.digests, scan.fingerprint,
                         EntryLayout.of(extractor), block_rows=block_rows,
                         text_column=text_column, source=scan.name, compressor=compressor)


def entry_path(scan: TextScan, extractor, store_path: str | Path) -> Path:
    """The folder of the entry for (extractor, scanned texts); creates the store if absent."""
    store = FeatureStore.create(store_path)
    return layout.entry_dir(store.root, model_fingerprint(extractor.describe()), scan.fingerprint)


def _run_blocks(source, extractor, entry: StoreEntry, digests: np.ndarray, text_column: str,
                max_texts: int | None, progress: bool, rank: int, world_size: int,
                t_start: float) -> ExtractionSummary:
    done = entry.blocks_done()
    todo = {b for b in range(entry.n_blocks) if b % world_size == rank and not done[b]}
    n_todo = len(todo)
    remove_torn_writes(entry, todo)
    todo_rows = sum(stop - start for start, stop in
                    (layout.block_bounds(b, entry.block_rows, entry.n_rows) for b in todo))
    texts = tokens = truncated = slots = reused = 0
    index = RowIndex.beside(entry, extractor.describe(), EntryLayout.of(extractor))
    with BlockWriter(entry) as writer, tqdm(total=todo_rows, desc="extracting", unit=" texts",
                                            disable=not progress or not todo) as bar:
        blocks = iter_text_blocks(source, entry.block_rows, text_column=text_column,
                                  max_texts=max_texts)
        for block, block_texts in enumerate(blocks):
            if block not in todo:
                continue
            start, stop = layout.block_bounds(block, entry.block_rows, entry.n_rows)
            if not np.array_equal(text_digests(block_texts), digests[start:stop]):
                raise ValueError(f"{entry.metadata['source']}: rows {start}-{stop - 1} changed "
                                 "between the validation pass and the extraction pass")
            shown = bar if progress else None
            result, n_read = extract_reusing(
                lambda rest: extractor.extract(rest, progress=shown), block_texts,
                digests[start:stop], index, progress=shown)
            writer.submit(block, result.features)
            texts += len(block_texts) - n_read
            reused += n_read
            tokens += result.n_tokens
            truncated += result.n_truncated
            slots += result.n_slots
            bar.set_postfix_str(f"{tokens / max(time.perf_counter() - t_start, 1e-9):,.0f} tok/s",
                                refresh=False)
            todo.discard(block)
            if not todo:
                break  # the rest of the file is done or another rank's
    if todo:
        raise ValueError(f"{entry.metadata['source']}: has fewer rows than during the validation "
                         f"pass; blocks {sorted(todo)} were not extracted")
    return ExtractionSummary(
        entry.key, texts, tokens, truncated, slots, blocks_written=n_todo,
        blocks_already_done=int(done.sum()), bytes_written=writer.bytes_written,
        write_seconds=writer.seconds_writing, seconds=time.perf_counter() - t_start,
        texts_reused=reused)
