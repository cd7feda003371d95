"""NtfsVolume: files, directories and cluster allocation of an NTFS volume, read-only.

Works over any BlockDevice (a partition slice or a whole image). Paths use ``/`` (``\\`` is
accepted too) and are looked up case-insensitively through the volume's $UpCase table, as
Windows does. Everything read from the image is bounded: attribute lists may only name
extension records that belong to their file, index walks stop at loops, and directory walks
never enter a directory twice.
"""

from __future__ import annotations

import functools
import struct
from collections import OrderedDict
from operator import attrgetter
from typing import NamedTuple

from ..errors import CorruptImage, DiskkitError, NotFound, Unsupported, UsageError
from . import attributes as av
from . import bitmap
from .bootsector import Geometry, parse_boot_sector
from .index import DirectoryIndex, UpCase
from .record import (ATTR_COMPRESSED, ATTR_ENCRYPTED, ATTR_SPARSE, ATTRIBUTE_LIST, BITMAP, DATA,
                     DATA_SIZE, FILE_NAME, FLAGS, INDEX_ALLOCATION, INDEX_ROOT, LOWEST_VCN,
                     NAME_LENGTH, NON_RESIDENT, RECORD_IN_USE, RECORD_IS_DIRECTORY,
                     REPARSE_POINT, STANDARD_INFORMATION, TYPE, VALUE_LENGTH, VALUE_OFFSET,
                     VOLUME_INFORMATION, VOLUME_NAME, Attribute, apply_fixups, attribute_name,
                     compressed_size, decode_fixed_up, fix_up_records, parse_record)
from .runlist import RunMap, decode_runs
from .stream import ClusterStream, CompressedStream, ResidentStream, Stream, StreamFile, WofStream

# well-known MFT records
MFT_RECORD, LOGFILE_RECORD, VOLUME_RECORD, ROOT_RECORD, BITMAP_RECORD, UPCASE_RECORD = \
    0, 2, 3, 5, 6, 10
RESTART_AREA = struct.Struct("<QHHHH")  # current lsn, log clients, free list, in-use list, flags
LOGFILE_NO_CLIENT = 0xFFFF
RESTART_VOLUME_IS_CLEAN = 0x0002
FIRST_USER_RECORD = 16  # records below are the volume's metafiles ($MFT .. $Extend, reserved)
MAX_ATTRIBUTE_LIST = 1 << 20  # Windows keeps attribute lists under 256 KiB
MAX_FILE_CLUSTERS = 1 << 32  # Windows' limit on a file's clusters
MAX_COMPRESSION_UNIT = 64 * 1024
RECORD_CACHE = 1024
MFT_PAGE, MFT_PAGES = 64 * 1024, 64  # MFT read-ahead: 64 KiB pages, 4 MiB at most
INDEX_CACHE = 64
_standard_information = av.STANDARD_INFORMATION.unpack_from
_STANDARD_INFORMATION_SIZE = av.STANDARD_INFORMATION.size
_EPOCH_DIFF = av.EPOCH_DIFF
_FULL_PARSE = frozenset((ATTRIBUTE_LIST, REPARSE_POINT))  # attributes a listing leaves to inode()


class Entry(NamedTuple):
    """One file or directory, as ``listdir`` and ``stat`` report it.

    Times are POSIX seconds (UTC) from $STANDARD_INFORMATION, None when unset. A NamedTuple:
    a listing makes one per file.
    """

    name: str
    is_dir: bool
    size: int
    mft_ref: int  # MFT record number
    sequence: int
    attributes: int  # FILE_ATTRIBUTE_* bits (readonly, hidden, ..., compressed, sparse)
    created: float | None
    modified: float | None
    mft_changed: float | None
    accessed: float | None
    allocated_size: int  # bytes of clusters the data occupies (after compression)
    link_count: int
    short_name: str | None  # the DOS 8.3 alias, when the file has a separate one
    compressed: bool  # LZNT1 ("compressed" attribute)
    sparse: bool
    encrypted: bool
    reparse: str | None  # reparse tag: symlink, junction, wof, ... or hex
    wof: str | None  # CompactOS algorithm (XPRESS4K, LZX, ...) when reparse == "wof"
    streams: list[str]  # named data streams

    @property
    def mtime(self) -> float | None:
        """The modification time (the name every diskkit filesystem entry shares)."""
        return self.modified

    @property
    def attribute_names(self) -> list[str]:
        return av.flag_names(self.attributes)

    @property
    def is_metafile(self) -> bool:
        return self.mft_ref < FIRST_USER_RECORD and self.mft_ref != ROOT_RECORD


class Inode:
    """A file's attributes gathered from its base record and any extension records."""

    __slots__ = ("number", "sequence", "is_dir", "link_count", "attributes", "where")

    def __init__(self, number, sequence, is_dir, link_count, attributes, where):
        self.number = number
        self.sequence = sequence
        self.is_dir = is_dir
        self.link_count = link_count
        self.attributes = attributes
        self.where = where

    def extents(self, type_: int, name: str = "") -> list[Attribute]:
        found = [a for a in self.attributes if a.type == type_ and a.name == name]
        if len(found) > 1:
            found.sort(key=lambda a: a.lowest_vcn)
        return found

    def first(self, type_: int, name: str = "") -> Attribute | None:
        for a in self.attributes:
            if a.type == type_ and a.name == name and a.lowest_vcn == 0:
                return a
        return None

    def file_names(self) -> list[av.FileName]:
        return [av.parse_file_name(a.value, a.describe()) for a in self.attributes
                if a.type == FILE_NAME and a.resident]


_new_entry = functools.partial(tuple.__new__, Entry)  # Entry._make, without its Python frame


def _entry(name: str, is_dir: bool, size: int, number: int, sequence: int, si: tuple,
           allocated: int, link_count: int, short_name: str | None, data_flags: int,
           reparse: str | None, wof: str | None, streams: list[str]) -> Entry:
    """The Entry of a file from the fields its record holds (``si``: $STANDARD_INFORMATION's
    times and attributes; ``data_flags``: its unnamed $DATA's attribute flags).

    NTFS times (100 ns since 1601) become POSIX seconds here, None when unset: written out,
    not through a helper, as a listing makes one Entry per file.
    """
    created, modified, changed, accessed, attributes = si
    return _new_entry((name, is_dir, 0 if is_dir else size, number, sequence,
                        attributes | (0x10 * is_dir),
                        (created - _EPOCH_DIFF) / 1e7 if created else None,
                        (modified - _EPOCH_DIFF) / 1e7 if modified else None,
                        (changed - _EPOCH_DIFF) / 1e7 if changed else None,
                        (accessed - _EPOCH_DIFF) / 1e7 if accessed else None, allocated,
                        link_count, short_name, data_flags & ATTR_COMPRESSED != 0,
                        data_flags & ATTR_SPARSE != 0, data_flags & ATTR_ENCRYPTED != 0,
                        reparse, wof, streams))


def split_path(path: str) -> list[str]:
    """``/Windows//System32/`` -> ``['Windows', 'System32']``; ``..`` is refused."""
    parts = [p for p in path.replace("\\", "/").split("/") if p and p != "."]
    if ".." in parts:
        raise UsageError(f"{path}: '..' is not supported in NTFS paths")
    return parts


def join(parent: str, name: str) -> str:
    return parent.rstrip("/") + "/" + name


class NtfsVolume:
    """Read-only access to an NTFS volume on ``dev``; see the module docstring."""

    def __init__(self, dev, name: str | None = None):
        self.dev = dev
        self.name = name or getattr(dev, "name", "<ntfs>")
        self.geometry: Geometry = parse_boot_sector(dev.read_at(0, 512),
                                                    f"{self.name}: NTFS boot sector")
        g = self.geometry
        self._records: dict = {}
        self._indexes: OrderedDict = OrderedDict()  # directory (record, sequence) -> DirectoryIndex
        self._mft_pages: OrderedDict = OrderedDict()
        self._record_size = g.record_size
        self._fixed_page: tuple[int, bytearray] = (0, bytearray())  # (its first record, bytes)
        self._upcase: UpCase | None = None
        self._bitmap: Stream | None = None
        # bootstrap: record 0 straight from the boot sector's LCN maps the start of the MFT,
        # which is enough to reach the extension records of a fragmented $MFT; when it is
        # damaged, its copy in $MFTMirr stands in (as Windows and ntfs-3g do)
        self.mft_from_mirror = False
        try:
            record = self._boot_record(g.mft_lcn, "MFT record 0")
        except CorruptImage:
            record = self._boot_record(g.mftmirr_lcn, "$MFTMirr record 0")
            self.mft_from_mirror = True
        first = [a for a in record.attributes if a.type == DATA and not a.name]
        if not first or first[0].resident:
            raise CorruptImage(f"{self.name}: MFT record 0 has no non-resident $DATA")
        # the $MFT's data: record n is at n * record_size
        self.mft: Stream = self._attribute_stream(first, f"{self.name}: $MFT", metadata=True)
        self._record0 = record
        self.mft = self.stream(self.inode(MFT_RECORD), DATA, metadata=True)

    def _boot_record(self, lcn: int, what: str):
        g = self.geometry
        raw = self.dev.read_at(lcn * g.cluster_size, g.record_size)
        return parse_record(raw, MFT_RECORD, f"{self.name}: {what}")

    # -- records and attributes ---------------------------------------------------------
    def record(self, number: int):
        if number == MFT_RECORD:
            return self._record0  # as bootstrapped (perhaps from $MFTMirr)
        cached = self._records.get(number)
        if cached is not None:
            return cached
        rs = self.geometry.record_size
        if number < 0 or (number + 1) * rs > self.mft.size:
            raise CorruptImage(f"{self.name}: MFT record {number} is beyond the "
                               f"{self.mft.size // rs}-record MFT")
        rec = parse_record(self._raw_record(number), number, f"{self.name}: MFT record {number}")
        if len(self._records) >= RECORD_CACHE:
            self._records.clear()  # cheaper than LRU upkeep; walks read each record once
        self._records[number] = rec
        return rec

    def _mft_page(self, number: int) -> tuple[list, int]:
        """The cached MFT page holding record ``number`` and the record's offset in it.

        A directory's files sit close together in the MFT, so one read of ``MFT_PAGE`` bytes
        serves many records. A page is ``[bytes as read, fixed-up copy or None or False]``.
        """
        rs = self.geometry.record_size
        per_page = max(1, MFT_PAGE // rs)
        page_no, index = divmod(number, per_page)
        page = self._mft_pages.get(page_no)
        if page is None:
            page = self._mft_pages[page_no] = [
                self.mft.pread(page_no * per_page * rs, per_page * rs), None]
            if len(self._mft_pages) > MFT_PAGES:
                self._mft_pages.popitem(last=False)
        else:
            self._mft_pages.move_to_end(page_no)
        return page, index * rs

    def _raw_record(self, number: int) -> bytes:
        page, at = self._mft_page(number)
        return page[0][at:at + self.geometry.record_size]

    def _fixed_up_record(self, number: int) -> tuple[bytearray, int]:
        """Record ``number``'s bytes with its update sequence undone, and where it starts in
        them: its whole page at once when the page's records allow (``fix_up_records``).

        The last fixed-up page is kept at hand: a directory's files mostly share one.
        """
        first, fixed = self._fixed_page
        at = (number - first) * self._record_size
        if 0 <= at < len(fixed):
            return fixed, at
        page, at = self._mft_page(number)
        rs = self._record_size
        if page[1] is None:
            fixed = bytearray(page[0])
            page[1] = fixed if fix_up_records(fixed, rs, b"FILE") else False
        if page[1]:
            self._fixed_page = (number - at // rs, page[1])
            return page[1], at
        buf = bytearray(page[0][at:at + rs])
        apply_fixups(buf, b"FILE", "")
        return buf, 0

    def inode(self, number: int, sequence: int = 0) -> Inode:
        """The file in MFT record ``number``; ``sequence`` (when not 0) must match it."""
        where = f"{self.name}: MFT record {number}"
        rec = self.record(number)
        if not rec.in_use:
            raise CorruptImage(f"{where}: referenced but not in use")
        if rec.base:
            raise CorruptImage(f"{where}: referenced as a file but is an extension of record "
                               f"{rec.base}")
        if sequence and rec.sequence != sequence:
            raise CorruptImage(f"{where}: stale reference (sequence {sequence}, record has "
                               f"{rec.sequence})")
        attrs = rec.attributes
        lists = [a for a in attrs if a.type == ATTRIBUTE_LIST]
        if lists:
            stream = self._attribute_stream(lists, f"{where} $ATTRIBUTE_LIST", metadata=True)
            if stream.size > MAX_ATTRIBUTE_LIST:
                raise CorruptImage(f"{where}: $ATTRIBUTE_LIST of {stream.size} bytes")
            seen = {number}
            for item in av.parse_attribute_list(stream.read_all(), f"{where} $ATTRIBUTE_LIST"):
                if item.record in seen:
                    continue
                seen.add(item.record)
                ext = self.record(item.record)
                if not ext.in_use or ext.base != number:
                    raise CorruptImage(f"{where}: attribute list names record {item.record}, "
                                       f"which does not belong to this file")
                attrs = attrs + ext.attributes
        return Inode(number, rec.sequence, rec.is_directory, rec.link_count, attrs, where)

    def _runmap(self, extents: list[Attribute], where: str, metadata: bool) -> RunMap:
        """The runs of a non-resident attribute, checked against the volume and its sizes.
        ``metadata`` (the MFT, bitmaps, attribute lists, indexes) may have no holes."""
        g = self.geometry
        cs = g.cluster_size
        first = extents[0]
        if first.lowest_vcn != 0:
            raise CorruptImage(f"{where}: first extent starts at VCN {first.lowest_vcn}")
        runs = []
        for ext in extents:
            if ext.resident:
                raise CorruptImage(f"{where}: resident extent in a non-resident attribute")
            runs += decode_runs(ext.runs_data, ext.lowest_vcn, ext.highest_vcn,
                                g.total_clusters, where)
        runmap = RunMap(runs, where)
        allocated = sum(length for _, length in runmap.allocated())
        if allocated > g.total_clusters:
            raise CorruptImage(f"{where}: run list claims {allocated} clusters, more than the "
                               f"{g.total_clusters}-cluster volume holds")
        size, init = first.data_size, first.initialized_size
        if init > size or size > runmap.clusters * cs or size > MAX_FILE_CLUSTERS * cs:
            raise CorruptImage(f"{where}: sizes do not fit the run list (data {size}, "
                               f"initialized {init}, mapped {runmap.clusters * cs})")
        if metadata and allocated * cs < init:
            raise CorruptImage(f"{where}: metadata with holes ({allocated * cs} bytes "
                               f"allocated for {init})")
        return runmap

    def _attribute_stream(self, extents: list[Attribute], where: str,
                          metadata: bool = False) -> Stream:
        """The bytes of one attribute, from its extents (see ``_runmap``)."""
        first = extents[0]
        if first.resident:
            if len(extents) > 1:
                raise CorruptImage(f"{where}: resident attribute with several extents")
            return ResidentStream(first.value)
        runmap = self._runmap(extents, where, metadata)
        cs = self.geometry.cluster_size
        size, init = first.data_size, first.initialized_size
        if first.flags & ATTR_ENCRYPTED:
            raise Unsupported(f"{where}: EFS-encrypted data cannot be read offline")
        if first.flags & ATTR_COMPRESSED and first.compression_unit:
            if cs << first.compression_unit > MAX_COMPRESSION_UNIT:
                raise Unsupported(f"{where}: compression units of {cs << first.compression_unit}"
                                  f" bytes (Windows compresses in units of at most 64 KiB)")
            return CompressedStream(self.dev, cs, runmap, size, init, first.compression_unit,
                                    where)
        return ClusterStream(self.dev, cs, runmap, size, init, where)

    def allocated_runs(self, inode: Inode) -> list[tuple[str, int, int]]:
        """``(attribute, first cluster, count)`` of every cluster run ``inode``'s attributes use."""
        out = []
        for attr in inode.attributes:
            if attr.resident or attr.lowest_vcn:
                continue
            extents = inode.extents(attr.type, attr.name)
            label = f"{attr.type_name}" + (f":{attr.name}" if attr.name else "")
            runmap = self._runmap(extents, f"{inode.where} {label}", False)
            out += [(label, lcn, n) for lcn, n in runmap.allocated()]
        return out

    def stream(self, inode: Inode, type_: int = DATA, name: str = "",
               metadata: bool = False) -> Stream | None:
        """One attribute of ``inode`` as a stream (None if absent)."""
        extents = inode.extents(type_, name)
        if not extents:
            return None
        label = f"{inode.where} {extents[0].type_name}" + (f":{name}" if name else "")
        return self._attribute_stream(extents, label, metadata)

    def describe(self, number: int) -> str:
        """``/path/of/file`` of MFT record ``number`` (from its names), for messages; else the
        record number."""
        parts, seen, current = [], set(), number
        try:
            while current != ROOT_RECORD:
                if current in seen or len(parts) > 255:
                    raise CorruptImage("name loop")
                seen.add(current)
                names = [fn for fn in self.inode(current).file_names() if fn.namespace != av.DOS]
                if not names:
                    raise CorruptImage("no name")
                parts.append(names[0].name)
                current = names[0].parent
        except DiskkitError:
            return f"MFT record {number}"
        return "/" + "/".join(reversed(parts)) + f" (MFT record {number})"

    # -- volume metadata ----------------------------------------------------------------
    @property
    def upcase(self) -> UpCase:
        """Windows' case folding of this volume's names: read when a path is first looked up
        (listing from the root needs none)."""
        if self._upcase is None:
            stream = self.stream(self.inode(UPCASE_RECORD), metadata=True)
            if stream is None:
                raise CorruptImage(f"{self.name}: $UpCase has no data")
            self._upcase = UpCase(stream.pread(0, 131072), f"{self.name}: $UpCase")
        return self._upcase

    def cluster_bitmap(self) -> Stream:
        """$Bitmap's data: one bit per cluster, 1 = in use."""
        if self._bitmap is None:
            stream = self.stream(self.inode(BITMAP_RECORD), metadata=True)
            need = (self.geometry.total_clusters + 7) // 8
            if stream is None or stream.size < need:
                raise CorruptImage(f"{self.name}: $Bitmap holds {stream.size if stream else 0} "
                                   f"bytes, {need} needed for {self.geometry.total_clusters} "
                                   "clusters")
            self._bitmap = stream
        return self._bitmap

    def used_clusters(self) -> int:
        """Clusters marked in use in $Bitmap."""
        return bitmap.count_set(bitmap.chunks(self.cluster_bitmap(), self.geometry.total_clusters))

    def cluster_runs(self, used: bool = True):
        """``(first cluster, count)`` of each run of used (or free) clusters, in order."""
        total = self.geometry.total_clusters
        return bitmap.runs(bitmap.chunks(self.cluster_bitmap(), total), total, int(used))

    def used_ranges(self):
        """Iterator of ``(offset, length)`` byte ranges of the volume that hold data: the
        clusters in use, and the tail after the last whole cluster (where the backup boot
        sector lives)."""
        g = self.geometry
        cs = g.cluster_size
        tail, end = g.total_clusters * cs, g.size + g.sector_size
        pending = None
        for lcn, count in self.cluster_runs(True):
            if pending:
                yield pending
            pending = (lcn * cs, count * cs)
        if pending and sum(pending) == tail:
            yield pending[0], end - pending[0]
            return
        if pending:
            yield pending
        yield tail, end - tail

    def free_ranges(self):
        """Iterator of ``(offset, length)`` byte ranges of free clusters."""
        cs = self.geometry.cluster_size
        return ((lcn * cs, count * cs) for lcn, count in self.cluster_runs(False))

    def _volume_inode(self) -> Inode:
        return self.inode(VOLUME_RECORD)

    def volume_information(self) -> av.VolumeInformation:
        attr = self._volume_inode().first(VOLUME_INFORMATION)
        if attr is None or not attr.resident:
            raise CorruptImage(f"{self.name}: $Volume has no $VOLUME_INFORMATION")
        return av.parse_volume_information(attr.value, f"{self.name}: $VOLUME_INFORMATION")

    @property
    def label(self) -> str:
        attr = self._volume_inode().first(VOLUME_NAME)
        if attr is None or not attr.resident:
            return ""
        return attr.value.decode("utf-16-le", "replace")

    @property
    def dirty(self) -> bool:
        return self.volume_information().dirty

    def unclean_reason(self) -> str | None:
        """Why the volume is not in the state a clean Windows shutdown leaves, or None.

        Marked dirty, a $LogFile with transactions not yet applied, or a hibernated Windows
        (Fast Startup too): in each case Windows replays or resumes state that the on-disk
        metadata does not show, so its free space must not be treated as free.
        """
        if self.dirty:
            return "marked dirty (Windows runs chkdsk at the next boot)"
        if not self._logfile_clean():
            return ("$LogFile holds transactions not yet applied (Windows did not shut down "
                    "cleanly, or shut down with Fast Startup)")
        try:
            with self.open("/hiberfil.sys") as fh:
                magic = fh.read(4)
        except NotFound:
            magic = b""
        if magic.lower() == b"hibr":
            return "Windows is hibernated (hiberfil.sys holds a saved session: Fast Startup?)"
        return None

    def _logfile_clean(self) -> bool:
        """The restart area says no client has the log open, or says the volume is clean; an
        emptied log (all 0xFF, as mkntfs and chkdsk leave it) is clean."""
        log = self.stream(self.inode(LOGFILE_RECORD), metadata=True)
        if log is None:
            raise CorruptImage(f"{self.name}: $LogFile has no data")
        best = None
        for page_at in (0, 4096):
            head = log.pread(page_at, 4096)
            if head[:4] == b"\xff\xff\xff\xff" and page_at == 0:
                return True
            if head[:4] not in (b"RSTR", b"CHKD"):
                continue
            page_size = int.from_bytes(head[16:20], "little")
            if page_size not in (512, 1024, 2048, 4096, 8192, 16384, 32768, 65536):
                continue
            page = bytearray(log.pread(page_at, page_size))
            try:
                apply_fixups(page, bytes(page[:4]), f"{self.name}: $LogFile restart page")
            except CorruptImage:
                continue
            area = int.from_bytes(page[24:26], "little")
            if area + 16 > len(page):
                continue
            lsn, _, _, in_use, flags = RESTART_AREA.unpack_from(page, area)
            if best is None or lsn > best[0]:
                best = (lsn, in_use, flags)
        if best is None:
            raise CorruptImage(f"{self.name}: $LogFile has no valid restart page")
        _, in_use, flags = best
        return in_use == LOGFILE_NO_CLIENT or bool(flags & RESTART_VOLUME_IS_CLEAN)

    def data_end(self) -> int:
        """Bytes from the volume's start to the end of its last used cluster: cutting the
        volume below this loses data even if the filesystem were told to shrink."""
        last = 0
        for lcn, count in self.cluster_runs(True):
            last = lcn + count
        return last * self.geometry.cluster_size

    def min_size(self) -> int:
        """The smallest size NTFS resizers (ntfsresize, diskpart shrink) can move this volume's
        data into: the used clusters and one more (ntfsresize --info's figure)."""
        return (self.used_clusters() + 1) * self.geometry.cluster_size

    def info(self) -> dict:
        g = self.geometry
        vi = self.volume_information()
        used = self.used_clusters()
        mft = self.inode(MFT_RECORD)
        mft_bitmap = self.stream(mft, BITMAP, metadata=True)
        records = self.mft.size // g.record_size
        in_use = None
        if mft_bitmap is not None:
            in_use = bitmap.count_set(bitmap.chunks(mft_bitmap, min(records, 8 * mft_bitmap.size)))
        cs = g.cluster_size
        return {
            "label": self.label, "version": f"{vi.major}.{vi.minor}", "dirty": vi.dirty,
            "serial": g.serial_text, "serial64": f"{g.serial:016X}",
            "sector_size": g.sector_size, "cluster_size": cs, "size": g.size,
            "clusters": g.total_clusters, "used_clusters": used,
            "free_clusters": g.total_clusters - used, "total_bytes": g.total_clusters * cs,
            "used_bytes": used * cs, "free_bytes": (g.total_clusters - used) * cs,
            "mft_record_size": g.record_size, "mft_records": records,
            "mft_records_in_use": in_use, "mft_bytes": self.mft.size,
            "mft_lcn": g.mft_lcn, "mftmirr_lcn": g.mftmirr_lcn,
            "index_block_size": g.index_block_size, "hidden_sectors": g.hidden_sectors,
        }

    # -- directories --------------------------------------------------------------------
    def index(self, inode: Inode) -> DirectoryIndex:
        key = (inode.number, inode.sequence)
        found = self._indexes.get(key)
        if found is None:
            found = self._indexes[key] = self._open_index(inode)
            if len(self._indexes) > INDEX_CACHE:
                self._indexes.popitem(last=False)
        return found

    def _open_index(self, inode: Inode) -> DirectoryIndex:
        root = inode.first(INDEX_ROOT, "$I30")
        if root is None or not root.resident:
            raise CorruptImage(f"{inode.where}: directory without an $I30 index root")
        allocation = self.stream(inode, INDEX_ALLOCATION, "$I30", metadata=True)
        return DirectoryIndex(root.value, allocation, self.geometry.cluster_size,
                              lambda: self.upcase, f"{inode.where} $I30")

    def _resolve(self, path: str) -> tuple[Inode, str, int]:
        """The inode at ``path``, its name as stored, and its parent's record number."""
        node = self.inode(ROOT_RECORD)
        name, parent, walked = "", ROOT_RECORD, ""
        for part in split_path(path):
            walked += "/" + part
            if not node.is_dir:
                raise NotFound(f"{path}: {walked.rsplit('/', 1)[0] or '/'} is not a directory")
            found = self.index(node).find(part)
            if found is None:
                raise NotFound(f"{path}: no such file or directory")
            parent = node.number
            node = self.inode(found.ref, found.sequence)
            name = found.name
            if found.namespace == av.DOS:  # reached through the 8.3 alias
                name = next((fn.name for fn in node.file_names()
                             if fn.parent == parent and fn.namespace != av.DOS), name)
        return node, name, parent

    def _entry(self, inode: Inode, name: str, parent: int) -> Entry:
        si_attr = inode.first(STANDARD_INFORMATION)
        if si_attr is None or not si_attr.resident:
            raise CorruptImage(f"{inode.where}: no $STANDARD_INFORMATION")
        si = av.parse_standard_information(si_attr.value, inode.where)
        size = allocated = data_flags = 0
        short_name = reparse = wof = None
        streams = []
        for attr in inode.attributes:
            if attr.type == DATA:
                if attr.name:
                    if attr.lowest_vcn == 0:
                        streams.append(attr.name)
                elif attr.lowest_vcn == 0:
                    size, allocated, data_flags = attr.data_size, attr.compressed_size, attr.flags
            elif attr.type == FILE_NAME and attr.resident and av.is_dos_name(attr.value):
                fn = av.parse_file_name(attr.value, inode.where)
                if fn.parent == parent:
                    short_name = fn.name
            elif attr.type == REPARSE_POINT:
                point = self._reparse(inode, attr)
                reparse = point.kind
                if point.tag == av.REPARSE_WOF:
                    wof = av.parse_wof(point, inode.where).description
        if wof and av.WOF_STREAM in streams:
            streams.remove(av.WOF_STREAM)
        return _entry(name, inode.is_dir, size, inode.number, inode.sequence, si, allocated,
                      inode.link_count, short_name, data_flags, reparse, wof, streams)

    def _reparse(self, inode: Inode, attr: Attribute) -> av.ReparsePoint:
        value = attr.value if attr.resident else self.stream(inode, REPARSE_POINT).pread(0, 65536)
        return av.parse_reparse_point(value, f"{inode.where} $REPARSE_POINT")

    def stat(self, path: str) -> Entry:
        inode, name, parent = self._resolve(path)
        return self._entry(inode, name or "/", parent)

    def exists(self, path: str) -> bool:
        try:
            self._resolve(path)
        except NotFound:
            return False
        return True

    def is_dir(self, path: str) -> bool:
        return self._resolve(path)[0].is_dir

    def _list(self, inode: Inode, metafiles: bool) -> list[Entry]:
        out = []
        number, listed_entry = inode.number, self._listed_entry
        lowest = 0 if metafiles else FIRST_USER_RECORD
        for ref, sequence, name, _, _ in self.index(inode).names():
            if ref == number or ref < lowest:
                continue  # the root's "." entry; $MFT and the other metafiles
            entry = listed_entry(ref, sequence, name, number)
            if entry is None:
                entry = self._entry(self.inode(ref, sequence), name, number)
            out.append(entry)
        return out

    def _listed_entry(self, number: int, sequence: int, name: str, parent: int) -> Entry | None:
        """``_entry`` of a directory's child read straight from its record's checked bytes,
        without building its Attributes (a listing does this for every file).

        None unless the record is a plain one: in use, a base record of this ``sequence``,
        without an attribute list or reparse point, with a resident $STANDARD_INFORMATION.
        The caller then goes the full way (``inode`` and ``_entry``), which reads the rest or
        names what is wrong: both ways give the same Entry.
        """
        rs = self._record_size
        if number <= MFT_RECORD or (number + 1) * rs > self.mft.size:
            return None
        try:
            buf, at = self._fixed_up_record(number)
            seq, flags, links, base, headers = decode_fixed_up(buf, at, rs, "")
        except CorruptImage:
            return None
        if not flags & RECORD_IN_USE or base or (sequence and seq != sequence):
            return None
        is_dir = flags & RECORD_IS_DIRECTORY != 0
        si = short_name = None
        size = allocated = data_flags = 0
        streams = []
        for off, f in headers:  # the types records hold first are tested first
            type_ = f[TYPE]
            if type_ == STANDARD_INFORMATION:
                if si is None and not f[NAME_LENGTH]:
                    if f[NON_RESIDENT]:
                        if not f[LOWEST_VCN]:
                            return None  # a non-resident one: _entry says it is missing
                    elif f[VALUE_LENGTH] < _STANDARD_INFORMATION_SIZE:
                        return None
                    else:
                        si = _standard_information(buf, off + f[VALUE_OFFSET])
            elif type_ == FILE_NAME:
                if not f[NON_RESIDENT] and f[VALUE_LENGTH] > av.NAMESPACE_AT and \
                        buf[off + f[VALUE_OFFSET] + av.NAMESPACE_AT] == av.DOS:  # 8.3 alias
                    value_at = off + f[VALUE_OFFSET]
                    try:
                        fn = av.parse_file_name(buf[value_at:value_at + f[VALUE_LENGTH]], "")
                    except CorruptImage:
                        return None
                    if fn.parent == parent:
                        short_name = fn.name
            elif type_ == DATA:
                if f[NAME_LENGTH]:
                    if not (f[NON_RESIDENT] and f[LOWEST_VCN]):  # not an extent after the first
                        streams.append(attribute_name(buf, off, f))
                elif not f[NON_RESIDENT]:
                    size, allocated, data_flags = f[VALUE_LENGTH], 0, f[FLAGS]
                elif not f[LOWEST_VCN]:
                    size, allocated = f[DATA_SIZE], compressed_size(buf, off, f)
                    data_flags = f[FLAGS]
            elif type_ in _FULL_PARSE:
                return None
        if si is None:
            return None
        return _entry(name, is_dir, size, number, seq, si, allocated, links, short_name,
                      data_flags, None, None, streams)

    def listdir(self, path: str = "/", metafiles: bool = False) -> list[Entry]:
        """The entries of a directory in the index's order; metafiles ($MFT ...) on request."""
        inode, _, _ = self._resolve(path)
        if not inode.is_dir:
            raise UsageError(f"{path}: not a directory")
        return self._list(inode, metafiles)

    def walk(self, path: str = "/", metafiles: bool = False):
        """Like os.walk, top-down: yield ``(dirpath, dirs, files)`` with Entry lists.

        Removing entries from ``dirs`` skips them; a directory reached twice (hard-linked or
        a hostile index naming an ancestor) is not entered again.
        """
        inode, _, _ = self._resolve(path)
        if not inode.is_dir:
            raise UsageError(f"{path}: not a directory")
        start = "/" + "/".join(split_path(path))
        seen = {inode.number}
        stack = [(start, inode)]
        while stack:
            dpath, node = stack.pop()
            entries = self._list(node, metafiles)
            dirs = [e for e in entries if e.is_dir]
            files = [e for e in entries if not e.is_dir]
            yield dpath, dirs, files
            for d in reversed(dirs):
                if d.mft_ref not in seen:
                    seen.add(d.mft_ref)
                    stack.append((join(dpath, d.name), self.inode(d.mft_ref, d.sequence)))

    def tree(self, path: str = "/", metafiles: bool = False):
        """``(path, Entry)`` of everything below ``path`` in ``ls -r``'s order: each
        directory's entries by name (code point), a directory's contents right after it.

        A generator holding only the directories on the way down, so a listing of a whole
        Windows volume stays small; a directory reached twice is not entered again (as in
        ``walk``)."""
        inode, _, _ = self._resolve(path)
        if not inode.is_dir:
            raise UsageError(f"{path}: not a directory")
        by_name = attrgetter("name")
        seen = {inode.number}
        stack = [("/" + "/".join(split_path(path)),
                  iter(sorted(self._list(inode, metafiles), key=by_name)))]
        while stack:
            base, entries = stack[-1]
            for entry in entries:
                child = join(base, entry.name)
                yield child, entry
                if entry.is_dir and entry.mft_ref not in seen:
                    seen.add(entry.mft_ref)
                    node = self.inode(entry.mft_ref, entry.sequence)
                    stack.append((child, iter(sorted(self._list(node, metafiles), key=by_name))))
                    break
            else:
                stack.pop()

    # -- file data ----------------------------------------------------------------------
    def _data(self, inode: Inode, path: str, stream: str | None) -> Stream:
        if stream:
            found = self.stream(inode, DATA, stream)
            if found is None:
                raise NotFound(f"{path}: no stream named {stream!r}")
            return found
        if inode.is_dir:
            raise UsageError(f"{path}: is a directory")
        reparse = inode.first(REPARSE_POINT)
        if reparse is not None:
            point = self._reparse(inode, reparse)
            if point.tag == av.REPARSE_WOF:
                return self._wof(inode, point, path)
        data = self.stream(inode, DATA)
        return data if data is not None else ResidentStream(b"")

    def _wof(self, inode: Inode, point: av.ReparsePoint, path: str) -> Stream:
        info = av.parse_wof(point, inode.where)
        if info.provider != av.WOF_PROVIDER_FILE:
            raise Unsupported(f"{path}: {info.description}; its data is not in this volume")
        if info.algorithm not in av.WOF_ALGORITHMS:
            raise Unsupported(f"{path}: CompactOS algorithm {info.algorithm} is unknown")
        packed = self.stream(inode, DATA, av.WOF_STREAM)
        unnamed = inode.first(DATA)
        if packed is None or unnamed is None:
            raise CorruptImage(f"{inode.where}: CompactOS file without its "
                               f"{av.WOF_STREAM} stream or $DATA")
        algorithm, chunk = av.WOF_ALGORITHMS[info.algorithm]
        return WofStream(packed, unnamed.data_size, algorithm, chunk,
                         f"{inode.where} {av.WOF_STREAM}")

    def open(self, path: str, stream: str | None = None) -> StreamFile:
        """A read-only file object (read, readinto, seek, tell) over a file's data.

        ``stream`` names an alternate data stream; CompactOS files read decompressed.
        """
        inode, _, _ = self._resolve(path)
        return StreamFile(self._data(inode, path, stream), path)

    def iter_read(self, path: str, stream: str | None = None, chunk: int = 4 << 20):
        inode, _, _ = self._resolve(path)
        return self._data(inode, path, stream).chunks(chunk)

    def read_file(self, path: str, stream: str | None = None,
                  max_size: int | None = 1 << 30) -> bytes:
        """A whole file in memory; files over ``max_size`` are refused (stream them with open)."""
        inode, _, _ = self._resolve(path)
        data = self._data(inode, path, stream)
        if max_size is not None and data.size > max_size:
            raise UsageError(f"{path}: {data.size} bytes is more than read_file's limit of "
                             f"{max_size}; use open() to stream it")
        return data.read_all()
