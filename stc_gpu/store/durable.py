"""Making written files durable: ``fsync`` them and the folders that name them.

A rename or a new file is durable only once its folder is synced too, so :func:`sync` syncs every
file given and every folder between each file and ``root`` (each folder once).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable


def _fsync(path: Path, flags: int) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync(files: Iterable[Path], root: Path) -> None:
    """fsync ``files``, then every folder from their parents up to ``root`` (``root`` always).

    A file that does not exist is a FileNotFoundError (it was not written).
    """
    root = Path(root)
    folders: dict[Path, None] = {root: None}
    for path in files:
        _fsync(Path(path), os.O_RDONLY)
        for folder in Path(path).parents:
            folders[folder] = None
            if folder == root:
                break
    for folder in sorted(folders, key=lambda p: -len(p.parts)):  # deepest first
        _fsync(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))


def sync_tree(root: Path) -> None:
    """fsync every file and folder under ``root`` (``root`` included)."""
    sync([Path(d) / f for d, _, files in os.walk(root) for f in files], root)
