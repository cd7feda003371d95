"""Whole-image operations: convert, compact, resize, inspect (info/check). Shared here: the
streaming copy every operation uses."""

from __future__ import annotations

import mmap
from collections.abc import Iterator

from ..blockdev import COPY_CHUNK, BlockDevice
from ..blockdev import is_zero


def copy_chunk_size(dev: BlockDevice) -> int:
    """4 MiB, or the dynamic block size when smaller, so a read never straddles two blocks."""
    block = getattr(dev, "block_size", 0)
    return min(block, COPY_CHUNK) if block else COPY_CHUNK


def chunks(dev: BlockDevice, chunk: int | None = None,
           on_progress=None) -> Iterator[tuple[int, memoryview]]:
    """Yield ``(offset, view)`` for every chunk inside ``allocated_ranges``, in order.

    The view points into one reused buffer: consume it before the next iteration.
    ``on_progress(n)`` is called once a chunk has been handled.
    """
    chunk = chunk or copy_chunk_size(dev)
    buf = memoryview(mmap.mmap(-1, chunk))  # page-aligned, so writes can go O_DIRECT
    for start, length in dev.allocated_ranges():
        pos, end = start, start + length
        while pos < end:
            n = min(chunk - pos % chunk, end - pos)
            view = buf[:n]
            dev.read_into(pos, view)
            yield pos, view
            if on_progress:
                on_progress(n)
            pos += n


def data_chunks(dev: BlockDevice, chunk: int | None = None,
                on_progress=None) -> Iterator[tuple[int, memoryview]]:
    """Like ``chunks``, without the all-zero ones."""
    for pos, view in chunks(dev, chunk, on_progress):
        if not is_zero(view):
            yield pos, view


SPARSE_GRANULE = 64 * 1024  # zero runs this size or larger stay holes in raw outputs


def nonzero_runs(view: memoryview, granule: int = SPARSE_GRANULE) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of the merged non-zero granules of ``view`` (zero granules are gaps)."""
    run_start = None
    for start in range(0, len(view), granule):
        if is_zero(view[start:start + granule]):
            if run_start is not None:
                yield run_start, start
                run_start = None
        elif run_start is None:
            run_start = start
    if run_start is not None:
        yield run_start, len(view)


def allocated_total(dev: BlockDevice) -> int:
    """Bytes inside ``allocated_ranges`` (the work a copy has to look at)."""
    return sum(length for _, length in dev.allocated_ranges())
