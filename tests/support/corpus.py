"""The foreign-image corpus (images other tools made), unpacked once and shared by every run.

The tarball (``../shared/corpus/foreign-images.tar.xz`` from the repository root, or the path
in ``DISKKIT_CORPUS``) expands to 17 GB, nearly all zeros. It is unpacked sparsely into a cache
folder keyed by the tarball's size and mtime (under ``support.cache_dir()``), so only the
first run on a machine pays for it. The xz stream is split into independent blocks: identical compressed
blocks decode to identical bytes, so each distinct block is decoded once (threads; lzma releases
the GIL), blocks of zeros become holes without being written, and data blocks are written in
1 MiB pieces that skip zero pieces.

Cached images are shared by every test and every run: open them read-only, or ``copy`` first.
"""

from __future__ import annotations

import fcntl
import hashlib
import lzma
import os
import shutil
import struct
import tarfile
import tempfile
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from support import ROOT, cache_dir

UNPACKER_VERSION = 1  # part of the cache key: bump when the unpacked layout changes
PIECE = 1 << 20
XZ_MAGIC = b"\xfd7zXZ\x00"


def tarball() -> Path:
    """Where the corpus tarball is expected (it may be absent)."""
    override = os.environ.get("DISKKIT_CORPUS")
    if override:
        return Path(override)
    return ROOT.parent / "shared" / "corpus" / "foreign-images.tar.xz"


@dataclass(frozen=True)
class ExpectRow:
    """One line of EXPECT.tsv: ``broken:*`` (a tool says damaged), ``refuse:*`` (diskkit should
    decline), ``quirk:*`` (legal but unusual), ``valid*`` or empty (fine)."""

    path: str
    expectation: str
    note: str


class Corpus:
    """The unpacked corpus: images by their corpus-relative name (``ul-pt/gpt.img``)."""

    def __init__(self, root: Path):
        self.root = root

    def path(self, name: str) -> Path:
        """The shared, read-only copy of an image; a name that is not in the corpus fails."""
        path = self.root / name
        assert path.is_file(), f"{name} is not in the corpus ({self.root})"
        return path

    def copy(self, name: str, dest: str | os.PathLike) -> Path:
        """A private, writable, sparse copy of an image in folder ``dest``."""
        target = Path(dest) / Path(name).name
        sparse_copy(self.path(name), target)
        return target

    def names(self, folder: str = "", suffix: str = "") -> list[str]:
        """Corpus-relative names of the files under ``folder`` ending in ``suffix``, sorted."""
        top = self.root / folder
        return sorted(str(p.relative_to(self.root)) for p in top.rglob(f"*{suffix}") if p.is_file())

    def expect(self) -> list[ExpectRow]:
        """The rows of EXPECT.tsv (an image may have more than one row)."""
        rows = []
        for line in (self.root / "EXPECT.tsv").read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                path, expectation, note = (line.split("\t") + ["", ""])[:3]
                rows.append(ExpectRow(path, expectation, note))
        return rows

    def expectations(self, name: str) -> list[str]:
        """Every expectation EXPECT.tsv gives ``name`` (empty: nothing special, i.e. valid)."""
        return [row.expectation for row in self.expect() if row.path == name]

    def blkid_expected(self, name: str) -> dict[str, str] | None:
        """util-linux's expected ``blkid -p -o udev`` output for a ``ul-fs/*.img`` image."""
        stem = Path(name).name.removesuffix(".img")
        path = self.root / "ul-expected" / f"low-probe-{stem}"
        if not path.exists():
            return None
        return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)

    def pt_expected(self, name: str) -> tuple[str, list[tuple[int, int, int, int | str]]] | None:
        """util-linux's expected partition list for a ``ul-pt/*.img`` image: the header line
        (``size: ..., PT: gpt, ...``) and (number, start, size, type) per partition; the type
        is the MBR code as an int or the GPT type GUID."""
        stem = Path(name).name.removesuffix(".img")
        path = self.root / "ul-expected" / f"lowprobe-pt-{stem}"
        if not path.exists():
            return None
        header, _, rest = path.read_text().partition("\n---\n")
        rows = []
        for line in rest.splitlines():
            if not line.startswith("#"):
                continue
            number, start, size, kind = line.split()[:4]
            guid = line.split("type='")[1].split("'")[0] if "type='" in line else None
            rows.append((int(number[1:-1]), int(start), int(size), guid or int(kind, 16)))
        return header.strip(), rows


def load() -> Corpus | None:
    """The unpacked corpus, or None when the tarball is absent (callers skip)."""
    source = tarball()
    if not source.is_file():
        return None
    return _unpacked(str(source))


@cache
def _unpacked(source: str) -> Corpus:
    stat = os.stat(source)
    key = f"corpus-{stat.st_size}-{stat.st_mtime_ns}-v{UNPACKER_VERSION}"
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    final = root / key
    with open(root / "corpus.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one unpacker per machine; the others wait and reuse
        if not (final / ".complete").exists():
            for stale in root.glob("corpus-*"):
                shutil.rmtree(stale, ignore_errors=True)
            work = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=root))
            unpack(source, work)
            (work / ".complete").write_text(source + "\n")
            work.rename(final)
    return Corpus(final)


# -- sparse unpacking -------------------------------------------------------------------------

def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


@dataclass(frozen=True)
class XzBlock:
    header: bytes  # the stream header the block belongs to (names its check type)
    data: bytes  # the block, padding included
    start: int  # offset of its first byte in the uncompressed stream
    size: int  # uncompressed size


def xz_blocks(raw: bytes) -> list[XzBlock]:
    """The blocks of an .xz file from its indexes (streams walked from the end)."""
    blocks: list[XzBlock] = []
    end = len(raw)
    streams = []
    while end > 0:
        while raw[end - 4:end] == b"\0\0\0\0":  # stream padding
            end -= 4
        footer = raw[end - 12:end]
        if footer[10:12] != b"YZ":
            raise ValueError("not an xz file (no stream footer)")
        backward = (struct.unpack_from("<I", footer, 4)[0] + 1) * 4
        index_start = end - 12 - backward
        count, pos = _varint(raw, index_start + 1)
        records = []
        for _ in range(count):
            unpadded, pos = _varint(raw, pos)
            size, pos = _varint(raw, pos)
            records.append((unpadded, size))
        stream_start = index_start - sum((u + 3) & ~3 for u, _ in records) - 12
        if raw[stream_start:stream_start + 6] != XZ_MAGIC:
            raise ValueError("xz index does not match its blocks")
        streams.append((stream_start, records))
        end = stream_start
    start = 0
    for stream_start, records in reversed(streams):
        header = raw[stream_start:stream_start + 12]
        pos = stream_start + 12
        for unpadded, size in records:
            padded = (unpadded + 3) & ~3
            blocks.append(XzBlock(header, raw[pos:pos + padded], start, size))
            pos += padded
            start += size
    return blocks


@cache
def _zeros(n: int) -> bytes:
    return bytes(n)


def decode_block(block: XzBlock) -> bytes:
    """One block alone (the block's own check is verified by liblzma at its end)."""
    out = lzma.LZMADecompressor(lzma.FORMAT_XZ).decompress(block.header + block.data)
    if len(out) != block.size:
        raise ValueError(f"xz block at {block.start}: {len(out)} bytes, index says {block.size}")
    return out


class BlockStream:
    """A seekable read-only view of the uncompressed tar stream, decoding blocks on demand.

    ``pieces(offset, length)`` yields the data of a range block by block; a block known to
    hold only zeros yields ``None`` (never materialised)."""

    def __init__(self, blocks: list[XzBlock], workers: int = 2, ahead: int = 3):
        self.blocks = blocks
        self.keys = [hashlib.sha256(b.header + b.data).digest() for b in blocks]
        self.zero_keys: set[bytes] = set()
        self.ready: OrderedDict[bytes, bytes] = OrderedDict()
        self.pending: dict[bytes, Future] = {}
        self.pool = ThreadPoolExecutor(workers)
        self.ahead = ahead
        self.pos = 0
        self.size = sum(b.size for b in blocks)

    def close(self) -> None:
        self.pool.shutdown(cancel_futures=True)

    def _index(self, offset: int) -> int:
        lo, hi = 0, len(self.blocks) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.blocks[mid].start <= offset:
                lo = mid
            else:
                hi = mid - 1
        return lo

    def _decoded(self, i: int) -> bytes | None:
        """Block ``i``'s bytes, or None when it is all zeros; decodes the next blocks ahead."""
        key = self.keys[i]
        for j in range(i, min(i + 1 + self.ahead, len(self.blocks))):
            k = self.keys[j]
            if k not in self.zero_keys and k not in self.ready and k not in self.pending:
                self.pending[k] = self.pool.submit(decode_block, self.blocks[j])
        if key in self.zero_keys:
            return None
        if key not in self.ready:
            data = self.pending.pop(key).result()
            if data == _zeros(len(data)):
                self.zero_keys.add(key)
                return None
            self.ready[key] = data
            while len(self.ready) > 2:
                self.ready.popitem(last=False)
        return self.ready[key]

    def pieces(self, offset: int, length: int):
        """(offset, length, bytes or None for zeros) covering ``[offset, offset + length)``."""
        end = min(offset + length, self.size)
        while offset < end:
            i = self._index(offset)
            block = self.blocks[i]
            stop = min(end, block.start + block.size)
            data = self._decoded(i)
            yield offset, stop - offset, (None if data is None
                                          else data[offset - block.start:stop - block.start])
            offset = stop

    # the file-object protocol, for tarfile's header reads
    def read(self, n: int = -1) -> bytes:
        n = self.size - self.pos if n < 0 else n
        out = b"".join(bytes(length) if data is None else data
                       for _, length, data in self.pieces(self.pos, n))
        self.pos += len(out)
        return out

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = {0: offset, 1: self.pos + offset, 2: self.size + offset}[whence]
        return self.pos

    def tell(self) -> int:
        return self.pos

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True


def unpack(source: str, dest: Path) -> None:
    """Unpack ``source`` (.tar.xz) into ``dest`` sparsely: regular files and folders only."""
    raw = Path(source).read_bytes()
    stream = BlockStream(xz_blocks(raw))
    try:
        with tarfile.open(fileobj=stream, mode="r:") as archive:
            for member in archive:
                target = dest / member.name
                if member.name.startswith("/") or ".." in Path(member.name).parts:
                    raise ValueError(f"{source}: unsafe member name {member.name!r}")
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                elif member.isreg():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    write_member(stream, member.offset_data, member.size, target)
                else:
                    raise ValueError(f"{source}: {member.name} is neither a file nor a folder")
    finally:
        stream.close()


def write_member(stream: BlockStream, offset: int, size: int, target: Path) -> None:
    """Write one member's data, seeking over zero blocks and zero 1 MiB pieces (aligned to
    the file, so holes fall on whole MiB) and truncating to its size at the end."""
    with open(target, "wb") as out:
        for start, length, data in stream.pieces(offset, size):
            if data is None:
                continue
            here = start - offset  # file position of data[0]
            pos = 0
            while pos < length:
                step = min(length - pos, PIECE - (here + pos) % PIECE)
                piece = data[pos:pos + step]
                if piece != _zeros(step):
                    out.seek(here + pos)
                    out.write(piece)
                pos += step
        out.truncate(size)


def sparse_copy(src: Path, dst: Path) -> None:
    """Copy ``src`` to ``dst`` keeping holes (SEEK_DATA/SEEK_HOLE), then make it writable."""
    size = src.stat().st_size
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        pos = 0
        while pos < size:
            try:
                pos = os.lseek(fin.fileno(), pos, os.SEEK_DATA)
            except OSError:  # no data after pos
                break
            hole = os.lseek(fin.fileno(), pos, os.SEEK_HOLE)
            fin.seek(pos)
            fout.seek(pos)
            left = hole - pos
            while left:
                chunk = fin.read(min(left, 4 << 20))
                fout.write(chunk)
                left -= len(chunk)
            pos = hole
        fout.truncate(size)
    os.chmod(dst, 0o644)
