"""FatFS: files and directories of an existing FAT12/16/32 volume on any BlockDevice.

Write order keeps an interrupted operation harmless: file data first, then the FAT (both
copies), then the directory entry that makes it visible, and FSInfo last. Removing goes the
other way (entry first, clusters after), so the worst left behind is lost clusters. Every
write runs in a ``transaction()``: the volume's dirty flag is up while it runs.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import stat as statmod

from ..blockdev import COPY_CHUNK
from ..errors import (AlreadyExists, CorruptImage, DiskkitError, ImageIOError, NoSpace, NotFound,
                      UsageError)
from ..reproducible import source_date_epoch
from . import names
from .bootsector import (NO_NAME, STATE_DIRTY, build_fsinfo, format_serial, parse_boot_sector,
                         parse_fsinfo)
from .directory import (ATTR_ARCHIVE, ATTR_DIRECTORY, DOTDOT, Directory, Entry, check_file_size,
                        dot_entries, timestamp)
from .table import FatTable, cluster_runs

BLOCK = 16 * 1024 * 1024  # bytes per write of file data (and per progress step)
KERNEL_COPY_FROM = 1024 * 1024  # blocks at least this big go through copy_file_range
GATHER = 2 * 1024 * 1024  # pieces under KERNEL_COPY_FROM are gathered in a buffer this big


def _descriptor(source) -> tuple[int | None, int]:
    """``(fd, position)`` of a regular host file (a descriptor, read from its start, or a file
    object), to copy from by offset; else ``(None, 0)``."""
    if isinstance(source, int):
        return source, 0
    try:
        fd = source.fileno()
        if statmod.S_ISREG(os.fstat(fd).st_mode):
            return fd, source.tell()
    except (AttributeError, OSError, io.UnsupportedOperation):
        pass
    return None, 0


def split_path(path: str) -> list[str]:
    """``/EFI//BOOT/`` -> ``['EFI', 'BOOT']``; ``.`` components are dropped, ``..`` refused."""
    parts = [p for p in path.replace("\\", "/").split("/") if p and p != "."]
    if ".." in parts:
        raise UsageError(f"{path}: '..' is not supported in FAT paths")
    return parts


def _write(method):
    """A public write method runs as one transaction (or joins the one under way)."""
    @functools.wraps(method)
    def run(self, *args, **kwargs):
        with self.transaction():
            return method(self, *args, **kwargs)
    return run


class GatheredData:
    """Data for clusters not yet linked by the FAT, gathered in one buffer and written in as few
    writes as its places allow. A copy of many small files reads each straight into the buffer
    behind the one before; consecutive clusters then go to the device in one write. The FAT
    links none of it before ``flush`` (``FatFS.settle`` flushes it first), so an interruption
    loses nothing that was visible."""

    def __init__(self, dev):
        self.dev = dev
        self.buffer: memoryview | None = None  # allocated at the first piece
        self.used = 0
        self.runs: list[list[int]] = []  # [device offset, start in buffer, length]
        self.next = -1  # the device offset where the last run ends

    def reserve(self, offset: int, length: int) -> memoryview:
        """The part of the buffer that ``flush`` writes at ``offset`` (``length`` <= GATHER);
        the caller fills it."""
        if self.buffer is None:
            self.buffer = memoryview(bytearray(GATHER))
        elif self.used + length > GATHER:
            self.flush()
        start = self.used
        self.used = end = start + length
        if offset == self.next:  # the pieces follow each other in the buffer too
            self.runs[-1][2] += length
        else:
            self.runs.append([offset, start, length])
        self.next = offset + length
        return self.buffer[start:end]

    def flush(self) -> None:
        for offset, start, length in self.runs:
            self.dev.write_at(offset, self.buffer[start:start + length])
        self.runs.clear()
        self.used, self.next = 0, -1


class FatFS:
    """An existing FAT volume; writable when its device is. Paths use ``/``, case-insensitive."""

    def __init__(self, dev, codepage: str = names.DEFAULT_CODEPAGE):
        self.dev = dev
        self.codepage = names.codepage(codepage)  # of short names and labels
        if dev.size < 512:
            raise CorruptImage(f"{dev.name}: too small for a FAT filesystem ({dev.size} bytes)")
        self.layout = parse_boot_sector(dev.read_at(0, min(dev.size, max(512, dev.sector_size))),
                                        f"{dev.name}: boot sector")
        self.warnings: list[str] = []  # what a reader should know before trusting the volume
        self.truncated = self.layout.size > dev.size
        if self.truncated:
            claim = (f"{dev.name}: the filesystem claims {self.layout.size} bytes but the device "
                     f"holds only {dev.size}")
            if self.layout.first_data_sector * self.layout.sector_size > dev.size:
                raise CorruptImage(f"{claim}, not even its FATs and root directory")
            self.warnings.append(f"{claim}: truncated volume, read-only; data past the end "
                                 "cannot be read")
        self.fat = FatTable.load(dev, self.layout)
        self.root_cluster = self.layout.root_cluster if self.layout.fat_type == 32 else 0
        self._dirs: dict[int, Directory] = {}
        self._walked: dict[str, Directory] = {}  # folded path -> its directory (until a rm/mv)
        self._fsinfo_ok = False
        if self.layout.fat_type == 32 and 0 < self.layout.fsinfo_sector < self.layout.reserved_sectors:
            ss = self.layout.sector_size
            info = parse_fsinfo(dev.read_at(self.layout.fsinfo_sector * ss, ss))
            self._fsinfo_ok = info is not None
            if info is not None and 2 <= info.next_free < self.fat.entries:
                self.fat.cursor = info.next_free
        self._fsinfo_at = self.fat.changes  # FAT changes FSInfo already counts
        self._dirty_dirs: dict[int, Directory] = {}  # edited in memory, in the order first edited
        self._pending_frees: list[int] = []  # chains to free once no entry on disk names them
        self._buffer: memoryview | None = None  # reused for file data (one per volume)
        self._gathered = GatheredData(dev)  # small pieces of file data, written before the FAT
        self._zeros = bytes(self.layout.cluster_size)  # a last cluster's slack
        self._flagged = False  # we raised the dirty flag for the write under way
        self._depth = 0  # nesting of transaction()
        self._epoch = None  # SOURCE_DATE_EPOCH as the transaction under way read it
        self.on_progress = None  # called with a byte count after each data block copied

    # -- context ------------------------------------------------------------------------
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        if self.dev.writable:
            self._commit()
        self.dev.flush()
        self._buffer = None  # up to 16 MiB: freed now, not when a cycle is collected
        self._gathered = GatheredData(self.dev)

    @property
    def writable(self) -> bool:
        return self.dev.writable

    @contextlib.contextmanager
    def transaction(self):
        """Group writes into one: the dirty flag goes up before the first and down after the
        last, when the FAT copies and FSInfo are settled. They are settled even when the work
        fails half-way (what it did so far is consistent). Nested transactions join the outer.
        """
        if not self.dev.writable:
            raise UsageError(f"{self.dev.name}: opened read-only")
        if self.truncated:
            raise UsageError(f"{self.dev.name}: the volume is truncated (its boot sector claims "
                             "more than the device holds): read-only")
        if not self._flagged and not self.dirty:
            self._flagged = self._set_dirty(True)
        if not self._depth:
            self._epoch = source_date_epoch()  # the times it records: read once
        self._depth += 1
        try:
            yield self
        except BaseException:
            self._depth -= 1
            if not self._depth:
                with contextlib.suppress(DiskkitError):
                    self._commit()
            raise
        self._depth -= 1
        if not self._depth:
            self._commit()

    @property
    def dirty(self) -> bool:
        """True when the volume says a write was interrupted (or one is under way): the boot
        sector's dirty bit (Linux) or FAT[1]'s clean-shutdown bit cleared (DOS, Windows)."""
        return ((self.layout.has_extended and bool(self.layout.state & STATE_DIRTY))
                or not self.fat.shut_down_cleanly)

    def _set_dirty(self, flag: bool) -> bool:
        """Set or clear the dirty bit in the boot sector; False when the volume has none."""
        layout = self.layout
        if not layout.has_extended:
            return False
        sector = bytearray(self.dev.read_at(0, layout.sector_size))
        sector[layout.state_offset] = (layout.state & ~STATE_DIRTY) | (STATE_DIRTY if flag else 0)
        self.dev.write_at(0, sector)
        layout.state = sector[layout.state_offset]
        return True

    def mark_clean(self) -> None:
        """Clear the dirty marks (after a repair made the volume consistent)."""
        with self.transaction():
            self.fat.mark_shut_down_cleanly()
            self._flagged = self.layout.has_extended

    def settle(self) -> None:
        """Write what the transaction so far changed in memory, in the order that keeps the
        volume consistent at every step: the FAT (new chains; their data is already written),
        then directories (entries linking new chains, unlinking old ones), then the frees of
        chains no entry names any more. Called by the commit, and before anything that reads
        the directories back from the device or must not lose its order (a move)."""
        self._gathered.flush()
        self.fat.flush(self.dev)
        while self._dirty_dirs:
            self._dirty_dirs.pop(next(iter(self._dirty_dirs))).flush()
        if self._pending_frees:
            frees, self._pending_frees = self._pending_frees, []
            for start in frees:
                self.fat.free_chain(start)
            self.fat.flush(self.dev)

    def directory_changed(self, d: Directory) -> None:
        """``d`` holds edits not yet on the device (written by ``settle``)."""
        self._dirty_dirs.setdefault(id(d), d)

    def _commit(self) -> None:
        """Settle the metadata, then FSInfo, then lower the dirty flag we raised."""
        self.settle()
        if self.fat.changes != self._fsinfo_at and self._fsinfo_ok:
            self.write_fsinfo()
        if self._flagged:
            self._set_dirty(False)
            self._flagged = False

    def write_fsinfo(self) -> None:
        """FSInfo (and its backup copy, when there is one) with the current free count."""
        layout = self.layout
        ss = layout.sector_size
        data = build_fsinfo(self.fat.free_count, self.fat.next_free_hint, ss)
        self.dev.write_at(layout.fsinfo_sector * ss, data)
        backup = layout.backup_boot_sector
        if 0 < backup and backup + layout.fsinfo_sector < layout.reserved_sectors:
            if parse_fsinfo(self.dev.read_at((backup + layout.fsinfo_sector) * ss, ss)):
                self.dev.write_at((backup + layout.fsinfo_sector) * ss, data)
        self._fsinfo_at = self.fat.changes

    def rewrite_fsinfo(self) -> bool:
        """Write a fresh FAT32 FSInfo sector (free count, next-free hint); False if none."""
        layout = self.layout
        if layout.fat_type != 32 or not 0 < layout.fsinfo_sector < layout.reserved_sectors:
            return False
        with self.transaction():
            self._fsinfo_ok = True
            self.settle()
            self.write_fsinfo()
        return True

    def allocate(self, count: int, near: int | None = None, after: int | None = None
                 ) -> list[tuple[int, int]]:
        """``count`` clusters as runs (one where the free space allows), linked as a chain that
        continues the one ending at ``after`` if given. Space held by chains waiting to be
        freed is settled and reused when nothing else is left."""
        try:
            return self._allocate(count, near, after)
        except NoSpace:
            if not self._pending_frees:
                raise
            self.settle()
            return self._allocate(count, near, after)

    def _allocate(self, count, near, after):
        runs = self.fat.allocate_runs(count, near=after or near)
        if after and runs:
            self.fat.set(after, runs[0][0])
        return runs

    # -- paths --------------------------------------------------------------------------
    @staticmethod
    def join(parent: str, name: str) -> str:
        return parent.rstrip("/") + "/" + name

    def root(self) -> Directory:
        return self.directory(self.root_cluster, "/")

    def directory(self, cluster: int, path: str) -> Directory:
        if cluster == 0:
            cluster = self.root_cluster
        d = self._dirs.get(cluster)
        if d is None:
            self._gathered.flush()  # it is read from the device
            d = Directory(self, cluster, path)
            self._dirs[cluster] = d
        return d

    def _root_entry(self) -> Entry:
        return Entry("/", b"/          ", ATTR_DIRECTORY, self.root_cluster)

    def _walk_to(self, parts: list[str], path: str) -> Directory:
        key = names.fold("/".join(parts))
        d = self._walked.get(key)
        if d is not None:
            return d
        d = self.root()
        for part in parts:
            entry = d.lookup(part)
            if entry is None:
                raise NotFound(f"{path}: no such file or directory")
            if not entry.is_dir:
                raise UsageError(f"{path}: {entry.name} is not a directory")
            d = self.directory(entry.cluster, self.join(d.path, entry.name))
        self._walked[key] = d  # a put of many files walks the same path for each
        return d

    def _locate(self, path: str) -> tuple[Directory | None, Entry]:
        """``(parent directory, entry)``; the root has no parent."""
        parts = split_path(path)
        if not parts:
            return None, self._root_entry()
        parent = self._walk_to(parts[:-1], path)
        entry = parent.lookup(parts[-1])
        if entry is None:
            raise NotFound(f"{path}: no such file or directory")
        return parent, entry

    def _parent_and_name(self, path: str) -> tuple[Directory, str, Entry | None]:
        parts = split_path(path)
        if not parts:
            raise UsageError(f"{path}: is the root directory")
        parent = self._walk_to(parts[:-1], path)
        return parent, parts[-1], parent.lookup(parts[-1])

    def _dir_of(self, entry: Entry, path: str) -> Directory:
        return self.directory(entry.cluster, path)

    # -- reading ------------------------------------------------------------------------
    def exists(self, path: str) -> bool:
        try:
            self._locate(path)
        except NotFound:
            return False
        return True

    def stat(self, path: str) -> Entry:
        return self._locate(path)[1]

    def entry_offsets(self, path: str) -> tuple[int, int]:
        """Device offsets of an entry's first slot (LFN or short) and of its short slot."""
        parent, entry = self._locate(path)
        if parent is None:
            raise UsageError("the root directory has no entry")
        return parent.slot_offset(entry.first_slot), parent.slot_offset(entry.slot)

    def is_dir(self, path: str) -> bool:
        return self.stat(path).is_dir

    def listdir(self, path: str = "/") -> list[Entry]:
        """Entries of a directory in on-disk order."""
        _, entry = self._locate(path)
        if not entry.is_dir:
            raise UsageError(f"{path}: not a directory")
        return self._dir_of(entry, path).entries()

    def walk(self, path: str = "/"):
        """Yield ``(dirpath, entries)`` for ``path`` and every directory below it (iterative)."""
        for dpath, d in self.directories(path):
            yield dpath, d.entries()

    def directories(self, path: str = "/"):
        """Yield ``(dirpath, Directory)`` depth-first; a directory met twice is CorruptImage."""
        _, entry = self._locate(path)
        if not entry.is_dir:
            raise UsageError(f"{path}: not a directory")
        start = "/" + "/".join(split_path(path))
        stack = [(entry.cluster or self.root_cluster, start)]
        seen = set()
        while stack:
            cluster, dpath = stack.pop()
            if cluster in seen:
                raise CorruptImage(f"directory {dpath}: loops back to a directory already visited")
            seen.add(cluster)
            d = self.directory(cluster, dpath)
            yield dpath, d
            for child in reversed(d.entries()):
                if child.is_dir:
                    stack.append((child.cluster, self.join(dpath, child.name)))

    def _file_chain(self, entry: Entry, path: str) -> list[int]:
        cs = self.layout.cluster_size
        need = -(-entry.size // cs)
        if entry.cluster == 0:
            if need:
                raise CorruptImage(f"{path}: {entry.size} bytes but no clusters")
            return []
        clusters = []
        for cluster in self.fat.chain_lazy(entry.cluster, path):
            clusters.append(cluster)
            if len(clusters) == need:
                break
        if len(clusters) < need:
            raise CorruptImage(f"{path}: size {entry.size} needs {need} clusters but its chain "
                               f"has {len(clusters)}")
        return clusters

    def iter_read(self, path: str, chunk: int = COPY_CHUNK):
        """Yield a file's bytes in chunks of at most ``chunk`` (streams big files)."""
        _, entry = self._locate(path)
        if entry.is_dir:
            raise UsageError(f"{path}: is a directory")
        self._gathered.flush()  # a file written in this transaction is read back
        remaining = entry.size
        cs = self.layout.cluster_size
        for first, count in cluster_runs(self._file_chain(entry, path)):
            offset = self.layout.cluster_offset(first)
            length = min(count * cs, remaining)
            remaining -= length
            if offset + length > self.dev.size:
                raise CorruptImage(f"{path}: its data lies beyond the end of the device (the "
                                   "volume is truncated)")
            while length:
                n = min(chunk, length)
                yield self.dev.read_at(offset, n)
                offset += n
                length -= n

    def read_file(self, path: str) -> bytes:
        """A whole file's bytes (for small files; stream big ones with ``iter_read``)."""
        return b"".join(self.iter_read(path))

    # -- writing ------------------------------------------------------------------------
    def _write_data(self, source, size: int, where: str) -> int:
        """Allocate clusters for ``size`` bytes (one run where the free space allows) and fill
        them from a binary ``source``. A piece under 1 MiB is read into the gathered data
        (``GatheredData``: many small files, one write); a larger one goes from a host file's
        descriptor straight into the image (in the kernel where the image is a plain file),
        else through one reused buffer. The last cluster's slack is zeroed. Returns the first
        cluster, or 0."""
        cs = self.layout.cluster_size
        runs = self.allocate(-(-size // cs))
        try:
            fd, pos = _descriptor(source)
            left = size
            for first, count in runs:
                offset = self.layout.cluster_offset(first)
                span = min(count * cs, left)
                end = offset + span
                while offset < end:
                    n = min(end - offset, BLOCK)
                    slack = -size % cs if offset + n == end and left == span else 0
                    if n < KERNEL_COPY_FROM:
                        got = self._gather(source, fd, pos, offset, n, slack)
                    else:
                        self._gathered.flush()  # what is gathered goes first, as if written
                        if fd is not None:
                            got = self.dev.write_from_fd(offset, fd, pos, n)
                            if slack:
                                self.dev.write_at(offset + n, self._zeros[:slack])
                        else:
                            got = self._copy_buffered(source, offset, n, slack)
                    if got != n:
                        raise ImageIOError(f"{where}: the source changed size while being copied")
                    offset, pos = offset + n, pos + n
                    if self.on_progress:
                        self.on_progress(n)
                left -= span
            if fd is not None and hasattr(source, "seek"):
                source.seek(pos)
        except BaseException:
            self.fat.release_runs(runs)
            raise
        return runs[0][0] if runs else 0

    def _gather(self, source, fd, pos: int, offset: int, n: int, slack: int) -> int:
        """Read ``n`` bytes of ``source`` into the gathered data, for ``offset``, with ``slack``
        zeros after them; the bytes read."""
        view = self._gathered.reserve(offset, n + slack)
        got = os.preadv(fd, [view[:n]], pos) if fd is not None else source.readinto(view[:n])
        if slack:
            view[n:] = self._zeros[:slack]
        return got or 0

    def _copy_buffered(self, source, offset: int, n: int, slack: int) -> int:
        """One block of a file object through the reused buffer, with ``slack`` zeros after
        it: one write. The buffer grows (doubling, up to a block and a cluster) as larger
        pieces come."""
        if self._buffer is None or len(self._buffer) < n + slack:
            grown = 2 * len(self._buffer) if self._buffer is not None else 0
            self._buffer = memoryview(bytearray(
                min(max(n + slack, grown), BLOCK + self.layout.cluster_size)))
        got = source.readinto(self._buffer[:n]) or 0
        if got == n and slack:
            self._buffer[n:n + slack] = self._zeros[:slack]
        self.dev.write_at(offset, self._buffer[:got + (slack if got == n else 0)])
        return got

    def stage(self, cluster: int, data: bytes) -> None:
        """Put ``data`` at ``cluster`` with the gathered file data: on the device before the
        FAT links the cluster (a new directory's first cluster, one a directory grows by)."""
        self._gathered.reserve(self.layout.cluster_offset(cluster), len(data))[:] = data

    def _store_file(self, path: str, source, size: int, mtime: float | None) -> Entry:
        parent, name, existing = self._parent_and_name(path)
        if existing is not None and existing.is_dir:
            raise UsageError(f"{path}: is a directory")
        if existing is None:
            names.check_long_name(name)  # refused before a byte is written
        first = self._write_data(source, size, path)
        ts = timestamp(mtime, self._epoch)
        if existing is not None:
            old = existing.cluster
            existing.cluster, existing.size = first, size
            created = existing.cdate, existing.ctime, existing.ctime_tenth
            existing.stamp(ts)
            existing.cdate, existing.ctime, existing.ctime_tenth = created
            parent.update(existing)
            if old:
                self._pending_frees.append(old)  # once the entry naming it is rewritten
            return existing
        template = Entry(name, b" " * 11, ATTR_ARCHIVE, first, size)
        template.stamp(ts)
        return self._add_or_release(parent, name, template)

    def _add_or_release(self, parent: Directory, name: str, template: Entry) -> Entry:
        """Add the entry; if that fails (directory full), free its clusters again."""
        try:
            return parent.add(name, template)
        except BaseException:
            if template.cluster:  # linked nowhere yet: free at once
                self.fat.free_chain(template.cluster)
            raise

    def write_file(self, path: str, data, mtime: float | None = None) -> Entry:
        """Create or replace a file from bytes, a host file path, or a binary file object.

        A file FAT cannot hold (over 4 GiB - 1) is refused before anything is written."""
        if isinstance(data, (bytes, bytearray, memoryview)):
            return self._store(path, io.BytesIO(data), len(data), mtime)
        if isinstance(data, (str, os.PathLike)):
            host = os.fspath(data)
            try:
                fd = os.open(host, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
            except OSError as exc:
                raise ImageIOError(f"{host}: {exc.strerror or exc}") from None
            try:
                st = os.fstat(fd)
                if not statmod.S_ISREG(st.st_mode):
                    raise UsageError(f"{host}: not a regular file")
                return self._store(path, fd, st.st_size, st.st_mtime)
            finally:
                os.close(fd)
        pos = data.tell()
        size = data.seek(0, os.SEEK_END) - pos
        data.seek(pos)
        return self._store(path, data, size, mtime)

    def _store(self, path: str, source, size: int, mtime: float | None) -> Entry:
        check_file_size(size, path)
        if self._depth:  # joins the transaction under way (a copy of many files)
            return self._store_file(path, source, size, mtime)
        with self.transaction():
            return self._store_file(path, source, size, mtime)

    def _make_dir(self, path: str, parents: bool, mtime: float | None = None) -> Entry:
        parent, name, existing = self._parent_and_name(path)
        if existing is not None:
            if existing.is_dir and parents:
                return existing
            raise AlreadyExists(f"{path}: already exists")
        names.check_long_name(name)
        ts = timestamp(mtime, self._epoch)
        ((cluster, _),) = self.allocate(1, near=parent.clusters[-1] if parent.clusters else None)
        cs = self.layout.cluster_size
        parent_ref = 0 if parent.first == self.root_cluster else parent.first
        block = dot_entries(cluster, parent_ref, ts)
        block += bytes(cs - len(block))
        self.stage(cluster, block)
        template = Entry(name, b" " * 11, ATTR_DIRECTORY, cluster)
        template.stamp(ts)
        entry = self._add_or_release(parent, name, template)
        # known without reading it back (its cluster may not be on the device yet)
        self._dirs[cluster] = Directory(self, cluster, self.join(parent.path, entry.name), block)
        return entry

    @_write
    def mkdir(self, path: str, parents: bool = False, mtime: float | None = None) -> Entry:
        """Create a directory (times: ``mtime``, else as ``timestamp`` says); with ``parents``
        create missing ancestors and accept an existing directory."""
        if parents:
            parts = split_path(path)
            entry = self._root_entry()
            for i in range(1, len(parts) + 1):
                entry = self._make_dir("/" + "/".join(parts[:i]), True,
                                       mtime if i == len(parts) else None)
        else:
            entry = self._make_dir(path, False, mtime)
        return entry

    @_write
    def remove(self, path: str, recursive: bool = False) -> None:
        """Delete a file, an empty directory, or (``recursive``) a whole tree."""
        parent, entry = self._locate(path)
        if parent is None:
            raise UsageError("cannot remove the root directory")
        chains = [entry.cluster]
        if entry.is_dir:
            subtree = list(self.walk(path))
            if subtree[0][1] and not recursive:
                raise UsageError(f"{path}: directory not empty (use recursive removal)")
            chains += [e.cluster for _, entries in subtree for e in entries]
            dropped = {e.cluster for _, entries in subtree for e in entries if e.is_dir}
            dropped.add(entry.cluster)
        else:
            dropped = set()
        parent.delete(entry)
        self._walked.clear()
        self._pending_frees.extend(c for c in chains if c)  # once the entry is gone on disk
        for cluster in dropped:
            gone = self._dirs.pop(cluster, None)
            self._dirty_dirs.pop(id(gone), None)

    @_write
    def rename(self, src: str, dst: str) -> Entry:
        """Move or rename within the volume (into ``dst`` when it is a directory)."""
        sparent, entry = self._locate(src)
        if sparent is None:
            raise UsageError("cannot move the root directory")
        dparts = split_path(dst)
        target_dir, name = None, None
        try:
            _, dentry = self._locate(dst)
        except NotFound:
            dentry = None
        if dentry is not None and dentry is not entry:
            if not dentry.is_dir:
                raise AlreadyExists(f"{dst}: already exists")
            target_dir = self._dir_of(dentry, "/" + "/".join(dparts))
            name = entry.name
            if target_dir.lookup(name) is not None:
                raise AlreadyExists(f"{self.join(target_dir.path, name)}: already exists")
        else:
            if not dparts:
                raise UsageError("cannot replace the root directory")
            target_dir = self._walk_to(dparts[:-1], dst)
            name = dparts[-1]
        names.check_long_name(name)
        if entry.is_dir and self._contains(entry.cluster, target_dir):
            raise UsageError(f"cannot move {src} into itself")
        # Link the new name first, unlink the old one last: an interruption in between leaves
        # the same file under both names (``repair`` keeps one), never a file under neither.
        if target_dir is sparent and dentry in (entry, None) and sparent.rename_in_place(entry, name):
            new = entry  # one write: the slots it had now hold the new name
        elif dentry is entry:  # same name up to case and the new name needs more slots
            saved = sparent.delete(entry)
            try:
                new = sparent.add(name, entry)
            except BaseException:
                sparent.restore(entry, saved)
                raise
        else:
            new = target_dir.add(name, entry)
            if entry.is_dir and target_dir is not sparent:
                moved = self._dir_of(entry, self.join(target_dir.path, name))
                moved.set_parent(0 if target_dir.first == self.root_cluster else target_dir.first)
            self.settle()  # the new name is on disk before the old one goes
            sparent.delete(entry)
        if entry.is_dir:
            self.settle()
            self._dirs.clear()  # cached paths below the moved directory are stale
            self._walked.clear()
        return new

    def _contains(self, cluster: int, d: Directory) -> bool:
        """True if directory ``cluster`` is ``d`` or one of its ancestors (follows '..')."""
        for _ in range(self.fat.entries):
            if d.first == cluster:
                return True
            if d.first == self.root_cluster:
                return False
            parents = [e.cluster for e in d.dots if e.raw11 == DOTDOT]
            if not parents:
                raise CorruptImage(f"directory {d.path}: has no '..' entry")
            d = self.directory(parents[0], d.path.rsplit("/", 1)[0] or "/")
        raise CorruptImage(f"directory {d.path}: its '..' entries loop")

    # -- volume -------------------------------------------------------------------------
    @property
    def label(self) -> str | None:
        """The volume label as Windows, fatlabel and blkid show it: the root directory's label
        entry; None when there is none (whatever the boot sector says)."""
        entry = self.root().label
        return None if entry is None else names.decode_label(entry.raw11, self.codepage)

    @property
    def boot_label(self) -> str | None:
        """The boot sector's copy of the label (blkid's LABEL_FATBOOT); None when it is absent or
        ``NO NAME``. Windows leaves it stale when it changes or erases the label."""
        raw = self.layout.boot_label
        return None if raw in (None, NO_NAME) else names.decode_label(raw, self.codepage)

    def usage(self) -> dict:
        layout = self.layout
        cs = layout.cluster_size
        total, free = layout.cluster_count, self.fat.free_count
        return {"fat_type": layout.fat_type, "label": self.label, "boot_label": self.boot_label,
                "volume_id": format_serial(layout.serial),
                "cluster_size": cs, "clusters": total, "free_clusters": free,
                "total_bytes": total * cs, "free_bytes": free * cs, "used_bytes": (total - free) * cs,
                "size": layout.size}

    @_write
    def zero_free(self) -> int:
        """Zero (punch out) every free cluster, so compaction can drop them; bytes zeroed."""
        self.settle()  # gathered data lands first; chains waiting to be freed are free
        cs = self.layout.cluster_size
        done = 0
        for first, count in self.fat.free_runs(2):
            self.dev.write_zeroes(self.layout.cluster_offset(first), count * cs)
            done += count * cs
        self.dev.flush()
        return done

