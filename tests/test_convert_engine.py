"""The streaming copy engine under convert and compact (ops.copy_device): chunks mapped from
the source file, written by a second thread (WriteBehind), shared by reflink between raw and
fixed images where the filesystem can, else written. Outputs checked with qemu-img compare."""

from __future__ import annotations

import errno
import os
import threading

import pytest

from diskkit import blockdev
from diskkit.blockdev import FileDevice, FileRegion, SliceDevice
from diskkit.errors import ImageIOError, NoSpace
from diskkit.image import open_image
from diskkit.ops import WriteBehind, chunks
from diskkit.ops.convert import convert
from diskkit.units import MiB
from support import diskkit, run
from support.reliability import assert_error, host_limit
from support.vhd import make_raw, qemu_compare

FMT = {"raw": "raw", "fixed": "vpc", "dynamic": "vpc"}


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """20 MiB with scattered data (several chunks, zero runs and holes), and qemu-img's
    fixed and dynamic VHDs (dynamic blocks partly present: bitmaps not full) and VHDX of it."""
    d = tmp_path_factory.mktemp("engine")
    raw = make_raw(d / "src.raw", 20 * MiB, seed=5, writes=30)
    with open(raw, "r+b") as fh:  # one dense stretch across a chunk boundary
        fh.seek(3 * MiB)
        fh.write(os.urandom(3 * MiB))
    out = {"raw": raw}
    for kind in ("fixed", "dynamic"):
        out[kind] = d / f"qemu-{kind}.vhd"
        run("qemu-img", "convert", "-f", "raw", "-O", "vpc", "-o",
            f"subformat={kind},force_size=on", raw, out[kind])
    out["vhdx"] = d / "qemu.vhdx"
    run("qemu-img", "convert", "-f", "raw", "-O", "vhdx", "-o", "block_size=1M", raw, out["vhdx"])
    return out


def test_writer_keeps_order_reuses_buffers_and_hands_back_errors():
    """Writes arrive in order; a buffer comes back only once written; an error in the writer
    thread stops the writing and is raised in the caller, not lost."""
    written, seen = [], set()

    def put(offset, view):
        assert threading.current_thread().name == "diskkit-writer"
        written.append((offset, bytes(view[:1])))

    with WriteBehind(put, 4096, depth=2) as writer:
        for i in range(50):
            buf = writer.take()
            seen.add(id(buf.obj))
            buf[:1] = bytes([i])
            writer.write(i * 4096, buf, [(0, 4096)] if i % 5 else [])
    assert written == [(i * 4096, bytes([i])) for i in range(50) if i % 5]
    assert len(seen) <= 3  # depth queued + one being filled

    calls = []

    def failing(offset, view):
        calls.append(offset)
        if len(calls) == 3:
            raise NoSpace("out.vhd: No space left on device")

    writer = WriteBehind(failing, 4096, depth=2)
    with pytest.raises(NoSpace, match="No space"):
        for i in range(1000):
            writer.write(i, writer.take(), [(0, 4096)])
        writer.close()
    assert len(calls) == 3  # nothing written after the error
    with pytest.raises(NoSpace):
        writer.close()


def test_caller_error_stops_the_writer():
    """An exception in the caller's loop ends the writer thread and keeps the caller's error."""
    with pytest.raises(KeyError), WriteBehind(lambda offset, view: None, 4096) as writer:
        writer.write(0, writer.take(), [(0, 4096)])
        raise KeyError("reader failed")
    assert not writer._thread.is_alive()


def test_write_error_mid_copy_is_one_line_and_leaves_nothing(tmp_path):
    """The host fills up while the writer thread is several chunks behind the reader: one
    error line, exit 2, no output and no temporary file."""
    src = tmp_path / "dense.raw"
    src.write_bytes(os.urandom(24 * MiB))
    before = set(os.listdir(tmp_path))
    proc = diskkit("convert", "--to", "dynamic", src, tmp_path / "out.vhd", check=False,
                   preexec_fn=host_limit(10 * MiB))
    assert "too large" in assert_error(proc, "convert on a full host").lower()
    assert set(os.listdir(tmp_path)) == before


@pytest.mark.parametrize("src_kind,to", [("raw", "fixed"), ("fixed", "raw"), ("raw", "raw"),
                                         ("fixed", "fixed")])
def test_reflink_path_and_its_fallbacks(tmp_path, source, monkeypatch, src_kind, to):
    """Raw <-> fixed shares extents where the filesystem can (simulated here: ext4 and tmpfs
    cannot, and the real ioctl is tried below); a range it cannot share is written, and a
    filesystem that cannot share at all is never asked again, and no kernel copy is tried."""
    shared, refused = [], []

    def reflink(self, fd, offset, length):  # stands in for FICLONERANGE on XFS/btrfs
        if offset % (1 * MiB) == 0:
            refused.append(offset)
            return False  # as for an unaligned range: written instead
        while length:
            n = os.copy_file_range(fd, self.fd, length, offset, offset)
            offset, length = offset + n, length - n
        shared.append(offset)
        return True

    monkeypatch.setattr(FileRegion, "clone_from", reflink)
    out = tmp_path / f"shared.{to}"
    convert(source[src_kind], out, to)
    assert shared and refused
    assert qemu_compare(source["raw"], "raw", out, FMT[to])

    asked = []

    def cannot(self, fd, offset, length):
        asked.append(offset)
        return None

    def kernel_copy(*args):  # page cache to page cache, written back at fsync: more CPU
        raise AssertionError("copy_file_range called")  # than writing from the mapping

    monkeypatch.setattr(FileRegion, "clone_from", cannot)
    monkeypatch.setattr(os, "copy_file_range", kernel_copy, raising=False)
    out = tmp_path / f"written.{to}"
    convert(source[src_kind], out, to)
    assert len(asked) == 1
    assert qemu_compare(source["raw"], "raw", out, FMT[to])


def test_clone_from_maps_the_kernels_answers(tmp_path, monkeypatch):
    """FICLONERANGE for real (this filesystem may or may not share), then each answer."""
    src, dst = tmp_path / "a", tmp_path / "b"
    src.write_bytes(os.urandom(MiB))
    dst.write_bytes(bytes(MiB))
    a, b = FileRegion.open(src), FileRegion.open(dst, writable=True)
    try:
        if b.clone_from(a.fd, 0, 64 * 1024):
            b.sync()
            assert dst.read_bytes()[:64 * 1024] == src.read_bytes()[:64 * 1024]
        fcntl = pytest.importorskip("fcntl")
        for code, answer in [(errno.EXDEV, None), (errno.EOPNOTSUPP, None),
                             (errno.ENOTTY, None), (errno.EINVAL, False)]:
            def refuse(*args, code=code):
                raise OSError(code, os.strerror(code))
            monkeypatch.setattr(fcntl, "ioctl", refuse)
            assert b.clone_from(a.fd, 0, 4096) is answer
        monkeypatch.setattr(fcntl, "ioctl", lambda *args: (_ for _ in ()).throw(
            OSError(errno.EIO, "Input/output error")))
        with pytest.raises(ImageIOError, match="Input/output error"):
            b.clone_from(a.fd, 0, 4096)
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("kind", ["raw", "fixed", "dynamic", "vhdx"])
def test_mapped_chunks_read_as_read_at(tmp_path, source, kind):
    """Every chunk, mapped or read, holds what read_at returns; a dynamic block whose bitmap
    is not full (qemu-img's) is read, not mapped, so its absent sectors read as zeros. The
    raw copy equals the source for qemu-img."""
    with open_image(source[kind]) as dev:
        mapped = 0
        for offset, view in chunks(dev):
            assert bytes(view) == dev.read_at(offset, len(view))
            mapped += dev.map_view(offset, len(view)) is not None
        assert mapped or kind == "dynamic"
    convert(source[kind], tmp_path / "copy.raw", "raw")
    assert qemu_compare(source["raw"], "raw", tmp_path / "copy.raw", "raw")


def test_map_view_stays_inside_the_file(tmp_path, monkeypatch):
    """Past the host file's end nothing is mapped (it would fault): the read path fills
    zeros there. A slice maps through its parent at its own offsets. A page that cannot be
    read is not mapped either (touching it would kill the process with SIGBUS): the read
    path reports the I/O error."""
    path = tmp_path / "short.raw"
    path.write_bytes(os.urandom(3 * 4096))
    with FileDevice(str(path)) as dev:
        assert dev.region.map_view(4096, 4096) == path.read_bytes()[4096:8192]
        assert dev.region.map_view(4096, 3 * 4096) is None
        assert dev.region.map_view(100, 1000) == path.read_bytes()[100:1100]  # unaligned start
        part = SliceDevice(dev, 4096, 8192)
        assert part.map_view(512, 1024) == path.read_bytes()[4096 + 512:4096 + 1536]

        def unreadable(mapped):
            raise OSError(errno.EFAULT, "Bad address")
        monkeypatch.setattr(blockdev, "populate", unreadable)
        assert dev.region.map_view(4096, 4096) is None
        assert [bytes(view) for _, view in chunks(dev)] == [path.read_bytes()]
