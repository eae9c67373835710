"""One writer job per entry: advisory ``fcntl.flock`` locks on two files beside the done markers.

A *job* is one extraction: a single process, or every rank of one ``torchrun`` launch. Its leader
(the single process, or rank 0) holds the entry's **job lock** exclusively for the whole job and
writes who it is (pid, host, start time, world size, command, a random job id) into it, so a
second job can say who holds the entry. Every process that writes blocks (the leader too) holds
the **ranks lock** shared while it writes, after checking that the job lock still names its job.
A new leader takes the ranks lock exclusively once before its job starts, so ranks of an earlier
job that outlived their leader are waited for too. The kernel drops a lock when its holder dies,
even on SIGKILL.

Both files live inside the ``block_done`` array folder (see :mod:`stc_gpu.store.layout`), where zarr
never looks for hierarchy members.
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from stc_gpu.store import layout


class StoreLockedError(RuntimeError):
    """Another writer job holds the entry."""


def _holder_text(path: Path) -> str:
    info = _read_info(path)
    if not info:
        return "another process"
    job = f"a job of {info['world_size']} processes, rank 0 " if info.get("world_size", 1) > 1 else ""
    return (f"{job}pid {info.get('pid')} on {info.get('host')} since {info.get('since')} "
            f"({info.get('command', '?')})")


def _read_info(path: Path) -> dict:
    try:
        info = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def _open(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)


def _flock(fd: int, operation: int, *, wait: bool, busy: Callable[[], str],
           notify: Callable[[str], None] | None) -> None:
    """``flock(fd, operation)``; when it is held: raise StoreLockedError or wait (notify first).

    ``busy()`` says who holds it, e.g. ``"<entry> is being written by pid 12 on host ..."``.
    """
    try:
        fcntl.flock(fd, operation | fcntl.LOCK_NB)
        return
    except BlockingIOError:
        message = busy()
    if not wait:
        raise StoreLockedError(f"{message}; wait for it to finish, or pass wait=True "
                               "(CLI: --wait) to queue behind it") from None
    if notify is not None:
        notify(f"waiting: {message}")
    fcntl.flock(fd, operation)


@contextmanager
def exclusive_lock(path: Path, *, wait: bool = False,
                   notify: Callable[[str], None] | None = None, info: dict | None = None,
                   subject: Path | None = None) -> Iterator[None]:
    """Hold an exclusive flock on ``path`` (created if needed) for the ``with`` block.

    The holder's pid, host, start time and command (plus ``info``) are written into the file;
    messages name ``subject`` (default: the file's folder) as what is being written.

    Parameters
    ----------
    wait : if True, block until the holder releases it (``notify`` gets a message first);
        if False, raise :class:`StoreLockedError` naming the holder.
    """
    path = Path(path)
    fd = _open(path)
    try:
        _flock(fd, fcntl.LOCK_EX, wait=wait, notify=notify,
               busy=lambda: f"{subject or path.parent} is being written by {_holder_text(path)}")
        record = {"pid": os.getpid(), "host": socket.gethostname(),
                  "since": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                  "command": " ".join(sys.argv)[:200], **(info or {})}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # closing the descriptor releases the flock


@contextmanager
def claim_entry(entry_dir: Path, *, world_size: int = 1, wait: bool = False,
                notify: Callable[[str], None] | None = None) -> Iterator[str]:
    """The leader's side: hold the entry for one writer job; yields the job id.

    Raises (or, with ``wait``, waits) while another job's leader holds the entry, or while
    processes of an earlier job still write to it.
    """
    entry_dir = Path(entry_dir)
    job_id = uuid.uuid4().hex
    with exclusive_lock(layout.job_lock_path(entry_dir), wait=wait, notify=notify,
                        info={"job": job_id, "world_size": world_size}, subject=entry_dir):
        fd = _open(layout.ranks_lock_path(entry_dir))
        try:  # no rank of an earlier job may still be writing
            _flock(fd, fcntl.LOCK_EX, wait=wait, notify=notify,
                   busy=lambda: f"{entry_dir} is still being written by processes of an earlier "
                                "job whose rank 0 has ended")
        finally:
            os.close(fd)
        yield job_id


@contextmanager
def join_entry(entry_dir: Path, job_id: str) -> Iterator[None]:
    """A writing process's side (every rank, the leader too): write blocks for job ``job_id``.

    Raises StoreLockedError unless the entry's job lock is held for ``job_id`` (its leader may have
    died and another job taken the entry over).
    """
    entry_dir = Path(entry_dir)
    job_lock = layout.job_lock_path(entry_dir)
    fd = _open(layout.ranks_lock_path(entry_dir))
    try:
        _flock(fd, fcntl.LOCK_SH, wait=False, notify=None,
               busy=lambda: f"{entry_dir} is being taken over by {_holder_text(job_lock)}")
        if _read_info(job_lock).get("job") != job_id:
            raise StoreLockedError(f"{entry_dir} is no longer held by this job (its rank 0 has "
                                   f"ended); it is held by {_holder_text(job_lock)}")
        yield
    finally:
        os.close(fd)
