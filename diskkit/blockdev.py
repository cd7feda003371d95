"""The one interface every layer reads and writes through.

Containers (raw file, fixed VHD, dynamic VHD) and views (a partition slice) all expose
``BlockDevice``: byte-addressed ``read_at``/``write_at``, a fixed ``size``, ``flush`` and
``allocated_ranges`` so copies can skip holes and unallocated blocks. Partition tables and
filesystems never know which container they sit in.
"""

from __future__ import annotations

import errno
import functools
import mmap
import os
import stat
from collections.abc import Iterator

from .errors import CorruptImage, ImageIOError, NoSpace, UsageError

FICLONERANGE = 0x4020940D  # _IOW(0x94, 13, struct file_clone_range), linux/fs.h
COPY_CHUNK = 4 * 1024 * 1024  # large I/O blocks for streaming copies
DIRECT_MIN = 64 * 1024  # writes this large, 4 KiB-aligned, may bypass the page cache

# Interruption testing: with DISKKIT_KILL_AFTER_WRITES=N the process SIGKILLs itself just
# before its N-th modifying host operation, so tests can stop a command at every write.
_kill_after = int(os.environ.get("DISKKIT_KILL_AFTER_WRITES", "0") or 0)


def crash_point() -> None:
    """Called before every modifying host operation; a no-op unless interruption testing."""
    global _kill_after
    if _kill_after:
        _kill_after -= 1
        if _kill_after == 0:
            os.kill(os.getpid(), 9)


class BlockDevice:
    """Base class: subclasses implement ``_read``/``_write``; bounds are checked here once."""

    size: int = 0
    sector_size: int = 512
    writable: bool = False
    name: str = "<device>"
    disk_offset: int = 0  # where byte 0 lies on the whole disk (non-zero for partitions)

    # -- subclass hooks -------------------------------------------------------------------
    def _read(self, offset: int, length: int) -> bytes:
        raise NotImplementedError

    def _write(self, offset: int, data: bytes) -> None:
        raise NotImplementedError

    # -- public interface -----------------------------------------------------------------
    def read_at(self, offset: int, length: int) -> bytes:
        """Read exactly ``length`` bytes at ``offset``; reading past the end is an error."""
        self._check_range(offset, length, "read")
        if length == 0:
            return b""
        return self._read(offset, length)

    def read_into(self, offset: int, view: memoryview) -> None:
        """``read_at`` into a caller's buffer, so streaming copies reuse one buffer."""
        view[:] = self.read_at(offset, len(view))

    def map_view(self, offset: int, length: int) -> memoryview | None:
        """A read-only view of ``length`` bytes at ``offset`` mapped from the host file's page
        cache (no copy), or None where they are not one stretch of a host file: then
        ``read_into``. Streaming copies write from it straight to the disk (O_DIRECT)."""
        return None

    def write_at(self, offset: int, data: bytes | bytearray | memoryview) -> None:
        """Write ``data`` at ``offset``; the device never grows by writing."""
        if not self.writable:
            raise UsageError(f"{self.name}: opened read-only")
        self._check_range(offset, len(data), "write")
        if len(data):
            self._write(offset, data)

    def write_from_fd(self, offset: int, fd: int, src_offset: int, length: int) -> int:
        """Copy ``length`` bytes of host file ``fd`` (from ``src_offset``) to ``offset``, in
        large blocks through one reused buffer; file-backed devices copy in the kernel instead.
        Returns the bytes copied: fewer only when the host file ended early."""
        if not self.writable:
            raise UsageError(f"{self.name}: opened read-only")
        self._check_range(offset, length, "write")
        buf = memoryview(bytearray(min(length, COPY_CHUNK)))
        done = 0
        while done < length:
            want = buf[:min(len(buf), length - done)]
            try:
                n = os.preadv(fd, [want], src_offset + done)
            except OSError as exc:
                raise ImageIOError(f"reading the source: {exc.strerror or exc}") from None
            if n == 0:
                break
            self.write_at(offset + done, want[:n])
            done += n
        return done

    def write_zeroes(self, offset: int, length: int) -> None:
        """Make a range read back as zeros; containers override this to free space instead."""
        zeros = bytes(min(length, COPY_CHUNK))
        end = offset + length
        while offset < end:
            n = min(len(zeros), end - offset)
            self.write_at(offset, zeros[:n])
            offset += n

    def allocated_ranges(self) -> Iterator[tuple[int, int]]:
        """Yield sorted, non-overlapping ``(offset, length)`` ranges that may hold data.

        Everything outside them reads as zeros. The default claims the whole device.
        """
        if self.size:
            yield (0, self.size)

    def flush(self) -> None:
        """Push buffered writes to the host file."""

    def close(self) -> None:
        """Flush and release the host file."""
        self.flush()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _check_range(self, offset: int, length: int, what: str) -> None:
        if offset < 0 or length < 0 or offset + length > self.size:
            raise CorruptImage(
                f"{self.name}: {what} of {length} bytes at offset {offset} is outside the "
                f"device ({self.size} bytes)"
            )


def io_error(path: str, exc: OSError) -> Exception:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return NoSpace(f"{path}: {os.strerror(exc.errno)}")
    return ImageIOError(f"{path}: {exc.strerror or exc}")


def is_device_path(path: str) -> bool:
    """True for block and character devices, which diskkit writes only when told to."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISBLK(mode) or stat.S_ISCHR(mode)


def open_host_file(path: str, writable: bool, allow_device: bool = False):
    """Open a host file unbuffered, refusing block devices for writing unless asked."""
    if writable and not allow_device and is_device_path(path):
        raise UsageError(f"{path}: is a device; pass --device to write to it")
    try:
        return open(path, "r+b" if writable else "rb", buffering=0)
    except FileNotFoundError:
        raise ImageIOError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a directory, not an image") from None
    except OSError as exc:
        raise io_error(path, exc) from None


MADV_POPULATE_READ = 22  # linux/mman.h, Linux 5.14+


def populate(mapped: mmap.mmap) -> None:
    """Fault a read-only mapping in now, raising OSError (not a later SIGBUS) if a page cannot
    be read; OSError too where the kernel cannot say (before Linux 5.14, other systems)."""
    if not hasattr(mapped, "madvise"):
        raise OSError(errno.ENOSYS, "madvise")
    mapped.madvise(MADV_POPULATE_READ)


class FileRegion:
    """Positioned, bounds-free I/O on a host file, shared by every file-backed container."""

    def __init__(self, fileobj, name: str):
        self.file = fileobj
        self.fd = fileobj.fileno()
        self.name = name
        self.direct_fd: int | None = None
        self.durable = True  # False: sync() does nothing (a scratch file under a temporary name)
        self._mappable_end = 0  # the host file's size when last looked at (map_view)

    def write_direct(self) -> None:
        """From now on, send large aligned writes straight to the disk (``O_DIRECT``).

        For streaming copies (convert, compact), which fsync once at the end: copying every
        byte into fresh page-cache pages and writing them back later costs several times the
        CPU of the disk reading them from the copy's buffer (docs/performance.md). Small or
        unaligned writes (metadata, a caller's ``bytes``), and hosts or filesystems without
        ``O_DIRECT``, keep the page cache; reads stay buffered. A second descriptor, so the
        kernel keeps both views of the file coherent.
        """
        if self.direct_fd is not None or not hasattr(os, "O_DIRECT"):
            return
        try:
            self.direct_fd = os.open(f"/proc/self/fd/{self.fd}", os.O_WRONLY | os.O_DIRECT)
        except OSError:
            self.direct_fd = None

    @classmethod
    def open(cls, path: str, writable: bool = False, allow_device: bool = False) -> "FileRegion":
        return cls(open_host_file(str(path), writable, allow_device), str(path))

    def pread(self, offset: int, length: int) -> bytes:
        """Read ``length`` bytes; bytes past the host file's end read as zeros."""
        try:
            data = os.pread(self.fd, length, offset)
            while len(data) < length:
                more = os.pread(self.fd, length - len(data), offset + len(data))
                if not more:
                    return data + bytes(length - len(data))
                data += more
            return data
        except OSError as exc:
            raise io_error(self.name, exc) from None

    def pread_into(self, offset: int, view: memoryview) -> None:
        """Fill ``view`` at ``offset`` (bytes past the end read as zeros) without allocating.

        A fresh 4 MiB ``pread`` result costs more in page faults than the copy itself;
        ``preadv`` into a reused buffer avoids that.
        """
        if not hasattr(os, "preadv"):
            view[:] = self.pread(offset, len(view))
            return
        done = 0
        try:
            while done < len(view):
                n = os.preadv(self.fd, [view[done:]], offset + done)
                if n == 0:
                    fill_zero(view[done:])
                    return
                done += n
        except OSError as exc:
            raise io_error(self.name, exc) from None

    def map_view(self, offset: int, length: int) -> memoryview | None:
        """``length`` bytes at ``offset`` mapped read-only (mmap) and faulted in, or None past
        the host file's end (those bytes read as zeros; a mapping would fault), where a page
        cannot be read (the read path then reports the I/O error in one line, where touching
        the page would have killed the process with SIGBUS) or where it cannot be mapped.

        Reading 1 GiB through ``preadv`` spends most of a copy's CPU time copying page-cache
        pages into the buffer; a mapping hands those pages to the writer as they are. The
        mapping lives as long as the view (a few MiB at a time, so the process stays small).
        A file that another process cuts shorter meanwhile would still fault, as it would
        for any tool that maps its input."""
        start = offset - offset % mmap.ALLOCATIONGRANULARITY
        try:
            if offset + length > self._mappable_end:
                self._mappable_end = self.file_size()
                if offset + length > self._mappable_end:
                    return None
            mapped = mmap.mmap(self.fd, offset + length - start, offset=start,
                               prot=mmap.PROT_READ)
        except (OSError, ValueError, ImageIOError):
            return None
        try:
            populate(mapped)
        except OSError:
            mapped.close()
            return None
        return memoryview(mapped)[offset - start:]

    def pwrite(self, offset: int, data) -> None:
        crash_point()
        try:
            view = memoryview(data)
            if self.direct_fd is not None and len(view) >= DIRECT_MIN and \
                    not (offset | len(view)) % 4096:
                view, offset = self._pwrite_direct(offset, view)
            while len(view):
                written = os.pwrite(self.fd, view, offset)
                view = view[written:]
                offset += written
        except OSError as exc:
            raise io_error(self.name, exc) from None

    def _pwrite_direct(self, offset: int, view: memoryview) -> tuple[memoryview, int]:
        """Write what ``O_DIRECT`` takes; the rest (all of it if the buffer is not aligned in
        memory: EINVAL) is returned for the buffered path."""
        try:
            while len(view):
                written = os.pwrite(self.direct_fd, view, offset)
                view = view[written:]
                offset += written
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
        return view, offset

    def pwritev(self, offset: int, buffers: list) -> None:
        """Several buffers in one system call (no concatenation copy) where the OS offers it;
        one by one when writing direct, so a large aligned buffer can skip the page cache."""
        if self.direct_fd is not None or not hasattr(os, "pwritev"):
            for buf in buffers:
                self.pwrite(offset, buf)
                offset += len(buf)
            return
        crash_point()
        try:
            written = os.pwritev(self.fd, buffers, offset)
        except OSError as exc:
            raise io_error(self.name, exc) from None
        for buf in buffers:  # finish a short write buffer by buffer
            n = len(buf)
            if written < n:
                self.pwrite(offset + written, memoryview(buf)[written:])
                written = 0
            else:
                written -= n
            offset += n

    def copy_from(self, offset: int, fd: int, src_offset: int, length: int) -> int:
        """``os.copy_file_range`` from host file ``fd``: the kernel moves the bytes (no copies
        through Python), in blocks that each count as one write. Returns the bytes copied
        (fewer when the source ended early); -1 when the kernel cannot do it for this pair."""
        done = 0
        while done < length:
            crash_point()
            try:
                n = os.copy_file_range(fd, self.fd, min(length - done, 64 * COPY_CHUNK),
                                       src_offset + done, offset + done)
            except OSError as exc:
                if done == 0 and exc.errno in (errno.EXDEV, errno.ENOSYS, errno.EINVAL,
                                               errno.EOPNOTSUPP, errno.EBADF):
                    return -1
                raise io_error(self.name, exc) from None
            if n == 0:
                break
            done += n
        return done

    def write_mapped(self, offset: int, fd: int, src_offset: int, length: int) -> int:
        """Copy ``length`` bytes of host file ``fd`` from ``src_offset`` to ``offset`` out of a
        mapping of it, written ``O_DIRECT``: the disk reads the source's page-cache pages in
        place, where ``copy_file_range`` on ext4 copies every byte into fresh page-cache pages
        that fsync then writes back (about ten times the CPU for a 200 MiB file). Returns the
        bytes copied (fewer when the source ended early); -1 when this pair cannot go that
        way (offsets not 4 KiB-aligned, no ``O_DIRECT``, a mapping refused): ``copy_from``."""
        if (offset | src_offset) % 4096:
            return -1
        self.write_direct()
        if self.direct_fd is None:
            return -1
        try:
            end = min(src_offset + length, os.fstat(fd).st_size)
        except OSError:
            return -1
        done = 0
        while src_offset + done < end:
            n = min(COPY_CHUNK, end - src_offset - done)  # mapped a piece at a time: RSS stays small
            try:
                mapped = mmap.mmap(fd, n, offset=src_offset + done, prot=mmap.PROT_READ)
            except (OSError, ValueError):
                if done:
                    raise
                return -1
            try:
                try:
                    populate(mapped)
                except OSError as exc:
                    if done == 0 and exc.errno in (errno.EINVAL, errno.ENOSYS):
                        return -1  # a kernel before 5.14: no way to fault it in safely
                    raise ImageIOError(f"reading the source: {exc.strerror or exc}") from None
                with memoryview(mapped) as view:
                    whole = n - n % 4096  # O_DIRECT takes whole blocks; the tail is buffered
                    self.pwrite(offset + done, view[:whole])
                    if whole < n:
                        self.pwrite(offset + done + whole, view[whole:])
            finally:
                mapped.close()
            done += n
        return done

    def clone_from(self, fd: int, offset: int, length: int) -> bool | None:
        """Make ``[offset, offset + length)`` share host file ``fd``'s extents at the same
        offset (reflink, ``FICLONERANGE``: XFS, btrfs): no bytes move, nothing to write back.
        False when this range cannot be shared (not aligned to the filesystem's blocks);
        None when the files cannot share at all (another filesystem, or one without reflinks,
        like ext4): write instead. Unlike ``copy_file_range``, it never falls back to a
        copy through the page cache, which costs more CPU than writing from a mapping."""
        try:
            import fcntl
        except ImportError:  # not a POSIX host
            return None
        import struct

        crash_point()
        try:  # struct file_clone_range: src_fd, src_offset, src_length, dest_offset
            fcntl.ioctl(self.fd, FICLONERANGE, struct.pack("qQQQ", fd, offset, length, offset))
        except OSError as exc:
            if exc.errno == errno.EINVAL:
                return False
            if exc.errno in (errno.EOPNOTSUPP, errno.ENOTTY, errno.EXDEV, errno.ENOSYS,
                             errno.EBADF, errno.EPERM, errno.ETXTBSY):
                return None
            raise io_error(self.name, exc) from None
        return True

    def file_size(self) -> int:
        try:
            return os.lseek(self.fd, 0, os.SEEK_END)
        except OSError as exc:
            raise io_error(self.name, exc) from None

    def allocation(self) -> dict:
        """The host file's size and the bytes it occupies on the host disk."""
        try:
            st = os.fstat(self.fd)
        except OSError as exc:
            raise io_error(self.name, exc) from None
        return {"file_size": st.st_size, "allocated_bytes": getattr(st, "st_blocks", 0) * 512}

    def truncate(self, size: int) -> None:
        crash_point()
        try:
            os.ftruncate(self.fd, size)
        except OSError as exc:
            raise io_error(self.name, exc) from None

    def reserve(self, size: int) -> None:
        """Reserve the first ``size`` bytes' blocks without writing zeros (posix_fallocate),
        or by writing zeros where the filesystem cannot."""
        if hasattr(os, "posix_fallocate"):
            try:
                os.posix_fallocate(self.fd, 0, size)
                return
            except OSError as exc:
                if exc.errno == errno.ENOSPC:
                    raise NoSpace(f"{self.name}: no space to preallocate {size} bytes") from None
                if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                    raise ImageIOError(f"{self.name}: preallocation failed: "
                                       f"{exc.strerror}") from None
        chunk = bytes(COPY_CHUNK)
        for pos in range(0, size, len(chunk)):
            self.pwrite(pos, chunk[:min(len(chunk), size - pos)])

    def data_ranges(self, start: int, end: int) -> Iterator[tuple[int, int]]:
        """Non-hole ranges of the host file within ``[start, end)`` (SEEK_DATA/SEEK_HOLE)."""
        if not hasattr(os, "SEEK_DATA"):
            if end > start:
                yield (start, end - start)
            return
        pos = start
        while pos < end:
            try:
                data = os.lseek(self.fd, pos, os.SEEK_DATA)
            except OSError as exc:
                if exc.errno == errno.ENXIO:  # only a hole remains
                    return
                yield (pos, end - pos)  # filesystem cannot tell: assume data
                return
            if data >= end:
                return
            hole = min(os.lseek(self.fd, data, os.SEEK_HOLE), end)
            yield (data, hole - data)
            pos = hole

    def sync(self) -> None:
        if not self.durable:
            return
        try:
            os.fsync(self.fd)
        except OSError as exc:
            if exc.errno not in (errno.EINVAL, errno.EROFS):
                raise io_error(self.name, exc) from None

    def close(self) -> None:
        if self.direct_fd is not None:
            os.close(self.direct_fd)
            self.direct_fd = None
        self.file.close()


class FileDevice(BlockDevice):
    """A raw image file (or, with ``allow_device``, a real disk): virtual offset = file offset.

    ``region`` hands over a host file that is already open (``image.open_image`` probes a
    file once and builds the device on the same descriptor).
    """

    container = "raw"

    def __init__(self, path: str, writable: bool = False, allow_device: bool = False,
                 sector_size: int = 512, size: int | None = None,
                 region: FileRegion | None = None):
        self.name = str(path)
        self.writable = writable
        self.sector_size = sector_size
        self.region = region or FileRegion(open_host_file(self.name, writable, allow_device),
                                           self.name)
        self.size = self.region.file_size() if size is None else size

    def _read(self, offset, length):
        return self.region.pread(offset, length)

    def _write(self, offset, data):
        self.region.pwrite(offset, data)

    def read_into(self, offset, view):
        self._check_range(offset, len(view), "read")
        self.region.pread_into(offset, view)

    def map_view(self, offset, length):
        self._check_range(offset, length, "read")
        return self.region.map_view(offset, length)

    def write_zeroes(self, offset, length):
        if not self.writable:
            raise UsageError(f"{self.name}: opened read-only")
        self._check_range(offset, length, "write")
        if punch_hole(self.region.fd, offset, length):
            return
        super().write_zeroes(offset, length)

    def write_from_fd(self, offset, fd, src_offset, length):
        if not self.writable:
            raise UsageError(f"{self.name}: opened read-only")
        self._check_range(offset, length, "write")
        done = self.region.write_mapped(offset, fd, src_offset, length)
        if done < 0 and hasattr(os, "copy_file_range"):
            done = self.region.copy_from(offset, fd, src_offset, length)
        if done >= 0:
            return done
        return super().write_from_fd(offset, fd, src_offset, length)

    def allocated_ranges(self):
        return self.region.data_ranges(0, self.size)

    def resize(self, new_size: int) -> None:
        """Grow (sparsely) or shrink the raw image."""
        if new_size < 0:
            raise UsageError(f"invalid size {new_size}")
        self.region.truncate(new_size)
        self.size = new_size

    def info(self) -> dict:
        """What ``diskkit vhd info`` shows for a file without a container format."""
        return {"container": self.container, "virtual_size": self.size}

    def flush(self):
        if self.writable:
            self.region.sync()

    def close(self):
        if not self.region.file.closed:
            self.flush()
            self.region.close()


class SliceDevice(BlockDevice):
    """A window ``[start, start + length)`` of another device: a partition.

    With ``owns_parent`` the slice stands for the whole opened image (``image.open_volume``):
    closing it closes the parent too, so callers hold one object.
    """

    def __init__(self, parent: BlockDevice, start: int, length: int, name: str | None = None,
                 owns_parent: bool = False, sector_size: int | None = None):
        if start < 0 or length < 0 or start + length > parent.size:
            raise CorruptImage(
                f"{parent.name}: region at {start} of {length} bytes lies outside the "
                f"{parent.size}-byte device"
            )
        self.parent = parent
        self.start = start
        self.size = length
        self.sector_size = sector_size or parent.sector_size
        self.writable = parent.writable
        self.name = name or f"{parent.name}@{start}"
        self.owns_parent = owns_parent

    @property
    def disk_offset(self) -> int:
        return self.parent.disk_offset + self.start

    def _read(self, offset, length):
        return self.parent.read_at(self.start + offset, length)

    def _write(self, offset, data):
        self.parent.write_at(self.start + offset, data)

    def write_zeroes(self, offset, length):
        self._check_range(offset, length, "write")
        self.parent.write_zeroes(self.start + offset, length)

    def map_view(self, offset, length):
        self._check_range(offset, length, "read")
        return self.parent.map_view(self.start + offset, length)

    def write_from_fd(self, offset, fd, src_offset, length):
        if not self.writable:
            raise UsageError(f"{self.name}: opened read-only")
        self._check_range(offset, length, "write")
        return self.parent.write_from_fd(self.start + offset, fd, src_offset, length)

    def allocated_ranges(self):
        end = self.start + self.size
        for off, length in self.parent.allocated_ranges():
            lo, hi = max(off, self.start), min(off + length, end)
            if lo < hi:
                yield (lo - self.start, hi - lo)

    def flush(self):
        self.parent.flush()

    def close(self):
        """Flush; close the parent only when the slice owns it."""
        if self.owns_parent:
            self.parent.close()
        else:
            self.flush()


class MemoryDevice(BlockDevice):
    """A device held in a bytearray: for tests, fuzzing and tiny boot images."""

    def __init__(self, size_or_data: int | bytes, writable: bool = True, name: str = "<memory>"):
        self.buf = bytearray(size_or_data)
        self.size = len(self.buf)
        self.writable = writable
        self.name = name

    def _read(self, offset, length):
        return bytes(self.buf[offset:offset + length])

    def _write(self, offset, data):
        self.buf[offset:offset + len(data)] = data


@functools.cache
def _fallocate():
    """libc's fallocate, found once among the symbols already loaded (``find_library`` would
    start a subprocess on every call); None where there is none."""
    import ctypes

    try:
        fallocate = ctypes.CDLL(None, use_errno=True).fallocate
    except (OSError, AttributeError):
        return None
    fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong]
    return fallocate


def punch_hole(fd: int, offset: int, length: int) -> bool:
    """Deallocate a byte range of a host file (Linux fallocate PUNCH_HOLE); False if unsupported."""
    crash_point()
    fallocate = _fallocate()
    if fallocate is None:
        return False
    FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE = 0x01, 0x02
    return fallocate(fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE, offset, length) == 0


_ZEROS = bytes(COPY_CHUNK)


def merged_ranges(ranges) -> Iterator[tuple[int, int]]:
    """``(offset, length)`` ranges in ascending order of offset, those that touch or overlap
    joined: how allocated_ranges reports a container's blocks."""
    run = None
    for start, length in ranges:
        if run and start <= run[1]:
            run[1] = max(run[1], start + length)
            continue
        if run:
            yield run[0], run[1] - run[0]
        run = [start, start + length]
    if run:
        yield run[0], run[1] - run[0]


def is_zero(data) -> bool:
    """True if the bytes-like ``data`` is all zero bytes.

    Comparing against a zero buffer (memcmp, stops at the first non-zero byte) is about 15x
    faster than counting; no copy is made.
    """
    view = memoryview(data).cast("B")
    step = len(_ZEROS)
    return all(_ZEROS.startswith(view[i:i + step]) for i in range(0, len(view), step))


def fill_zero(view: memoryview) -> None:
    """Zero a writable buffer in place."""
    step = len(_ZEROS)
    for start in range(0, len(view), step):
        part = view[start:start + step]
        part[:] = _ZEROS[:len(part)]
