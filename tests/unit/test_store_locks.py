"""One writer job per entry, whatever its world size: the ranks of one job share the entry, a
second job (one process, or ranks of another size) waits or is told who holds it."""
from __future__ import annotations

import threading
from contextlib import contextmanager

import pytest
from store_fake_extractor import FakeExtractor

from stc_gpu.data.readers import scan_texts
from stc_gpu.extract.to_store import create_entry, entry_path, extract_to_store
from stc_gpu.store import FeatureStore, StoreLockedError
from stc_gpu.store.lock import claim_entry, join_entry

TEXTS = [f"row {i} " + "word " * (i % 4) for i in range(40)]


def _extract(store, **kwargs):
    return extract_to_store(TEXTS, FakeExtractor(), store, block_rows=8, progress=False, **kwargs)


def _entry_dir(store):
    return entry_path(scan_texts(TEXTS), FakeExtractor(), store)


@contextmanager
def _held_in_thread(enter):
    """Run ``with enter():`` on another thread until the block ends (another process's lock)."""
    held, release = threading.Event(), threading.Event()

    def hold():
        with enter():
            held.set()
            release.wait(30)

    thread = threading.Thread(target=hold)
    thread.start()
    assert held.wait(30)
    try:
        yield
    finally:
        release.set()
        thread.join()


@pytest.mark.parametrize("world_size", [1, 2, 3])
def test_a_rank_of_another_job_cannot_write_while_a_job_holds_the_entry(tmp_path, world_size):
    entry_dir = _entry_dir(tmp_path)
    with _held_in_thread(lambda: claim_entry(entry_dir)):  # a single-process extraction
        for rank in range(world_size):
            with pytest.raises(StoreLockedError, match=r"being written by pid \d+"):
                _extract(tmp_path, rank=rank, world_size=world_size)
    assert not FeatureStore.open(tmp_path).entries()  # nothing was written meanwhile


def test_a_job_of_two_ranks_blocks_a_job_of_three(tmp_path):
    entry_dir = _entry_dir(tmp_path)
    scan = scan_texts(TEXTS)
    with claim_entry(entry_dir, world_size=2) as job:
        create_entry(scan, FakeExtractor(), tmp_path, block_rows=8)
        e0, s0 = _extract(tmp_path, rank=0, world_size=2, job=job, scan=scan)  # the job's ranks
        with pytest.raises(StoreLockedError, match="a job of 2 processes, rank 0 pid"):
            _extract(tmp_path, rank=1, world_size=3)
        e1, s1 = _extract(tmp_path, rank=1, world_size=2, job=job, scan=scan)
    assert e1.is_complete and s0.blocks_written + s1.blocks_written == 5


def test_waiting_for_the_job_that_holds_the_entry(tmp_path, monkeypatch):
    import stc_gpu.extract.to_store as to_store

    told, waiting = [], threading.Event()
    monkeypatch.setattr(to_store, "tell_user", lambda message: (told.append(message), waiting.set()))
    entry_dir = _entry_dir(tmp_path)
    result = {}
    with _held_in_thread(lambda: claim_entry(entry_dir, world_size=4)):
        waiter = threading.Thread(target=lambda: result.update(run=_extract(tmp_path, wait=True)))
        waiter.start()
        assert waiting.wait(30)  # queued behind the holder, and told so
        assert "run" not in result
    waiter.join(30)
    assert result["run"][0].is_complete
    assert told[0].startswith(f"waiting: {entry_dir} is being written by a job of 4 processes")


def test_ranks_that_outlive_their_leader_still_hold_the_entry(tmp_path):
    entry_dir = _entry_dir(tmp_path)
    with claim_entry(entry_dir, world_size=2) as job:
        stray = join_entry(entry_dir, job)
        stray.__enter__()  # rank 1 of a job whose rank 0 is gone
    try:
        with pytest.raises(StoreLockedError, match="still being written by processes of an "
                                                   "earlier job"):
            _extract(tmp_path)
    finally:
        stray.__exit__(None, None, None)
    assert _extract(tmp_path)[0].is_complete


def test_a_rank_whose_job_lost_the_entry_stops(tmp_path):
    entry_dir = _entry_dir(tmp_path)
    with claim_entry(entry_dir, world_size=2) as old_job:
        pass  # its rank 0 died before rank 1 started
    with claim_entry(entry_dir) as new_job:
        with pytest.raises(StoreLockedError, match="no longer held by this job"):
            with join_entry(entry_dir, old_job):
                pass
        with join_entry(entry_dir, new_job):
            pass
