"""Streaming readers: every format gives the same validated texts; bad rows are named."""
from __future__ import annotations

import gzip
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stc_gpu.data.readers import iter_text_blocks, read_column, scan_texts
from stc_gpu.store.fingerprint import dataset_fingerprint, text_digests

TEXTS = ["a good film", 'quotes "inside", and commas', "line\nbreak", "ünïcode ✓", "last one"]
LABELS = [1, 0, 1, 0, 1]


def _write_csv(path, texts=TEXTS, labels=LABELS, sep=","):
    import csv
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter=sep)
        writer.writerow(["label", "text"])
        writer.writerows(zip(labels, texts))
    return path


def _write_jsonl(path, records):
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8") as f:
        for r in records:
            f.write((json.dumps(r) if not isinstance(r, str) else r) + "\n")
    return path


def _write_arrow_dir(folder, table):
    """A folder shaped like ``datasets.Dataset.save_to_disk`` output (Arrow stream + state.json)."""
    folder.mkdir()
    name = "data-00000-of-00001.arrow"
    with pa.ipc.new_stream(str(folder / name), table.schema) as w:
        for batch in table.to_batches(max_chunksize=2):
            w.write_batch(batch)
    (folder / "state.json").write_text(json.dumps({"_data_files": [{"filename": name}]}))
    (folder / "dataset_info.json").write_text("{}")
    return folder


@pytest.fixture(params=["csv", "csv.gz", "tsv", "jsonl", "jsonl.gz", "parquet", "arrow_dir", "list"])
def good_source(request, tmp_path):
    fmt = request.param
    if fmt == "list":
        return list(TEXTS)
    if fmt.startswith("csv"):
        return _write_csv(tmp_path / f"d.{fmt}")
    if fmt == "tsv":
        return _write_csv(tmp_path / "d.tsv", sep="\t")
    if fmt.startswith("jsonl"):
        return _write_jsonl(tmp_path / f"d.{fmt}",
                            [{"text": t, "label": y} for t, y in zip(TEXTS, LABELS)])
    table = pa.table({"text": TEXTS, "label": LABELS})
    if fmt == "parquet":
        pq.write_table(table, tmp_path / "d.parquet", row_group_size=2)
        return tmp_path / "d.parquet"
    return _write_arrow_dir(tmp_path / "ds", table)


def test_every_format_reads_the_same_texts_and_fingerprint(good_source):
    scan = scan_texts(good_source)
    assert scan.n_rows == len(TEXTS)
    assert np.array_equal(scan.digests, text_digests(TEXTS))
    assert scan.fingerprint == dataset_fingerprint(text_digests(TEXTS))
    blocks = list(iter_text_blocks(good_source, 2))
    assert blocks == [TEXTS[0:2], TEXTS[2:4], TEXTS[4:]]
    assert scan_texts(good_source, max_texts=3).n_rows == 3
    assert [len(b) for b in iter_text_blocks(good_source, 2, max_texts=3)] == [2, 1]


def test_read_column_returns_labels(good_source):
    if isinstance(good_source, list):
        pytest.skip("an in-memory list has no label column")
    assert read_column(good_source, "label").tolist() == LABELS
    assert read_column(good_source, "text").tolist() == TEXTS


def test_fingerprint_depends_on_order_and_content():
    base = scan_texts(TEXTS).fingerprint
    assert scan_texts(TEXTS[::-1]).fingerprint != base
    assert scan_texts(TEXTS[:-1] + ["last one!"]).fingerprint != base


@pytest.mark.parametrize("column", ["text", "label"])
def test_missing_column_names_the_columns(tmp_path, column):
    sources = [_write_csv(tmp_path / "d.csv"),
               _write_jsonl(tmp_path / "d.jsonl", [{"text": "x", "label": 1}])]
    pq.write_table(pa.table({"text": ["x"], "label": [1]}), tmp_path / "d.parquet")
    sources += [tmp_path / "d.parquet", _write_arrow_dir(tmp_path / "ds", pa.table({"text": ["x"],
                                                                                   "label": [1]}))]
    for source in sources:
        with pytest.raises(ValueError, match=r"no column 'body'.*text"):
            scan_texts(source, text_column="body")
        with pytest.raises(ValueError, match=r"no column 'body'"):
            read_column(source, "body")


@pytest.mark.parametrize("content", ["", "label,text\n"])
def test_empty_csv_is_an_error(tmp_path, content):
    path = tmp_path / "empty.csv"
    path.write_text(content)
    with pytest.raises(ValueError, match="empty.csv: the file (is empty|has no data rows)"):
        scan_texts(path)


def test_empty_jsonl_and_empty_list_are_errors(tmp_path):
    path = tmp_path / "e.jsonl"
    path.write_text("\n\n")
    with pytest.raises(ValueError, match="no data rows"):
        scan_texts(path)
    with pytest.raises(ValueError, match="no rows"):
        scan_texts([])


@pytest.mark.parametrize("bad, problem", [("", "is empty"), ("   ", "is only whitespace")])
def test_empty_text_in_csv_names_the_row(tmp_path, bad, problem):
    path = _write_csv(tmp_path / "d.csv", texts=TEXTS[:3] + [bad] + TEXTS[4:])
    with pytest.raises(ValueError, match=f"d.csv: row 3: 'text' {problem}"):
        scan_texts(path)


def test_csv_numbers_are_text(tmp_path):
    path = _write_csv(tmp_path / "d.csv", texts=["1", "2.5", "3"], labels=[0, 1, 0])
    assert list(iter_text_blocks(path, 10)) == [["1", "2.5", "3"]]


def test_jsonl_null_non_text_and_bad_lines_name_the_row(tmp_path):
    cases = [([{"text": "a"}, {"text": None}], "row 1: 'text' is missing"),
             ([{"text": "a"}, {"text": "b"}, {"text": 7}], "row 2: 'text' is not text"),
             ([{"text": "a"}, {"other": "b"}], r"row 1 \(line 2\) has no field 'text'"),
             ([{"text": "a"}, "{not json"], r"row 1 \(line 2\) is not valid JSON"),
             ([{"text": "a"}, "[1, 2]"], "row 1 .* is not a JSON object")]
    for records, message in cases:
        with pytest.raises(ValueError, match=message):
            scan_texts(_write_jsonl(tmp_path / "d.jsonl", records))


def test_parquet_null_and_non_text_column(tmp_path):
    pq.write_table(pa.table({"text": ["a", "b", None]}), tmp_path / "n.parquet")
    with pytest.raises(ValueError, match="n.parquet: row 2: 'text' is missing"):
        scan_texts(tmp_path / "n.parquet")
    pq.write_table(pa.table({"text": [1, 2]}), tmp_path / "i.parquet")
    with pytest.raises(ValueError, match="i.parquet: row 0: 'text' is not text .*int64"):
        scan_texts(tmp_path / "i.parquet")


def test_list_with_non_text_and_null_labels(tmp_path):
    with pytest.raises(ValueError, match="row 1: 'text' is not text"):
        scan_texts(["a", 3])
    pq.write_table(pa.table({"label": [1, None, 0]}), tmp_path / "l.parquet")
    with pytest.raises(ValueError, match="l.parquet: row 1: 'label' is missing"):
        read_column(tmp_path / "l.parquet", "label")


def test_unknown_format_missing_file_and_dataset_dict(tmp_path):
    (tmp_path / "d.xlsx").write_text("x")
    with pytest.raises(ValueError, match="unknown data format"):
        scan_texts(tmp_path / "d.xlsx")
    with pytest.raises(FileNotFoundError):
        scan_texts(tmp_path / "absent.csv")
    (tmp_path / "dd").mkdir()
    (tmp_path / "dd" / "dataset_dict.json").write_text(json.dumps({"splits": ["train", "test"]}))
    with pytest.raises(ValueError, match="DatasetDict.*train, test"):
        scan_texts(tmp_path / "dd")


def test_csv_streams_in_several_batches(tmp_path):
    texts = [f"text {i} " + "x" * 200 for i in range(20_000)]  # ~4 MB: several pyarrow blocks
    path = _write_csv(tmp_path / "big.csv", texts=texts, labels=[0] * len(texts))
    blocks = list(iter_text_blocks(path, 4096))
    assert [len(b) for b in blocks] == [4096] * 4 + [20_000 - 4 * 4096]
    assert sum(blocks, []) == texts
