"""Whole-image operations: convert, compact, resize, inspect (info/check). Shared here: the
streaming copy every operation uses."""

from __future__ import annotations

import mmap
import queue
import threading
from collections.abc import Callable, Iterator

from ..blockdev import COPY_CHUNK, BlockDevice
from ..blockdev import is_zero


def copy_chunk_size(dev: BlockDevice) -> int:
    """4 MiB, or the dynamic block size when smaller, so a read never straddles two blocks."""
    block = getattr(dev, "block_size", 0)
    return min(block, COPY_CHUNK) if block else COPY_CHUNK


def chunks(dev: BlockDevice, chunk: int | None = None, on_progress=None,
           take: Callable[[], memoryview] | None = None) -> Iterator[tuple[int, memoryview]]:
    """Yield ``(offset, view)`` for every chunk inside ``allocated_ranges``, in order.

    A view is the chunk mapped from the host file where the device can (``map_view``: no
    copy), else read into a buffer: one reused buffer, so consume the view before the next
    iteration, or, with ``take`` (``WriteBehind.take``), a buffer ``take`` hands out for this
    chunk. ``on_progress(n)`` is called once a chunk has been handled.
    """
    chunk = chunk or copy_chunk_size(dev)
    if take is None:
        buf = _aligned_buffer(chunk)
        take = lambda: buf  # noqa: E731 - one buffer, reused
    for start, length in dev.allocated_ranges():
        pos, end = start, start + length
        while pos < end:
            n = min(chunk - pos % chunk, end - pos)
            view = dev.map_view(pos, n)
            if view is None:
                view = take()[:n]
                dev.read_into(pos, view)
            yield pos, view
            if on_progress:
                on_progress(n)
            pos += n


def _aligned_buffer(size: int) -> memoryview:
    """A page-aligned buffer (anonymous mmap), so writes from it can go O_DIRECT."""
    return memoryview(mmap.mmap(-1, size))


class WriteBehind:
    """The writing half of a streaming copy, in a second thread: while it writes one chunk's
    runs, the caller maps or reads and zero-tests the next (``pwrite``/``preadv`` release
    the GIL), so the disk never waits for a read, nor the read for the disk.

    ``write`` queues a chunk (at most ``depth`` wait; then it blocks); a chunk read into a
    buffer from ``take`` gives the buffer back once written. One thread writes, in the order
    given: a dynamic target allocates its blocks in that order and the interruption tests
    count writes. An error in the writer (a full disk, an I/O error) stops the writing and is
    raised in the caller at its next ``write`` or at the end.
    """

    def __init__(self, put: Callable[[int, memoryview], None], chunk: int, depth: int = 3):
        self._put = put
        self._chunk = chunk
        self._spare = depth + 1  # buffers still to make: the queued ones plus one being filled
        self._free: queue.SimpleQueue = queue.SimpleQueue()
        self._mine: set[int] = set()
        self._slots = threading.Semaphore(depth)
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="diskkit-writer", daemon=True)
        self._thread.start()

    def take(self) -> memoryview:
        """A buffer of ``chunk`` bytes that no queued write still uses."""
        if self._spare and self._free.empty():
            self._spare -= 1
            buf = mmap.mmap(-1, self._chunk)
            self._mine.add(id(buf))
            return memoryview(buf)
        return memoryview(self._free.get())

    def write(self, offset: int, view: memoryview, runs: list[tuple[int, int]]) -> None:
        """Queue ``view[start:end]`` to be written at ``offset + start`` for each run."""
        self._slots.acquire()
        if self._error is not None:
            self._slots.release()
            raise self._error
        self._jobs.put((offset, view, runs))

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            offset, view, runs = job
            try:
                if self._error is None:
                    for start, end in runs:
                        self._put(offset + start, view[start:end])
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                self._error = exc
            if id(view.obj) in self._mine:
                self._free.put(view.obj)
            del job, view  # a mapped chunk is unmapped now
            self._slots.release()

    def close(self) -> None:
        """Wait for the queued writes; raise the writer's error, if it had one."""
        if self._thread.is_alive():
            self._jobs.put(None)
            self._thread.join()
        if self._error is not None:
            raise self._error

    def __enter__(self) -> "WriteBehind":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is None:
            self.close()
        elif self._thread.is_alive():  # the caller failed: stop, keep the caller's error
            self._jobs.put(None)
            self._thread.join()


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
