"""FatFS: files and directories of an existing FAT12/16/32 volume on any BlockDevice.

Write order keeps an interrupted operation harmless: file data first, then the FAT (both
copies), then the directory entry that makes it visible, and FSInfo last. Removing goes the
other way (entry first, clusters after), so the worst left behind is lost clusters.
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
from . import names
from .bootsector import STATE_DIRTY, build_fsinfo, parse_boot_sector, parse_fsinfo
from .directory import (ATTR_ARCHIVE, ATTR_DIRECTORY, DELETED, MAX_DIR_SLOTS,
                        SLOT, Entry, dot_entries, parse_directory, timestamp)
from .table import FatTable

_DOT_NAMES = (b".          ", b"..         ")
# first byte of a slot -> 0 if the slot is free (never used or deleted), else 1
_FREE_SLOT = bytes(0 if b in (0, DELETED) else 1 for b in range(256))


def cluster_runs(clusters: list[int]) -> list[tuple[int, int]]:
    """Group a chain into ``(first, count)`` runs of consecutive clusters (for big I/O)."""
    runs: list[tuple[int, int]] = []
    for c in clusters:
        if runs and runs[-1][0] + runs[-1][1] == c:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
        else:
            runs.append((c, 1))
    return runs


def split_path(path: str) -> list[str]:
    """``/EFI//BOOT/`` -> ``['EFI', 'BOOT']``; ``.`` components are dropped, ``..`` refused."""
    parts = [p for p in path.replace("\\", "/").split("/") if p and p != "."]
    if ".." in parts:
        raise UsageError(f"{path}: '..' is not supported in FAT paths")
    return parts


def safe_host_name(name: str, where: str) -> str:
    """``name`` if it is safe as one host path component, else CorruptImage (hostile image)."""
    if (name in ("", ".", "..") or any(c in name for c in "/\\:\x00")
            or any(ord(c) < 0x20 or ord(c) == 0x7F for c in name)):
        raise CorruptImage(f"{where}: refusing to extract unsafe name {name!r}")
    return name


class Directory:
    """One directory cached in memory: its bytes, where they live, and a case-folded index."""

    def __init__(self, fs: "FatFS", first_cluster: int, path: str):
        self.fs = fs
        self.first = first_cluster
        self.path = path
        layout = fs.layout
        if first_cluster == 0 and layout.fat_type != 32:
            self.clusters = None
            self.data = bytearray(fs.dev.read_at(layout.root_dir_offset, layout.root_entries * SLOT))
        else:
            self.clusters = []
            max_clusters = -(-MAX_DIR_SLOTS * SLOT // layout.cluster_size)
            for cluster in fs.fat.chain_lazy(first_cluster, f"directory {path}"):
                self.clusters.append(cluster)
                if len(self.clusters) > max_clusters:
                    raise CorruptImage(f"directory {path}: longer than the 65,536 entries FAT allows")
            if not self.clusters:
                raise CorruptImage(f"directory {path}: has no clusters")
            self.data = bytearray()
            for first, count in cluster_runs(self.clusters):
                self.data += fs.dev.read_at(layout.cluster_offset(first), count * layout.cluster_size)
        listing = parse_directory(self.data, layout.fat_type == 32)
        self.problems = listing.problems
        self.orphans = listing.orphans
        self.label = listing.label
        self.end = listing.end
        self.deleted = listing.deleted
        self.by_slot: dict[int, Entry] = {}
        self.index: dict[str, Entry] = {}
        self.shorts: set[bytes] = set()
        self.dots: list[Entry] = []
        for entry in listing.entries:
            if entry.raw11 in _DOT_NAMES:
                self.dots.append(entry)
                continue
            self._register(entry)
        if self.label is not None:
            self.shorts.add(self.label.raw11)

    # -- index --------------------------------------------------------------------------
    def _register(self, entry: Entry) -> None:
        self.by_slot[entry.slot] = entry
        self.shorts.add(entry.raw11)
        for key in {names.fold(entry.name), names.fold(entry.short_name)}:
            self.index.setdefault(key, entry)

    def _unregister(self, entry: Entry) -> None:
        del self.by_slot[entry.slot]
        self.shorts.discard(entry.raw11)
        for key in {names.fold(entry.name), names.fold(entry.short_name)}:
            if self.index.get(key) is entry:
                del self.index[key]

    def lookup(self, name: str) -> Entry | None:
        return self.index.get(names.fold(name))

    def entries(self) -> list[Entry]:
        """Live entries in directory order (without ``.``, ``..`` and the volume label)."""
        return [self.by_slot[k] for k in sorted(self.by_slot)]

    # -- slots --------------------------------------------------------------------------
    def _slot_count(self) -> int:
        return len(self.data) // SLOT

    def _write_slots(self, index: int, blob: bytes) -> None:
        """Store ``blob`` at slot ``index`` in the cache and on the device."""
        start = index * SLOT
        self.data[start:start + len(blob)] = blob
        layout = self.fs.layout
        if self.clusters is None:
            self.fs.dev.write_at(layout.root_dir_offset + start, blob)
            return
        cs = layout.cluster_size
        pos = 0
        while pos < len(blob):
            off = start + pos
            n = min(cs - off % cs, len(blob) - pos)
            self.fs.dev.write_at(layout.cluster_offset(self.clusters[off // cs]) + off % cs,
                                 blob[pos:pos + n])
            pos += n

    def _find_free(self, count: int) -> int:
        """Index of ``count`` consecutive free slots, growing the directory if needed."""
        while True:
            total = self._slot_count()
            if self.deleted == 0:
                pos = self.end
            else:
                firsts = bytes(self.data[0:self.end * SLOT:SLOT]).translate(_FREE_SLOT)
                pos = (firsts + bytes(total - self.end)).find(bytes(count))
            if 0 <= pos and pos + count <= total:
                return pos
            self._grow()

    def _grow(self) -> None:
        layout = self.fs.layout
        if self.clusters is None:
            raise NoSpace(f"root directory is full ({layout.root_entries} entries)")
        if len(self.data) + layout.cluster_size > MAX_DIR_SLOTS * SLOT:
            raise NoSpace(f"directory {self.path} is full (65,536 entries)")
        (cluster,) = self.fs.fat.extend(self.clusters[-1], 1)
        self.fs.dev.write_zeroes(layout.cluster_offset(cluster), layout.cluster_size)
        self.fs.fat.flush(self.fs.dev)
        self.clusters.append(cluster)
        self.data += bytes(layout.cluster_size)

    def add(self, name: str, template: Entry) -> Entry:
        """Create an entry called ``name`` with ``template``'s attributes, cluster, size, times."""
        names.check_long_name(name)
        if self.lookup(name) is not None:
            raise AlreadyExists(f"{self.fs.join(self.path, name)}: already exists")
        raw11, nt_flags, need_lfn = names.short_name_for(name, self.shorts)
        entry = Entry(name, raw11, template.attr, nt_flags, template.cluster, template.size,
                      template.cdate, template.ctime, template.ctime_tenth, template.adate,
                      template.wdate, template.wtime)
        blob = (names.lfn_entries(name, raw11) if need_lfn else b"") + entry.pack()
        count = len(blob) // SLOT
        pos = self._find_free(count)
        reused = max(0, min(pos + count, self.end) - pos)
        self._write_slots(pos, blob)
        self.deleted -= reused
        self.end = max(self.end, pos + count)
        entry.first_slot, entry.slot, entry.has_lfn = pos, pos + count - 1, need_lfn
        self._register(entry)
        return entry

    def rename_in_place(self, entry: Entry, name: str) -> bool:
        """Give ``entry`` a new name in the slots it already has (one write); False if it
        needs more slots than it has."""
        names.check_long_name(name)
        taken = self.shorts - {entry.raw11}
        raw11, nt_flags, need_lfn = names.short_name_for(name, taken)
        blob = (names.lfn_entries(name, raw11) if need_lfn else b"")
        old_count = entry.slot + 1 - entry.first_slot
        new_count = len(blob) // SLOT + 1
        if new_count > old_count:
            return False
        self._unregister(entry)
        entry.name, entry.raw11, entry.nt_flags, entry.has_lfn = name, raw11, nt_flags, need_lfn
        entry.slot = entry.first_slot + new_count - 1
        self._write_slots(entry.first_slot, blob + entry.pack()
                          + bytes([DELETED] + [0] * (SLOT - 1)) * (old_count - new_count))
        self.deleted += old_count - new_count
        self._register(entry)
        return True

    def update(self, entry: Entry) -> None:
        """Rewrite ``entry``'s short slot (cluster, size, times changed)."""
        self._write_slots(entry.slot, entry.pack())

    def delete(self, entry: Entry) -> bytes:
        """Mark the entry's LFN and short slots deleted; returns their old bytes."""
        saved = bytes(self.data[entry.first_slot * SLOT:(entry.slot + 1) * SLOT])
        for i in range(entry.first_slot, entry.slot + 1):
            self._write_slots(i, bytes([DELETED]))
        self.deleted += entry.slot + 1 - entry.first_slot
        self._unregister(entry)
        return saved

    def restore(self, entry: Entry, saved: bytes) -> None:
        """Undo ``delete`` (when the operation that needed it failed)."""
        self._write_slots(entry.first_slot, saved)
        self.deleted -= entry.slot + 1 - entry.first_slot
        self._register(entry)

    def drop_orphans(self) -> int:
        """Mark long-name slots that belong to no entry deleted; how many there were."""
        for slot in self.orphans:
            self._write_slots(slot, bytes([DELETED]))
        self.deleted += len(self.orphans)
        count, self.orphans = len(self.orphans), []
        return count

    def slot_offset(self, index: int) -> int:
        """Device byte offset of slot ``index``."""
        layout = self.fs.layout
        if self.clusters is None:
            return layout.root_dir_offset + index * SLOT
        cs = layout.cluster_size
        return layout.cluster_offset(self.clusters[index * SLOT // cs]) + index * SLOT % cs

    def set_parent(self, parent_cluster: int) -> None:
        """Point ``..`` at a new parent (after a directory moved)."""
        for entry in self.dots:
            if entry.raw11 == _DOT_NAMES[1]:
                entry.cluster = parent_cluster
                self.update(entry)


def _operation(method):
    """A public write: dirty flag up first; FAT, FSInfo and the flag settled at the end, even
    when it fails half-way (what it did so far is consistent)."""
    @functools.wraps(method)
    def run(self, *args, **kwargs):
        self._begin()
        try:
            result = method(self, *args, **kwargs)
        except BaseException:
            with contextlib.suppress(DiskkitError):
                self._commit()
            raise
        self._commit()
        return result
    return run


class FatFS:
    """An existing FAT volume; writable when its device is. Paths use ``/``, case-insensitive."""

    def __init__(self, dev):
        self.dev = dev
        if dev.size < 512:
            raise CorruptImage(f"{dev.name}: too small for a FAT filesystem ({dev.size} bytes)")
        self.layout = parse_boot_sector(dev.read_at(0, min(dev.size, max(512, dev.sector_size))),
                                        dev.size, f"{dev.name}: boot sector")
        self.fat = FatTable.load(dev, self.layout)
        self.root_cluster = self.layout.root_cluster if self.layout.fat_type == 32 else 0
        self._dirs: dict[int, Directory] = {}
        self._fsinfo_ok = False
        if self.layout.fat_type == 32 and 0 < self.layout.fsinfo_sector < self.layout.reserved_sectors:
            ss = self.layout.sector_size
            info = parse_fsinfo(dev.read_at(self.layout.fsinfo_sector * ss, ss))
            self._fsinfo_ok = info is not None
            if info is not None and 2 <= info.next_free < self.fat.entries:
                self.fat.cursor = info.next_free
        self._modified = False
        self._flagged = False  # we raised the dirty flag for the write under way
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

    @property
    def writable(self) -> bool:
        return self.dev.writable

    def _begin(self) -> None:
        """Start a write: refuse on a read-only device, raise the volume's dirty flag."""
        if not self.dev.writable:
            raise UsageError(f"{self.dev.name}: opened read-only")
        self._modified = True
        if not self._flagged and not self.dirty:
            self._flagged = self._set_dirty(True)

    @property
    def dirty(self) -> bool:
        """True when the volume says a write was interrupted (or one is under way)."""
        return bool((self.layout.state or 0) & STATE_DIRTY)

    def _set_dirty(self, flag: bool) -> bool:
        """Set or clear the dirty bit in the boot sector; False when the volume has none."""
        layout = self.layout
        if layout.state is None:
            return False
        sector = bytearray(self.dev.read_at(0, layout.sector_size))
        sector[layout.state_offset] = (layout.state & ~STATE_DIRTY) | (STATE_DIRTY if flag else 0)
        self.dev.write_at(0, sector)
        layout.state = sector[layout.state_offset]
        return True

    def mark_clean(self) -> None:
        """Clear the dirty bit (after a repair made the volume consistent)."""
        self._begin()
        self._flagged = True
        self._commit()

    def _commit(self) -> None:
        """Flush the FAT to every copy, then FSInfo, then lower the dirty flag we raised."""
        self.fat.flush(self.dev)
        if self._modified and self._fsinfo_ok:
            layout = self.layout
            ss = layout.sector_size
            data = build_fsinfo(self.fat.free_count, self.fat.next_free_hint, ss)
            self.dev.write_at(layout.fsinfo_sector * ss, data)
            backup = layout.backup_boot_sector
            if 0 < backup and backup + layout.fsinfo_sector < layout.reserved_sectors:
                if parse_fsinfo(self.dev.read_at((backup + layout.fsinfo_sector) * ss, ss)):
                    self.dev.write_at((backup + layout.fsinfo_sector) * ss, data)
        self._modified = False
        if self._flagged:
            self._set_dirty(False)
            self._flagged = False

    def rewrite_fsinfo(self) -> bool:
        """Write a fresh FAT32 FSInfo sector (free count, next-free hint); False if none."""
        layout = self.layout
        if layout.fat_type != 32 or not 0 < layout.fsinfo_sector < layout.reserved_sectors:
            return False
        self._begin()
        self._fsinfo_ok = True
        self._commit()
        return True

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
            d = Directory(self, cluster, path)
            self._dirs[cluster] = d
        return d

    def _root_entry(self) -> Entry:
        return Entry("/", b"/          ", ATTR_DIRECTORY, 0, self.root_cluster, 0)

    def _walk_to(self, parts: list[str], path: str) -> Directory:
        d = self.root()
        for part in parts:
            entry = d.lookup(part)
            if entry is None:
                raise NotFound(f"{path}: no such file or directory")
            if not entry.is_dir:
                raise UsageError(f"{path}: {entry.name} is not a directory")
            d = self.directory(entry.cluster, self.join(d.path, entry.name))
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
        remaining = entry.size
        cs = self.layout.cluster_size
        for first, count in cluster_runs(self._file_chain(entry, path)):
            offset = self.layout.cluster_offset(first)
            length = min(count * cs, remaining)
            remaining -= length
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
        """Allocate and fill clusters from a readable binary ``source``; first cluster or 0."""
        cs = self.layout.cluster_size
        clusters = self.fat.allocate(-(-size // cs))
        try:
            left = size
            for first, count in cluster_runs(clusters):
                offset = self.layout.cluster_offset(first)
                span = min(count * cs, left)
                while span:
                    want = min(COPY_CHUNK, span)
                    data = source.read(want)
                    if len(data) != want:
                        raise ImageIOError(f"{where}: source changed size while being copied")
                    span -= want
                    left -= want
                    if not left and want % cs:
                        data += bytes(cs - want % cs)  # zero the slack of the last cluster
                    self.dev.write_at(offset, data)
                    offset += len(data)
                    if self.on_progress:
                        self.on_progress(want)
        except BaseException:
            for cluster in clusters:
                self.fat.set(cluster, 0)
            raise
        return clusters[0] if clusters else 0

    def _store_file(self, path: str, source, size: int, mtime: float | None) -> Entry:
        parent, name, existing = self._parent_and_name(path)
        if existing is not None and existing.is_dir:
            raise UsageError(f"{path}: is a directory")
        if existing is None:
            names.check_long_name(name)
        first = self._write_data(source, size, path)
        self.fat.flush(self.dev)
        ts = timestamp(mtime)
        if existing is not None:
            old = existing.cluster
            existing.cluster, existing.size = first, size
            created = existing.cdate, existing.ctime, existing.ctime_tenth
            existing.stamp(ts)
            existing.cdate, existing.ctime, existing.ctime_tenth = created
            parent.update(existing)
            if old:
                self.fat.free_chain(old)
            return existing
        template = Entry(name, b"", ATTR_ARCHIVE, 0, first, size)
        template.stamp(ts)
        return self._add_or_release(parent, name, template)

    def _add_or_release(self, parent: Directory, name: str, template: Entry) -> Entry:
        """Add the entry; if that fails (directory full), free its clusters again."""
        try:
            return parent.add(name, template)
        except BaseException:
            if template.cluster:
                self.fat.free_chain(template.cluster)
                self.fat.flush(self.dev)
            raise

    @_operation
    def write_file(self, path: str, data, mtime: float | None = None) -> Entry:
        """Create or replace a file from bytes, a host file path, or a binary file object."""
        if isinstance(data, (bytes, bytearray, memoryview)):
            entry = self._store_file(path, io.BytesIO(data), len(data), mtime)
        elif isinstance(data, (str, os.PathLike)):
            entry = self._put_file(os.fspath(data), path)
        else:
            pos = data.tell()
            size = data.seek(0, os.SEEK_END) - pos
            data.seek(pos)
            entry = self._store_file(path, data, size, mtime)
        return entry

    def _put_file(self, host: str, path: str) -> Entry:
        try:
            with open(host, "rb") as fh:
                st = os.fstat(fh.fileno())
                if not statmod.S_ISREG(st.st_mode):
                    raise UsageError(f"{host}: not a regular file")
                return self._store_file(path, fh, st.st_size, st.st_mtime)
        except OSError as exc:
            raise ImageIOError(f"{host}: {exc.strerror or exc}") from None

    def _make_dir(self, path: str, parents: bool, mtime: float | None = None) -> Entry:
        parent, name, existing = self._parent_and_name(path)
        if existing is not None:
            if existing.is_dir and parents:
                return existing
            raise AlreadyExists(f"{path}: already exists")
        names.check_long_name(name)
        ts = timestamp(mtime)
        (cluster,) = self.fat.allocate(1, near=parent.clusters[-1] if parent.clusters else None)
        cs = self.layout.cluster_size
        parent_ref = 0 if parent.first == self.root_cluster else parent.first
        block = dot_entries(cluster, parent_ref, ts)
        self.dev.write_at(self.layout.cluster_offset(cluster), block + bytes(cs - len(block)))
        self.fat.flush(self.dev)
        template = Entry(name, b"", ATTR_DIRECTORY, 0, cluster, 0)
        template.stamp(ts)
        return self._add_or_release(parent, name, template)

    @_operation
    def mkdir(self, path: str, parents: bool = False) -> Entry:
        """Create a directory; with ``parents`` create missing ancestors and accept existing."""
        if parents:
            parts = split_path(path)
            entry = self._root_entry()
            for i in range(1, len(parts) + 1):
                entry = self._make_dir("/" + "/".join(parts[:i]), True)
        else:
            entry = self._make_dir(path, False)
        return entry

    @_operation
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
        for cluster in chains:
            if cluster:
                self.fat.free_chain(cluster)
        for cluster in dropped:
            self._dirs.pop(cluster, None)

    @_operation
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
            sparent.delete(entry)
        if entry.is_dir:
            self._dirs.clear()  # cached paths below the moved directory are stale
        return new

    def _contains(self, cluster: int, d: Directory) -> bool:
        """True if directory ``cluster`` is ``d`` or one of its ancestors (follows '..')."""
        for _ in range(self.fat.entries):
            if d.first == cluster:
                return True
            if d.first == self.root_cluster:
                return False
            parents = [e.cluster for e in d.dots if e.raw11 == _DOT_NAMES[1]]
            if not parents:
                raise CorruptImage(f"directory {d.path}: has no '..' entry")
            d = self.directory(parents[0], d.path.rsplit("/", 1)[0] or "/")
        raise CorruptImage(f"directory {d.path}: its '..' entries loop")

    # -- host trees ---------------------------------------------------------------------
    @_operation
    def put(self, host_src: str, dest: str = "/", recursive: bool = False, on_skip=None) -> None:
        """Copy a host file (or, ``recursive``, a tree) in; into ``dest`` if it is a directory."""
        try:
            st = os.stat(host_src)
        except OSError as exc:
            raise ImageIOError(f"{host_src}: {exc.strerror or exc}") from None
        base = os.path.basename(os.path.normpath(host_src))
        target = dest
        if self.exists(dest) and self.stat(dest).is_dir:
            target = self.join("/" + "/".join(split_path(dest)), base)
        if statmod.S_ISDIR(st.st_mode):
            if not recursive:
                raise UsageError(f"{host_src}: is a directory (use recursive copy)")
            self._put_tree(host_src, target, on_skip)
        else:
            self._put_file(host_src, target)

    def _put_tree(self, host_root: str, target: str, on_skip) -> None:
        stack = [(host_root, target)]
        while stack:
            host_dir, fat_dir = stack.pop()
            self._make_dir(fat_dir, True, os.stat(host_dir).st_mtime)
            try:
                items = sorted(os.scandir(host_dir), key=lambda e: e.name)
            except OSError as exc:
                raise ImageIOError(f"{host_dir}: {exc.strerror or exc}") from None
            subdirs = []
            for item in items:
                _check_host_name(item.name, item.path)
                child = self.join(fat_dir, item.name)
                if item.is_dir(follow_symlinks=False):
                    subdirs.append((item.path, child))
                elif item.is_file():
                    self._put_file(item.path, child)
                elif on_skip:
                    on_skip(item.path)
            stack.extend(reversed(subdirs))

    def get(self, src: str, host_dest: str, recursive: bool = False) -> None:
        """Copy a file (or, ``recursive``, a tree) out; never writes outside ``host_dest``."""
        _, entry = self._locate(src)
        try:
            if not entry.is_dir:
                target = host_dest
                if os.path.isdir(host_dest):
                    target = os.path.join(host_dest, safe_host_name(entry.name, src))
                self._extract_file(src, entry, target)
                return
            if not recursive:
                raise UsageError(f"{src}: is a directory (use recursive copy)")
            root = host_dest
            if os.path.isdir(host_dest) and split_path(src):
                root = os.path.join(host_dest, safe_host_name(entry.name, src))
            self._extract_tree(src, root)
        except OSError as exc:
            raise ImageIOError(f"{exc.filename or host_dest}: {exc.strerror or exc}") from None

    def _extract_file(self, src: str, entry: Entry, target: str) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(target, flags, 0o644)
        except OSError:
            if os.path.islink(target):
                raise UsageError(f"{target}: is a symbolic link; refusing to write through it") from None
            raise
        try:
            for chunk in self.iter_read(src):
                _write_all(fd, chunk)
                if self.on_progress:
                    self.on_progress(len(chunk))
            mtime = entry.mtime
            if mtime is not None:
                os.utime(fd, (mtime, mtime))
        finally:
            os.close(fd)

    def _extract_tree(self, src: str, host_root: str) -> None:
        _make_host_dir(host_root)
        prefix = "/" + "/".join(split_path(src))
        for dpath, entries in self.walk(src):
            rel = [safe_host_name(p, dpath) for p in split_path(dpath[len(prefix):])]
            host_dir = os.path.join(host_root, *rel)
            for entry in entries:
                name = safe_host_name(entry.name, dpath)
                target = os.path.join(host_dir, name)
                if entry.is_dir:
                    _make_host_dir(target)
                else:
                    self._extract_file(self.join(dpath, entry.name), entry, target)

    # -- volume -------------------------------------------------------------------------
    @property
    def label(self) -> str:
        raw = self.root().label.raw11 if self.root().label is not None else self.layout.label
        return raw.decode("cp437").rstrip()

    def usage(self) -> dict:
        layout = self.layout
        cs = layout.cluster_size
        total, free = layout.cluster_count, self.fat.free_count
        return {"fat_type": layout.fat_type, "label": self.label,
                "volume_id": f"{layout.volume_id >> 16:04X}-{layout.volume_id & 0xFFFF:04X}",
                "cluster_size": cs, "clusters": total, "free_clusters": free,
                "total_bytes": total * cs, "free_bytes": free * cs, "used_bytes": (total - free) * cs,
                "size": layout.size}

    @_operation
    def zero_free(self) -> int:
        """Zero (punch out) every free cluster, so compaction can drop them; bytes zeroed."""
        cs = self.layout.cluster_size
        done = 0
        for first, count in self.fat.free_runs(2):
            self.dev.write_zeroes(self.layout.cluster_offset(first), count * cs)
            done += count * cs
        self.dev.flush()
        return done


def _check_host_name(name: str, path: str) -> None:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"{path!r}: file name is not valid UTF-8") from None
    try:
        names.check_long_name(name)
    except UsageError as exc:
        raise UsageError(f"{path}: {exc}") from None


def _make_host_dir(path: str) -> None:
    """mkdir that refuses to reuse anything but a real directory (never a symlink)."""
    try:
        os.mkdir(path)
    except FileExistsError:
        st = os.lstat(path)
        if not statmod.S_ISDIR(st.st_mode):
            raise UsageError(f"{path}: exists and is not a directory (symbolic links are not "
                             "followed)") from None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while len(view):
        view = view[os.write(fd, view):]
