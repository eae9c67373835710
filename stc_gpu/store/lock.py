"""One writer per entry: an advisory ``fcntl.flock`` on a lock file inside the entry folder.

The holder writes who it is (pid, host, start time, command) into the lock file, so a second
writer can say who holds the entry. The kernel drops the lock when the holder dies, even on SIGKILL.
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator


class StoreLockedError(RuntimeError):
    """Another process holds the entry's writer lock."""


def _holder_text(path: Path) -> str:
    try:
        info = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        info = {}
    if not info:
        return "another process"
    return (f"pid {info.get('pid')} on {info.get('host')} since {info.get('since')} "
            f"({info.get('command', '?')})")


@contextmanager
def exclusive_lock(path: Path, *, wait: bool = False,
                   notify: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold an exclusive flock on ``path`` (created if needed) for the ``with`` block.

    Parameters
    ----------
    wait : if True, block until the holder releases it (``notify`` gets a message first);
        if False, raise :class:`StoreLockedError` naming the holder.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder_text(path)
            if not wait:
                raise StoreLockedError(
                    f"{path.parent} is being written by {holder}; wait for it to finish, or pass "
                    f"wait=True (CLI: --wait) to queue behind it") from None
            if notify is not None:
                notify(f"waiting for {path.parent}: it is being written by {holder}")
            fcntl.flock(fd, fcntl.LOCK_EX)
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "since": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "command": " ".join(sys.argv)[:200]}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # closing the descriptor releases the flock
