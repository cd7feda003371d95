"""Reading an attribute's bytes: resident, on clusters (sparse runs read as zeros),
LZNT1-compressed in compression units, and CompactOS (WOF) chunks; and a file-like view.

Every stream has ``size`` and ``pread(offset, length)`` (clipped at ``size``).
"""

from __future__ import annotations

import io
import struct

from ..blockdev import COPY_CHUNK, fill_zero
from ..errors import CorruptImage
from . import lznt1, lzx, xpress
from .runlist import RunMap


class Stream:
    size = 0

    def pread(self, offset: int, length: int) -> bytes:
        raise NotImplementedError

    def chunks(self, chunk: int = COPY_CHUNK):
        """Yield the whole stream in pieces of at most ``chunk`` bytes."""
        for offset in range(0, self.size, chunk):
            yield self.pread(offset, chunk)

    def read_all(self) -> bytes:
        return self.pread(0, self.size)

    def read_into(self, offset: int, view: memoryview) -> int:
        """Fill ``view`` from ``offset`` (less at the end of the stream); bytes filled."""
        data = self.pread(offset, len(view))
        view[:len(data)] = data
        return len(data)


class ResidentStream(Stream):
    def __init__(self, value: bytes):
        self.value = value
        self.size = len(value)

    def pread(self, offset, length):
        return self.value[offset:offset + length]


class ClusterStream(Stream):
    """A non-resident attribute: clusters found through the run map; past ``initialized`` zeros."""

    def __init__(self, dev, cluster_size: int, runs: RunMap, size: int, initialized: int,
                 where: str):
        self.dev = dev
        self.cs = cluster_size
        self.runs = runs
        self.size = size
        self.initialized = min(initialized, size)
        self.where = where

    def pread(self, offset, length):
        end = min(offset + length, self.size)
        if offset >= end:
            return b""
        cs = self.cs
        parts = []
        init_end = min(end, self.initialized)
        if offset < init_end:
            vcn = offset // cs
            skip = offset - vcn * cs
            remaining = init_end - offset
            for lcn, count in self.runs.pieces(vcn, (init_end - 1) // cs - vcn + 1):
                take = min(count * cs - skip, remaining)
                parts.append(bytes(take) if lcn is None else self.dev.read_at(lcn * cs + skip, take))
                remaining -= take
                skip = 0
        tail = end - max(offset, init_end)
        if tail > 0:
            parts.append(bytes(tail))
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def read_into(self, offset, view):
        """Straight from the device into ``view`` (streaming copies reuse one buffer)."""
        end = min(offset + len(view), self.size)
        if offset >= end:
            return 0
        cs = self.cs
        pos = 0
        init_end = min(end, self.initialized)
        if offset < init_end:
            vcn = offset // cs
            skip = offset - vcn * cs
            for lcn, count in self.runs.pieces(vcn, (init_end - 1) // cs - vcn + 1):
                take = min(count * cs - skip, init_end - offset - pos)
                if lcn is None:
                    fill_zero(view[pos:pos + take])
                else:
                    self.dev.read_into(lcn * cs + skip, view[pos:pos + take])
                pos += take
                skip = 0
        fill_zero(view[pos:end - offset])
        return end - offset


class CompressedStream(ClusterStream):
    """LZNT1 in compression units of ``2 ** unit_shift`` clusters.

    A unit whose clusters are all allocated is stored as is, one with none allocated is zeros,
    otherwise its allocated clusters (always at the unit's start) hold the compressed data.
    """

    def __init__(self, dev, cluster_size, runs, size, initialized, unit_shift, where):
        super().__init__(dev, cluster_size, runs, size, initialized, where)
        self.unit_clusters = 1 << unit_shift
        self.unit_size = cluster_size << unit_shift
        self._cached = (-1, b"")

    def _unit(self, index: int) -> bytes:
        if self._cached[0] == index:
            return self._cached[1]
        first = index * self.unit_clusters
        count = min(self.unit_clusters, self.runs.clusters - first)
        if count <= 0:
            raise CorruptImage(f"{self.where}: compression unit {index} is not mapped")
        pieces = list(self.runs.pieces(first, count))
        cs = self.cs
        if all(lcn is None for lcn, _ in pieces):
            data = bytes(self.unit_size)
        else:
            raw = b"".join(self.dev.read_at(lcn * cs, n * cs) for lcn, n in pieces
                           if lcn is not None)
            if count == self.unit_clusters and all(lcn is not None for lcn, _ in pieces):
                data = raw
            else:
                data = lznt1.decompress(raw, self.unit_size,
                                        f"{self.where}: compression unit {index}")
        self._cached = (index, data)
        return data

    def pread(self, offset, length):
        end = min(offset + length, self.size)
        parts = []
        pos = offset
        while pos < end:
            index, inner = divmod(pos, self.unit_size)
            take = min(self.unit_size - inner, end - pos)
            if pos >= self.initialized:
                parts.append(bytes(end - pos))
                break
            take = min(take, self.initialized - pos)
            parts.append(self._unit(index)[inner:inner + take])
            pos += take
        return b"".join(parts)


class WofStream(Stream):
    """A CompactOS file: the ``WofCompressedData`` stream holds a chunk offset table, then
    chunks of ``chunk_size`` bytes each compressed alone (stored as is when that is smaller).
    """

    def __init__(self, packed: Stream, size: int, algorithm: str, chunk_size: int, where: str):
        self.packed = packed
        self.size = size
        self.chunk_size = chunk_size
        self.where = where
        if algorithm.startswith("XPRESS"):
            self.decompress = xpress.decompress
        else:
            self.decompress = lzx.decompress
        count = (size + chunk_size - 1) // chunk_size
        entry = 8 if size > 0xFFFFFFFF else 4
        table_size = (count - 1) * entry if count else 0
        if table_size > packed.size:
            raise CorruptImage(f"{where}: WofCompressedData ({packed.size} bytes) is shorter "
                               f"than its chunk table for {count} chunks")
        raw = packed.pread(0, table_size)
        ends = list(struct.unpack(f"<{count - 1}{'Q' if entry == 8 else 'I'}", raw)) if count else []
        starts = [0] + ends
        ends.append(packed.size - table_size)
        for i, (a, b) in enumerate(zip(starts, ends)):
            if not 0 <= a <= b <= packed.size - table_size:
                raise CorruptImage(f"{where}: WOF chunk {i} spans bytes {a}..{b} outside the "
                                   f"{packed.size - table_size}-byte chunk area")
        self.bounds = [(table_size + a, b - a) for a, b in zip(starts, ends)]
        self._cached = (-1, b"")

    def _chunk(self, index: int) -> bytes:
        if self._cached[0] == index:
            return self._cached[1]
        start, length = self.bounds[index]
        usize = min(self.chunk_size, self.size - index * self.chunk_size)
        raw = self.packed.pread(start, length)
        if length == usize:
            data = raw
        elif length > usize:
            raise CorruptImage(f"{self.where}: WOF chunk {index} is {length} bytes for "
                               f"{usize} bytes of data")
        else:
            data = self.decompress(raw, usize, f"{self.where}: chunk {index}")
        self._cached = (index, data)
        return data

    def pread(self, offset, length):
        end = min(offset + length, self.size)
        parts = []
        while offset < end:
            index, inner = divmod(offset, self.chunk_size)
            piece = self._chunk(index)[inner:inner + end - offset]
            parts.append(piece)
            offset += len(piece)
        return b"".join(parts)


class StreamFile(io.RawIOBase):
    """A read-only, seekable file object over a stream (what ``NtfsVolume.open`` returns)."""

    def __init__(self, stream: Stream, name: str):
        super().__init__()
        self.stream = stream
        self.name = name
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self.stream.read_into(self._pos, memoryview(buffer).cast("B"))
        self._pos += n
        return n

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = max(0, self.stream.size - self._pos)
        data = self.stream.pread(self._pos, size)
        self._pos += len(data)
        return data

    def readall(self) -> bytes:
        return self.read(-1)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.stream.size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._pos = base + offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    @property
    def size(self) -> int:
        return self.stream.size
