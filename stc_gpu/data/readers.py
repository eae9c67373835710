"""Streaming readers for text datasets, with row-level validation.

Sources: a CSV/TSV, JSONL, or Parquet file (optionally compressed: ``.gz``, ``.bz2``, ``.zst``), a
``datasets`` ``save_to_disk`` folder (its Arrow files are read with pyarrow), or an in-memory list of
strings. Files are read in batches, never whole, so memory stays bounded by the batch size.
Rows are numbered from 0 in every message.
"""
from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from stc_gpu.store.fingerprint import DIGEST_BYTES, DatasetHasher, text_digests

TextSource = str | os.PathLike | Sequence[str]

_COMPRESSIONS = (".gz", ".bz2", ".zst")
_FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
            ".parquet": "parquet", ".pq": "parquet"}
_BATCH_ROWS = 8192


def source_name(source: TextSource) -> str:
    """A short human name for a source: the file name, or ``<list of N texts>``."""
    if isinstance(source, (str, os.PathLike)):
        return Path(source).name
    return f"<list of {len(source)} texts>"


def _file_format(path: Path) -> str:
    if path.is_dir():
        return "arrow_dir"
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSIONS:
        suffixes = suffixes[:-1]
    fmt = _FORMATS.get(suffixes[-1] if suffixes else "")
    if fmt is None:
        raise ValueError(f"{path.name}: unknown data format; expected a .csv, .tsv, .jsonl, "
                         f".parquet file (optionally .gz/.bz2/.zst) or a datasets save_to_disk folder")
    return fmt


def _missing_column(name: str, column: str, columns: Sequence[str]) -> ValueError:
    return ValueError(f"{name}: no column {column!r}; its columns are: {', '.join(columns) or '(none)'}")


def _csv_batches(path: Path, column: str, delimiter: str, as_text: bool) -> Iterator[pa.Array]:
    parse = pa_csv.ParseOptions(delimiter=delimiter, newlines_in_values=True)
    convert = pa_csv.ConvertOptions(include_columns=[column],
                                    column_types={column: pa.string()} if as_text else None)
    try:
        reader = pa_csv.open_csv(path, parse_options=parse, convert_options=convert)
    except (pa.ArrowInvalid, pa.ArrowKeyError) as err:
        if "Empty CSV file" in str(err):
            raise ValueError(f"{path.name}: the file is empty") from None
        if "does not exist" in str(err):
            header = pa_csv.open_csv(path, parse_options=parse).schema.names
            raise _missing_column(path.name, column, header) from None
        raise ValueError(f"{path.name}: cannot be read as CSV: {err}") from None
    try:
        for batch in reader:
            yield batch.column(0)
    except pa.ArrowInvalid as err:
        raise ValueError(f"{path.name}: cannot be read as CSV: {err}") from None


def _jsonl_batches(path: Path, column: str) -> Iterator[list]:
    values: list = []
    row = 0
    with io.TextIOWrapper(pa.input_stream(str(path), compression="detect"), encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path.name}: row {row} (line {line_no}) is not valid JSON: "
                                 f"{err.msg}") from None
            if not isinstance(record, dict):
                raise ValueError(f"{path.name}: row {row} (line {line_no}) is not a JSON object")
            if column not in record:
                if row == 0:
                    raise _missing_column(path.name, column, list(record))
                raise ValueError(f"{path.name}: row {row} (line {line_no}) has no field {column!r}")
            values.append(record[column])
            row += 1
            if len(values) == _BATCH_ROWS:
                yield values
                values = []
    if values:
        yield values


def _parquet_batches(path: Path, column: str) -> Iterator[pa.Array]:
    try:
        pf = pq.ParquetFile(path)
    except pa.ArrowInvalid as err:
        raise ValueError(f"{path.name}: cannot be read as Parquet: {err}") from None
    if column not in pf.schema_arrow.names:
        raise _missing_column(path.name, column, pf.schema_arrow.names)
    for batch in pf.iter_batches(batch_size=_BATCH_ROWS, columns=[column]):
        yield batch.column(0)


def _arrow_files(folder: Path) -> list[Path]:
    if (folder / "dataset_dict.json").exists():
        splits = json.loads((folder / "dataset_dict.json").read_text()).get("splits", [])
        raise ValueError(f"{folder.name} is a DatasetDict folder; pass one split's folder "
                         f"instead (splits: {', '.join(splits)})")
    state = folder / "state.json"
    if state.exists():
        files = [folder / d["filename"] for d in json.loads(state.read_text()).get("_data_files", [])]
    else:
        files = sorted(folder.glob("*.arrow"))
    if not files:
        raise ValueError(f"{folder.name}: a folder but not a datasets save_to_disk folder "
                         "(no state.json and no .arrow files)")
    return files


def _arrow_dir_batches(folder: Path, column: str) -> Iterator[pa.Array]:
    for file in _arrow_files(folder):
        source = pa.memory_map(str(file))
        try:
            reader = pa.ipc.open_stream(source)
            batches = iter(reader)
        except pa.ArrowInvalid:
            reader = pa.ipc.open_file(source)
            batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
        if column not in reader.schema.names:
            raise _missing_column(f"{folder.name}/{file.name}", column, reader.schema.names)
        for batch in batches:
            yield batch.column(reader.schema.get_field_index(column))


def _raw_batches(source: TextSource, column: str, *, as_text: bool) -> Iterator[pa.Array | list]:
    if not isinstance(source, (str, os.PathLike)):
        for start in range(0, len(source), _BATCH_ROWS):
            yield list(source[start:start + _BATCH_ROWS])
        return
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"no such data file or folder: {path}")
    fmt = _file_format(path)
    if fmt in ("csv", "tsv"):
        yield from _csv_batches(path, column, "," if fmt == "csv" else "\t", as_text)
    elif fmt == "jsonl":
        yield from _jsonl_batches(path, column)
    elif fmt == "parquet":
        yield from _parquet_batches(path, column)
    else:
        yield from _arrow_dir_batches(path, column)


def _check_values(values: list, start: int, name: str, column: str, *, as_text: bool) -> None:
    for i, value in enumerate(values):
        problem = None
        if value is None:
            problem = "is missing (null)"
        elif as_text and not isinstance(value, str):
            problem = f"is not text ({type(value).__name__} {value!r:.40})"
        elif isinstance(value, str) and not value.strip():
            problem = "is empty" if not value else "is only whitespace"
        elif not as_text and not isinstance(value, (str, int, float, bool, np.generic)):
            problem = f"is not a scalar ({type(value).__name__})"
        if problem:
            raise ValueError(f"{name}: row {start + i}: {column!r} {problem}")


def iter_column(source: TextSource, column: str, *, as_text: bool = True,
                max_rows: int | None = None) -> Iterator[list]:
    """Validated values of one column, in batches of at most a few thousand rows.

    Raises
    ------
    ValueError
        Unknown format, empty file, missing column, or a row that is null, empty or (with
        ``as_text``) not text; the message names the row.
    """
    name = source_name(source)
    start = 0
    for batch in _raw_batches(source, column, as_text=as_text):
        if max_rows is not None and start >= max_rows:
            break
        if isinstance(batch, pa.ChunkedArray | pa.Array):
            if as_text and not (pa.types.is_string(batch.type) or pa.types.is_large_string(batch.type)
                                or pa.types.is_null(batch.type)):
                raise ValueError(f"{name}: row {start}: {column!r} is not text "
                                 f"(the column holds {batch.type} values)")
            batch = batch.to_pylist()
        if max_rows is not None:
            batch = batch[:max_rows - start]
        _check_values(batch, start, name, column, as_text=as_text)
        start += len(batch)
        yield batch
    if start == 0:
        raise ValueError(f"{name}: no rows" if not isinstance(source, (str, os.PathLike))
                         else f"{name}: the file has no data rows")


def read_column(path: TextSource, column: str) -> np.ndarray:
    """A whole column (e.g. labels) as a 1-D numpy array, shape ``(n_rows,)``.

    Same sources and errors as the text reader; values may be text or numbers but not null/empty.
    """
    values = [v for batch in iter_column(path, column, as_text=False) for v in batch]
    return np.asarray(values)


def read_raw_column(source: TextSource, column: str, *, as_text: bool = False) -> list:
    """Every value of one column as Python objects, unchecked: lists, nulls and empty strings
    are kept (for columns whose values are not scalars, such as multi-label sets). ``as_text``
    reads a CSV column as text, not as inferred numbers."""
    values: list = []
    for batch in _raw_batches(source, column, as_text=as_text):
        values += batch.to_pylist() if isinstance(batch, pa.ChunkedArray | pa.Array) else batch
    if not values:
        raise ValueError(f"{source_name(source)}: the file has no data rows")
    return values


@dataclass(frozen=True)
class TextScan:
    """Result of the validating first pass over a text source."""

    name: str
    n_rows: int
    digests: np.ndarray  # (n_rows, 32) uint8, per-row sha256 of the text
    fingerprint: str     # dataset fingerprint (sha256 hex over the digests)


def scan_texts(source: TextSource, *, text_column: str = "text", max_texts: int | None = None,
               progress: bool = False) -> TextScan:
    """First pass: validate every row and hash it; memory holds 32 bytes per row."""
    from tqdm.auto import tqdm

    hasher = DatasetHasher()
    joined = bytearray()  # grows in place: no second copy of every digest, as a concatenate makes
    with tqdm(desc="reading texts", unit=" texts", disable=not progress, leave=False) as bar:
        for batch in iter_column(source, text_column, max_rows=max_texts):
            digests = text_digests(batch)
            hasher.update(digests)
            joined += digests.data
            bar.update(len(batch))
    digests = np.frombuffer(joined, dtype=np.uint8).reshape(-1, DIGEST_BYTES)
    return TextScan(source_name(source), len(digests), digests, hasher.hexdigest())


def iter_text_blocks(source: TextSource, block_rows: int, *, text_column: str = "text",
                     max_texts: int | None = None) -> Iterator[list[str]]:
    """Validated texts in blocks of exactly ``block_rows`` (the last block may be short)."""
    pending: list[str] = []
    for batch in iter_column(source, text_column, max_rows=max_texts):
        pending.extend(batch)
        while len(pending) >= block_rows:
            yield pending[:block_rows]
            del pending[:block_rows]
    if pending:
        yield pending
