"""Executors of a search's independent fits, behind one protocol (:class:`Executor`): in this
process (:class:`LocalExecutor`, the default) or on a Dask cluster (:class:`DaskExecutor`);
:func:`executor_for` chooses from a config."""
from __future__ import annotations

import contextlib
from typing import Iterator

from stc_gpu.config import STCConfig
from stc_gpu.executors.dask import DaskExecutor
from stc_gpu.executors.local import LocalExecutor
from stc_gpu.executors.protocol import Executor

__all__ = ["DaskExecutor", "Executor", "LocalExecutor", "executor_for"]


@contextlib.contextmanager
def executor_for(config: STCConfig, device: str) -> Iterator[Executor]:
    """A Dask executor when ``config.workers`` or ``config.scheduler`` is set, else the
    in-process one with ``config.fit_threads`` tasks at once; Dask workers get GPUs when the
    fits run on CUDA (``device``, from :func:`stc_gpu.stc.fit_options.fit_device`)."""
    if not (config.workers or config.scheduler):
        yield LocalExecutor(config.fit_threads)
        return
    gpu = device.startswith("cuda")
    with DaskExecutor(config.workers, scheduler=config.scheduler, gpu=gpu) as executor:
        yield executor
