"""Extraction under ``torchrun``: one process per GPU (or CPU share), one store entry in common.

``torchrun`` starts the processes and sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``;
:func:`distributed_context` reads them, joins the process group (NCCL on CUDA, Gloo on CPU) when
there is more than one process, and picks the rank's device (``cuda:LOCAL_RANK``).
:func:`extract_distributed` shards the rows by store block (block ``b`` is computed by rank
``b % world_size``): rank 0 claims the entry for the whole job (one writer job per entry, see
:mod:`stc_gpu.store.lock`) and creates it while the others wait, then every rank writes its own
whole blocks, and rank 0 checks that the entry is complete. The store is the same, byte for byte,
as a single process would write, and a rerun after a crash computes only the missing blocks.
"""
from __future__ import annotations

import dataclasses
import os
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Iterator

import torch
import torch.distributed as dist

from stc_gpu.data.readers import TextSource, scan_texts
from stc_gpu.extract.to_store import (ExtractionSummary, complete_entry, create_entry,
                                      entry_path, extract_to_store, tell_user)
from stc_gpu.store.feature_store import StoreEntry
from stc_gpu.store.lock import claim_entry
from stc_gpu.vocabulary import DEFAULT_BLOCK_ROWS

#: How long a rank waits for the others at a synchronisation point. The ranks meet after their
#: last block, so a rank with more blocks left (e.g. when resuming) keeps the others waiting; a
#: dead rank is not waited for, since torchrun then stops every process.
DEFAULT_TIMEOUT = timedelta(hours=24)


class RankFailedError(RuntimeError):
    """Another rank of the distributed run failed (its message is included)."""


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands in a (possibly one-process) run.

    ``device`` is the rank's compute device; ``distributed`` (more than one process) says whether
    the ranks synchronise through a process group.
    """

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name} must be an integer, not {value!r}") from None


def _resolve_device(device: str | torch.device | None, local_rank: int,
                    world_size: int) -> torch.device:
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(device)
    except RuntimeError:
        raise ValueError(f"unknown device {device!r}; expected cpu, cuda or cuda:N") from None
    if device.type != "cuda":
        return device
    if not torch.cuda.is_available():
        raise ValueError(f"device {device} asked for, but CUDA is not available")
    if device.index is not None:
        if world_size > 1:
            raise ValueError(f"device {device} names one GPU, but {world_size} processes run: "
                             "give --device cuda and each rank takes cuda:LOCAL_RANK")
        return device
    if local_rank >= torch.cuda.device_count():
        raise ValueError(f"LOCAL_RANK {local_rank} has no GPU: this machine has "
                         f"{torch.cuda.device_count()}; start at most that many processes per node")
    return torch.device("cuda", local_rank)


def read_launch_environment() -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)`` from torchrun's variables; ``(0, 1, 0)`` without them."""
    world_size = _env_int("WORLD_SIZE", 1)
    rank, local_rank = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    if world_size < 1 or not 0 <= rank < world_size or local_rank < 0:
        raise ValueError(f"inconsistent launch environment: RANK={rank}, WORLD_SIZE={world_size}, "
                         f"LOCAL_RANK={local_rank}")
    return rank, world_size, local_rank


@contextmanager
def distributed_context(device: str | torch.device | None = None, *,
                        timeout: timedelta = DEFAULT_TIMEOUT) -> Iterator[DistributedContext]:
    """This process's rank, world size, local rank and device, with the process group up.

    The process group is initialised only when ``WORLD_SIZE > 1`` (NCCL when the device is a GPU,
    Gloo otherwise) and destroyed on exit; a group someone else initialised is used as it is.

    Parameters
    ----------
    device : None (a GPU when CUDA is available, else CPU), ``"cpu"`` or ``"cuda"``; with CUDA each
        rank gets ``cuda:LOCAL_RANK``. ``"cuda:N"`` is accepted only for a single process.
    timeout : how long collectives wait for the slowest rank.
    """
    rank, world_size, local_rank = read_launch_environment()
    resolved = _resolve_device(device, local_rank, world_size)
    context = DistributedContext(rank, world_size, local_rank, resolved)
    if not context.distributed or dist.is_initialized():
        yield context
        return
    if resolved.type == "cuda":
        torch.cuda.set_device(resolved)
    backend = "nccl" if resolved.type == "cuda" else "gloo"
    dist.init_process_group(backend, rank=rank, world_size=world_size, timeout=timeout)
    try:
        yield context
        # Leave together: a rank tearing down gloo while a peer still talks to it can abort
        # ("terminate called without an active exception"), seen once in CI on a resume.
        dist.barrier()
    finally:
        dist.destroy_process_group()


def _gather(context: DistributedContext, value) -> list:
    """``value`` of every rank, in rank order (a collective: every rank must call it)."""
    if not context.distributed:
        return [value]
    values = [None] * context.world_size
    dist.all_gather_object(values, value)
    return values


def _describe_error(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"


def _raise_for_failed_ranks(context: DistributedContext, outcomes: list,
                            own_error: BaseException | None) -> None:
    """Re-raise this rank's error, or a :class:`RankFailedError` naming the ranks that failed."""
    if own_error is not None:
        raise own_error
    failed = [(rank, outcome) for rank, outcome in enumerate(outcomes) if isinstance(outcome, str)]
    if failed:
        details = "; ".join(f"rank {rank}: {message}" for rank, message in failed)
        raise RankFailedError(f"rank {context.rank} stops because other ranks failed ({details})")


def combine_summaries(summaries: list[ExtractionSummary], n_blocks: int) -> ExtractionSummary:
    """One summary of all ranks' work on an entry of ``n_blocks`` blocks.

    Counters are summed; ``seconds`` is the slowest rank's wall time (so rates are those of the
    whole run); ``write_seconds`` sums the ranks' writer threads.
    """
    written = sum(s.blocks_written for s in summaries)
    return dataclasses.replace(
        summaries[0], texts=sum(s.texts for s in summaries),
        tokens=sum(s.tokens for s in summaries), truncated=sum(s.truncated for s in summaries),
        slots=sum(s.slots for s in summaries), blocks_written=written,
        blocks_already_done=n_blocks - written,
        bytes_written=sum(s.bytes_written for s in summaries),
        write_seconds=sum(s.write_seconds for s in summaries),
        seconds=max(s.seconds for s in summaries),
        texts_reused=sum(s.texts_reused for s in summaries))


def extract_distributed(source: TextSource, extractor, store_path: str | Path,
                        context: DistributedContext, *, text_column: str = "text",
                        block_rows: int = DEFAULT_BLOCK_ROWS, max_texts: int | None = None,
                        progress: bool = True, wait: bool = False, compressor: str = "none",
                        ) -> tuple[StoreEntry, ExtractionSummary]:
    """:func:`~stc_gpu.extract.to_store.extract_to_store` with this rank's share of the blocks.

    Every rank must call it with the same arguments. Rank 0 claims the entry for the job (another
    job writing it is waited for with ``wait``, else an error naming it) and creates (or reopens)
    it while the others wait, so the entry is never created twice, even on a file system whose
    locks do not reach across machines; then each rank computes the blocks ``b`` with
    ``b % world_size == rank``. An error on any rank is raised on every rank (a
    :class:`RankFailedError` on the others), so none waits forever.

    Returns
    -------
    The entry and, on every rank, the summary of all ranks together.
    """
    if not context.distributed:
        return extract_to_store(source, extractor, store_path, text_column=text_column,
                                block_rows=block_rows, max_texts=max_texts, progress=progress,
                                wait=wait, compressor=compressor)
    with ExitStack() as claim:  # rank 0 holds the entry until every rank is done
        own_error = scan = job = None
        try:
            scan = scan_texts(source, text_column=text_column, max_texts=max_texts,
                              progress=progress)
            if context.is_main and complete_entry(scan, extractor, store_path) is None:
                job = claim.enter_context(claim_entry(
                    entry_path(scan, extractor, store_path), world_size=context.world_size,
                    wait=wait, notify=tell_user))
                create_entry(scan, extractor, store_path, block_rows=block_rows,
                             text_column=text_column, compressor=compressor)
        except Exception as err:  # noqa: BLE001 - shared with the other ranks, then re-raised
            own_error = err
        outcomes = _gather(context, {"job": job} if own_error is None
                           else _describe_error(own_error))
        _raise_for_failed_ranks(context, outcomes, own_error)

        try:
            entry, summary = extract_to_store(
                source, extractor, store_path, text_column=text_column, block_rows=block_rows,
                max_texts=max_texts, progress=progress, rank=context.rank,
                world_size=context.world_size, wait=wait, compressor=compressor, scan=scan,
                job=outcomes[0]["job"])
        except Exception as err:  # noqa: BLE001 - shared with the other ranks, then re-raised
            own_error = err
        outcomes = _gather(context, summary if own_error is None else _describe_error(own_error))
        _raise_for_failed_ranks(context, outcomes, own_error)
    if context.is_main and not entry.is_complete:
        missing = [b for b, done in enumerate(entry.blocks_done()) if not done]
        raise RuntimeError(f"entry {entry.key}: every rank finished, but blocks {missing} are "
                           f"not in {entry.path}; is the store on a file system that every node "
                           "shares? If so, rerun the same command to complete them")
    return entry, combine_summaries(outcomes, entry.n_blocks)
