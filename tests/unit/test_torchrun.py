"""Extraction under torchrun: launch environment, error sharing, and 2-process runs on CPU (Gloo).

The end-to-end tests launch ``python -m torch.distributed.run --nproc-per-node 2 --standalone``
(a free rendezvous port is picked by torchrun itself) on a tiny random BERT saved to a folder, and
compare every chunk file with a single-process run of the same command.
"""
from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import zarr

from stc_gpu.distributed.torchrun import (DistributedContext, RankFailedError,
                                          _raise_for_failed_ranks, combine_summaries,
                                          distributed_context, read_launch_environment)
from stc_gpu.extract.to_store import ExtractionSummary
from stc_gpu.models.synthetic import random_model_and_tokenizer
from stc_gpu.store import FeatureStore, layout
from stc_gpu.store.lock import claim_entry

REPO = Path(__file__).parents[2]
TEXTS = [f"text number {i} " + "good bad movie plot " * (i % 6) for i in range(40)]
LAUNCH_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


@pytest.fixture
def no_launch_env(monkeypatch):
    for name in LAUNCH_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_launch_environment_defaults_to_one_process(no_launch_env):
    assert read_launch_environment() == (0, 1, 0)


def test_launch_environment_is_read(no_launch_env):
    for name, value in zip(LAUNCH_VARS, ("5", "8", "1")):
        no_launch_env.setenv(name, value)
    assert read_launch_environment() == (5, 8, 1)


@pytest.mark.parametrize("env, problem", [({"WORLD_SIZE": "two"}, "WORLD_SIZE must be an integer"),
                                          ({"RANK": "2", "WORLD_SIZE": "2"}, "RANK=2"),
                                          ({"LOCAL_RANK": "-1"}, "LOCAL_RANK=-1")])
def test_bad_launch_environment_is_named(no_launch_env, env, problem):
    for name, value in env.items():
        no_launch_env.setenv(name, value)
    with pytest.raises(ValueError, match=problem):
        read_launch_environment()


def test_single_process_context_starts_no_process_group(no_launch_env):
    with distributed_context("cpu") as ctx:
        assert ctx == DistributedContext(0, 1, 0, torch.device("cpu"))
        assert not ctx.distributed and ctx.is_main
        assert not torch.distributed.is_initialized()


def test_unknown_device_is_named(no_launch_env):
    with pytest.raises(ValueError, match="unknown device 'gpu'"):
        with distributed_context("gpu"):
            pass


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error without CUDA")
def test_cuda_without_cuda_is_an_error(no_launch_env):
    with pytest.raises(ValueError, match="CUDA is not available"):
        with distributed_context("cuda"):
            pass


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_each_rank_takes_its_local_gpu(no_launch_env):
    no_launch_env.setenv("LOCAL_RANK", str(torch.cuda.device_count() - 1))
    with distributed_context() as ctx:
        assert ctx.device == torch.device("cuda", torch.cuda.device_count() - 1)
    no_launch_env.setenv("LOCAL_RANK", str(torch.cuda.device_count()))
    with pytest.raises(ValueError, match="has no GPU"):
        with distributed_context("cuda"):
            pass


def _summary(**counts) -> ExtractionSummary:
    base = dict(entry_key="m/d", texts=0, tokens=0, truncated=0, slots=0, blocks_written=0,
                blocks_already_done=0, bytes_written=0, write_seconds=0.0, seconds=0.0)
    return ExtractionSummary(**{**base, **counts})


def test_summaries_of_all_ranks_are_combined():
    combined = combine_summaries([
        _summary(texts=16, tokens=100, truncated=1, slots=110, blocks_written=2,
                 blocks_already_done=1, bytes_written=10, write_seconds=0.5, seconds=3.0),
        _summary(texts=8, tokens=50, slots=50, blocks_written=1, blocks_already_done=2,
                 bytes_written=5, write_seconds=0.25, seconds=4.0)], n_blocks=5)
    assert combined == _summary(texts=24, tokens=150, truncated=1, slots=160, blocks_written=3,
                                blocks_already_done=2, bytes_written=15, write_seconds=0.75,
                                seconds=4.0)
    assert combined.tokens_per_s == pytest.approx(150 / 4.0)


def test_a_failed_rank_stops_every_rank():
    ctx = DistributedContext(1, 3, 1, torch.device("cpu"))
    with pytest.raises(RankFailedError, match="rank 2: ValueError: bad rows"):
        _raise_for_failed_ranks(ctx, [None, None, "ValueError: bad rows"], None)
    own = KeyError("mine")
    with pytest.raises(KeyError, match="mine"):
        _raise_for_failed_ranks(ctx, [None, "KeyError: 'mine'", None], own)
    _raise_for_failed_ranks(ctx, [_summary(), _summary(), _summary()], None)


# --- real runs under torchrun -------------------------------------------------------------------

@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """``(model folder, data file)``: a tiny random BERT saved with its tokenizer, 40 texts."""
    root = tmp_path_factory.mktemp("torchrun")
    model, tokenizer = random_model_and_tokenizer("bert", TEXTS)
    model.save_pretrained(root / "model")
    tokenizer.save_pretrained(root / "model")
    data = root / "texts.csv"
    with open(data, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text"])
        writer.writerows([t] for t in TEXTS)
    return root / "model", data


def _extract(inputs, store: Path, nproc: int | None,
             device: str = "cpu") -> subprocess.CompletedProcess:
    """``stc-gpu extract`` alone (nproc None) or under torchrun; fp32, one CPU thread each."""
    model, data = inputs
    command = [sys.executable, "-m", "stc_gpu.cli", "extract", str(data), "--model", str(model),
               "--store", str(store), "--block-rows", "8", "--device", device, "--dtype",
               "float32", "--quiet"]
    if nproc is not None:
        command[1:2] = ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
                        str(nproc), "-m"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1",
           "TORCHELASTIC_ERROR_FILE": str(store) + ".error.json"}
    for name in LAUNCH_VARS:
        env.pop(name, None)
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def _chunk_files(store: Path) -> dict[str, bytes]:
    return {str(p.relative_to(store)): p.read_bytes() for p in sorted(store.rglob("*"))
            if p.is_file() and "c" in p.relative_to(store).parts}


@pytest.fixture(scope="module")
def single_store(inputs, tmp_path_factory):
    store = tmp_path_factory.mktemp("single") / "store"
    result = _extract(inputs, store, None)
    assert result.returncode == 0, result.stderr
    return store


@pytest.mark.slow
def test_two_processes_write_the_same_bytes_as_one(inputs, single_store, tmp_path):
    store = tmp_path / "store"
    result = _extract(inputs, store, 2)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("wrote 5 blocks (0 were already done)") == 1  # rank 0 only
    assert "texts 40  tokens" in result.stdout  # totals over both ranks
    expected, got = _chunk_files(single_store), _chunk_files(store)
    assert len(expected) > 40 and sorted(got) == sorted(expected)
    assert [name for name in expected if expected[name] != got[name]] == []
    entry = FeatureStore.open(store).entry()
    assert entry.is_complete and entry.n_blocks == 5
    assert not [p for p in entry.path.iterdir() if p.is_file() and p.name != "zarr.json"]

    # rank 1 "killed" before writing block 1 and rank 0 before block 2: a rerun writes just those
    done = zarr.open_array(entry.path / layout.DONE_ARRAY, mode="r+")
    removed = 0
    for block in (1, 2):
        done[block] = 0
        for kind in entry.kinds:
            for pool in entry.pools:
                array = entry.path / layout.feature_array_name(kind, pool)
                for chunk in array.glob(f"c/*/{block}/*"):
                    chunk.unlink()
                    removed += 1
    assert removed == 2 * sum(len(entry.layers(k)) * len(entry.pools) for k in entry.kinds)
    assert not FeatureStore.open(store).entry().is_complete
    again = _extract(inputs, store, 2)
    assert again.returncode == 0, again.stderr
    assert "wrote 2 blocks (3 were already done)" in again.stdout
    assert "texts 16  tokens" in again.stdout
    assert _chunk_files(store) == expected


@pytest.mark.slow
def test_a_job_of_two_ranks_waits_for_a_single_process_writer(inputs, single_store, tmp_path):
    """The entry is held by a one-process extraction (here: this test): both ranks stop, and
    rank 0 says who holds it."""
    store = tmp_path / "store"
    FeatureStore.create(store)
    entry_dir = store / FeatureStore.open(single_store).entry().key
    with claim_entry(entry_dir):
        result = _extract(inputs, store, 2)
    assert result.returncode != 0
    assert f"{entry_dir} is being written by pid {os.getpid()}" in result.stderr
    assert "RankFailedError" in result.stderr or result.stderr.count("being written by") >= 2
    assert not (entry_dir / "zarr.json").exists()


@pytest.mark.slow
def test_an_error_stops_both_ranks_with_its_message(inputs, tmp_path):
    model, _ = inputs
    bad = tmp_path / "bad.csv"
    bad.write_text("body\n" + "\n".join(TEXTS) + "\n")
    result = _extract((model, bad), tmp_path / "store", 2)
    assert result.returncode != 0
    assert result.stderr.count("no column 'text'") >= 2


@pytest.mark.gpu
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 GPUs")
def test_two_gpus_write_the_same_bytes_as_one(inputs, tmp_path):
    single = _extract(inputs, tmp_path / "single", None, "cuda")
    assert single.returncode == 0, single.stderr
    result = _extract(inputs, tmp_path / "two", 2, "cuda")  # NCCL, cuda:0 and cuda:1
    assert result.returncode == 0, result.stderr
    assert _chunk_files(tmp_path / "two") == _chunk_files(tmp_path / "single")
