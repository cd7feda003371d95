"""Opening a VHDX: headers, log replay, region table, metadata and BAT; ``VhdxDevice``.

How writes stay consistent (docs/vhdx.md has the whole story):

- payload data is written in place, never through the log (the spec forbids it); a new
  block goes at the 1 MiB-aligned end of the file and is complete before anything points
  at it;
- every metadata change (BAT entries, the virtual size, the region tables) goes through the
  log: the entry is written and flushed, then the sectors are written to their place and
  flushed, so after a crash the next open replays it (or finds it already applied);
- the headers are updated by the spec's two-step procedure before the first change of a
  session (new file and data write GUIDs, and a log GUID when the log is first used), and
  once more on close to mark the log empty again, so other readers need no replay.

A new output file (``deferred``, used by create/convert/compact under a temporary name)
skips all of that: its BAT is written once on close, before the file is renamed into place.
"""

from __future__ import annotations

import os
from array import array
from dataclasses import dataclass, field

from ..blockdev import (COPY_CHUNK, BlockDevice, FileRegion, fill_zero, is_zero, merged_ranges,
                        open_host_file, punch_hole)
from ..errors import CorruptImage, Unsupported, UsageError
from ..guid import guid_bytes
from ..reproducible import unique_uuid
from . import bat as batmod
from . import log as logmod
from .parent import open_parent
from .structures import (ALIGN, BAT_REGION, FILE_PARAMETERS, HAS_PARENT, HEADER_OFFSETS,
                         HEADER_SECTION, HEADER_SIZE, LEAVE_BLOCKS_ALLOCATED, LOGICAL_SECTOR_SIZE,
                         MAX_BLOCK, MAX_DISK_SIZE, METADATA_NAMES, METADATA_REGION,
                         METADATA_TABLE_SIZE, MIN_BLOCK, PARENT_LOCATOR, PHYSICAL_SECTOR_SIZE,
                         REGION_NAMES, REGION_TABLE_OFFSETS, SECTOR_SIZES, VIRTUAL_DISK_ID,
                         VIRTUAL_DISK_SIZE, ZERO_GUID, IS_REQUIRED, FILE_PARAMETERS_ITEM,
                         build_header, build_region_table, check_header_fields, current_header,
                         guid_text, is_vhdx, parse_header, parse_metadata_table,
                         parse_parent_locator, parse_region_table, HEADER)

LOG_SECTOR = logmod.SECTOR
FIRST_LOGGED = REGION_TABLE_OFFSETS[0]  # below: identifier and headers, never logged


def new_guid(*context) -> bytes:
    """A random version-4 GUID (mixed-endian bytes), or with ``SOURCE_DATE_EPOCH`` set one
    derived from it and ``context``, so the same build gives the same file."""
    return guid_bytes(unique_uuid("vhdx", *context))


def round_up(n: int, to: int = ALIGN) -> int:
    return -(-n // to) * to


@dataclass
class Layout:
    """What an image's structures say, read without trusting them."""

    header_slot: int
    header: object
    regions: dict
    region_table_slot: int
    metadata: dict  # item id -> metadata table entry
    block_size: int
    flags: int
    size: int
    disk_id: bytes
    logical_sector: int
    physical_sector: int
    parent: dict | None
    log_sequence: list = field(default_factory=list)  # replayed entries, [] if none
    warnings: list = field(default_factory=list)

    @property
    def bat_region(self):
        return self.regions[BAT_REGION]

    @property
    def metadata_region(self):
        return self.regions[METADATA_REGION]

    @property
    def has_parent(self) -> bool:
        return bool(self.flags & HAS_PARENT)

    @property
    def vhdx_type(self) -> str:
        if self.has_parent:
            return "differencing"
        return "fixed" if self.flags & LEAVE_BLOCKS_ALLOCATED else "dynamic"

    @property
    def chunk_ratio(self) -> int:
        return batmod.chunk_ratio(self.block_size, self.logical_sector)

    @property
    def bat_entries(self) -> int:
        return batmod.entry_count(self.size, self.block_size, self.logical_sector,
                                  self.has_parent)

    def spans(self) -> list[tuple[int, int, str]]:
        """``(start, end, name)`` of the fixed structures: header section, log, regions."""
        h = self.header
        out = [(0, HEADER_SECTION, "header section")]
        if h.log_length:
            out.append((h.log_offset, h.log_offset + h.log_length, "log"))
        for gid, entry in self.regions.items():
            name = REGION_NAMES.get(gid, f"region {guid_text(gid)}")
            out.append((entry.file_offset, entry.file_offset + entry.length, f"{name} region"))
        return out


# -- reading the structures -------------------------------------------------------------------

def read_headers(read, name: str):
    """Both header slots (parsed or None), the errors met, and the current slot and header."""
    slots, errors = [], []
    for i, at in enumerate(HEADER_OFFSETS):
        try:
            slots.append(parse_header(read(at, HEADER_SIZE), f"header {i + 1} at offset {at}"))
        except CorruptImage as exc:
            slots.append(None)
            errors.append(str(exc))
    slot, header = current_header(slots)
    if header is None:
        raise CorruptImage(f"{name}: no valid VHDX header ({'; '.join(errors)})")
    return slots, errors, slot, header


def find_log(read, header, file_size: int, name: str) -> list:
    """The active log sequence to replay ([] when the log is empty), refusing a log that
    cannot be replayed: misplaced, or naming a larger file than this one (truncated)."""
    if header.log_guid == ZERO_GUID:
        return []
    off, length = header.log_offset, header.log_length
    if not length or off % ALIGN or length % ALIGN or off < HEADER_SECTION or \
            off + length > file_size:
        raise CorruptImage(f"{name}: the log to replay ({length} bytes at offset {off}) is not "
                           f"a 1 MiB-aligned region inside the {file_size}-byte file; the log "
                           "cannot be replayed")
    sequence = logmod.active_sequence(logmod.LogView(read, off, length), header.log_guid)
    if not sequence:
        # Nothing valid was flushed, so nothing was applied from it: the metadata in place
        # is current. (The spec's write order - a new log GUID before the first entry - can
        # leave exactly this after a crash.)
        return []
    head = sequence[-1]
    if head.flushed_file_offset > file_size:
        raise CorruptImage(f"{name}: the log says the file held {head.flushed_file_offset} "
                           f"bytes but it has {file_size}: the image was truncated, and its "
                           "log cannot be replayed")
    limit = max(file_size, head.last_file_offset)
    for w in logmod.plan_writes(sequence):
        end = w.file_offset + w.length
        if w.file_offset < FIRST_LOGGED or (w.file_offset < off + length and off < end) \
                or end > limit:
            raise CorruptImage(f"{name}: log entry {head.sequence_number} writes {w.length} "
                               f"bytes at offset {w.file_offset}, over the headers, the log "
                               "itself or past the file; the log cannot be replayed")
    return sequence


def read_region_table(read, name: str):
    """The first region table that validates, and its slot; CorruptImage if neither does."""
    errors = []
    for slot, at in enumerate(REGION_TABLE_OFFSETS):
        try:
            return slot, parse_region_table(read(at, 64 * 1024),
                                            f"region table {slot + 1} at offset {at}"), errors
        except CorruptImage as exc:
            errors.append(str(exc))
    raise CorruptImage(f"{name}: no valid region table ({'; '.join(errors)})")


def check_regions(regions: dict, header, file_size: int, name: str) -> None:
    for gid, entry in regions.items():
        if gid not in REGION_NAMES and entry.required & 1:
            raise Unsupported(f"{name}: required region {guid_text(gid)} is not one diskkit "
                              "knows (the spec says such a file must not be opened)")
    for gid, what in REGION_NAMES.items():
        if gid not in regions:
            raise CorruptImage(f"{name}: the region table has no {what} region")
        entry = regions[gid]
        if entry.file_offset % ALIGN or entry.file_offset < HEADER_SECTION or \
                not entry.length or entry.length % ALIGN:
            raise CorruptImage(f"{name}: {what} region ({entry.length} bytes at offset "
                               f"{entry.file_offset}) is not a 1 MiB-aligned region after "
                               "the header section")
        if entry.file_offset + entry.length > file_size:
            raise CorruptImage(f"{name}: {what} region at offset {entry.file_offset} "
                               f"({entry.length} bytes) runs past the end of the file "
                               f"({file_size} bytes): truncated image?")
    spans = [(e.file_offset, e.file_offset + e.length, REGION_NAMES.get(g, guid_text(g)))
             for g, e in regions.items()]
    if header.log_length:
        spans.append((header.log_offset, header.log_offset + header.log_length, "log"))
    spans.sort()
    for (_, end, first), (start, _, second) in zip(spans, spans[1:]):
        if start < end:
            raise CorruptImage(f"{name}: {second} overlaps {first}")


def read_metadata(read, region, name: str) -> dict:
    """Every known metadata value, checked against the spec's limits."""
    at, length = region.file_offset, region.length
    entries = parse_metadata_table(read(at, METADATA_TABLE_SIZE), length,
                                   f"{name}: metadata table at offset {at}")
    for item_id, entry in entries.items():
        if item_id not in METADATA_NAMES and entry.flags & IS_REQUIRED:
            raise Unsupported(f"{name}: required metadata item {guid_text(item_id)} is not one "
                              "diskkit knows (the spec says such a file must not be opened)")

    def item(item_id, size: int) -> bytes:
        entry = entries.get(item_id)
        what = METADATA_NAMES[item_id]
        if entry is None:
            raise CorruptImage(f"{name}: metadata item '{what}' is missing")
        if entry.length < size:
            raise CorruptImage(f"{name}: metadata item '{what}' is {entry.length} bytes, "
                               f"expected {size}")
        return read(at + entry.offset, entry.length)

    params = FILE_PARAMETERS_ITEM.parse(item(FILE_PARAMETERS, 8))
    out = {"metadata": entries, "block_size": params.block_size, "flags": params.flags,
           "size": int.from_bytes(item(VIRTUAL_DISK_SIZE, 8)[:8], "little"),
           "disk_id": bytes(item(VIRTUAL_DISK_ID, 16)[:16]),
           "logical_sector": int.from_bytes(item(LOGICAL_SECTOR_SIZE, 4)[:4], "little"),
           "physical_sector": int.from_bytes(item(PHYSICAL_SECTOR_SIZE, 4)[:4], "little"),
           "parent": None}
    bs = out["block_size"]
    if bs < MIN_BLOCK or bs > MAX_BLOCK or bs & (bs - 1):
        raise CorruptImage(f"{name}: block size {bs} is not a power of two from 1 MiB to 256 MiB")
    for key in ("logical_sector", "physical_sector"):
        if out[key] not in SECTOR_SIZES:
            raise CorruptImage(f"{name}: {key.replace('_', ' ')} size {out[key]} is not 512 "
                               "or 4096")
    size = out["size"]
    if not size or size % out["logical_sector"] or size > MAX_DISK_SIZE:
        raise CorruptImage(f"{name}: virtual disk size {size} is not a positive multiple of "
                           f"the {out['logical_sector']}-byte sector up to 64 TiB")
    if out["flags"] & HAS_PARENT:
        if PARENT_LOCATOR not in entries:
            raise CorruptImage(f"{name}: differencing disk without a parent locator")
        out["parent"] = parse_parent_locator(item(PARENT_LOCATOR, 20),
                                             f"{name}: parent locator")
    return out


def read_layout(read, file_size: int, name: str) -> Layout:
    """Headers, region table and metadata of a file whose log is already replayed (or
    overlaid): ``read(offset, length)`` gives its bytes."""
    _, header_errors, slot, header = read_headers(read, name)
    table_slot, regions, table_errors = read_region_table(read, name)
    check_regions(regions, header, file_size, name)
    meta = read_metadata(read, regions[METADATA_REGION], name)
    layout = Layout(header_slot=slot, header=header, regions=regions,
                    region_table_slot=table_slot, **meta)
    layout.warnings = header_errors + table_errors
    return layout


def overlaid(read, overlay):
    """``read`` with the in-memory replay of the log laid over it."""
    def read_replayed(offset: int, length: int) -> bytes:
        buf = bytearray(read(offset, length))
        overlay.apply(offset, buf)
        return bytes(buf)
    return read_replayed


def load(region: FileRegion):
    """Read-only view of a VHDX: its layout once the log is replayed in memory, the reader
    that shows the file that way, the overlay (None when the log is empty) and the size."""
    name = region.name
    file_size = region.file_size()
    if not is_vhdx(region.pread(0, 8)):
        raise CorruptImage(f"{name}: not a VHDX (no 'vhdxfile' signature at offset 0)")
    _, _, _, header = read_headers(region.pread, name)
    check_header_fields(header, name)
    sequence = find_log(region.pread, header, file_size, name)
    read, overlay = region.pread, None
    if sequence:
        overlay = logmod.Overlay(logmod.plan_writes(sequence))
        read = overlaid(region.pread, overlay)
        file_size = max(file_size, sequence[-1].last_file_offset, overlay.end)
    layout = read_layout(read, file_size, name)
    layout.log_sequence = sequence
    return layout, read, overlay, file_size


def parent_path(parent: dict | None) -> str:
    """The parent's path as its locator gives it (relative path first, as the spec says)."""
    entries = (parent or {}).get("entries", {})
    return entries.get("relative_path") or entries.get("volume_path") or \
        entries.get("absolute_win32_path") or "unknown"


# -- the device -------------------------------------------------------------------------------

class VhdxDevice(BlockDevice):
    """A VHDX as a BlockDevice; blocks without data read as zeros, or, in a differencing
    disk (read-only), from its parent (``parent``, opened through the locator; ``chain``:
    real paths of the children already open, to refuse loops).

    A log holding entries is replayed on open: on disk when opened for writing, in memory
    otherwise. ``deferred=True`` (brand-new outputs only) keeps BAT changes in memory until
    ``flush``.
    """

    container = "vhdx"

    def __init__(self, region: FileRegion, writable: bool = False, deferred: bool = False,
                 chain: tuple = ()):
        self.region = region
        self.parent = None
        self.name = region.name
        self.writable = writable
        self.deferred = deferred
        self._session = self._data_changed = self._log_started = False
        self._log_position, self._log_sequence, self._dirty = 0, 1, False
        if writable:
            self._replay_if_needed()
        layout, self.file_read, self.overlay, file_size = load(region)
        if layout.has_parent and writable:
            raise Unsupported(f"{self.name}: differencing VHDX (parent "
                              f"{parent_path(layout.parent)!r}): diskkit reads it but does not "
                              "write to it; convert it to a merged disk first")
        self.layout = layout
        self.replayed = len(layout.log_sequence)
        self.header, self.header_slot = layout.header, layout.header_slot
        self.size = layout.size
        self.sector_size = layout.logical_sector
        self.block_size = layout.block_size
        self._ratio = layout.chunk_ratio
        self._blocks = batmod.data_blocks(self.size, self.block_size)
        count = layout.bat_entries
        batmod.check_count(count, self.name)
        bat_region = layout.bat_region
        if count * 8 > bat_region.length:
            raise CorruptImage(f"{self.name}: the {bat_region.length}-byte BAT region holds "
                               f"fewer than the {count} entries a {self.size}-byte disk needs")
        self.bat = batmod.parse(self.file_read(bat_region.file_offset, count * 8), count)
        self.bad = batmod.find_problems(self.bat, self._ratio, self._blocks, self.block_size,
                                        file_size, layout.spans(), layout.has_parent)
        ends = [end for _, end, _ in layout.spans()]
        ends += [batmod.offset(e) + self.block_size for i, e in enumerate(self.bat)
                 if batmod.state(e) in batmod.HAS_DATA and i not in self.bad]
        self._next = round_up(max(ends + [file_size]))
        if layout.has_parent:
            self.parent = open_parent(self.name, layout, chain + (os.path.realpath(self.name),),
                                      open_vhdx)

    def _replay_if_needed(self) -> None:
        """Opened for writing: a log holding entries is applied to the file first."""
        read = self.region.pread
        file_size = self.region.file_size()
        if not is_vhdx(read(0, 8)):
            raise CorruptImage(f"{self.name}: not a VHDX (no 'vhdxfile' signature at offset 0)")
        _, _, self.header_slot, self.header = read_headers(read, self.name)
        check_header_fields(self.header, self.name)
        sequence = find_log(read, self.header, file_size, self.name)
        if sequence:
            self._replay_on_disk(sequence)

    # -- reading ----------------------------------------------------------------------------
    @property
    def vhdx_type(self) -> str:
        return self.layout.vhdx_type

    def block_location(self, block: int) -> int | None:
        """File offset of payload block ``block``, None if it reads as zeros; raises if bad."""
        idx = block + block // self._ratio
        entry = self.bat[idx]
        if batmod.state(entry) not in batmod.HAS_DATA:
            return None
        if idx in self.bad:
            raise CorruptImage(f"{self.name}: BAT entry {idx} at offset "
                               f"{self.layout.bat_region.file_offset + 8 * idx}: {self.bad[idx]}")
        return batmod.offset(entry)

    def _read(self, offset: int, length: int) -> bytes:
        out = bytearray(length)
        self.read_into(offset, memoryview(out))
        return bytes(out)

    def read_into(self, offset: int, view: memoryview) -> None:
        self._check_range(offset, len(view), "read")
        bs, pos = self.block_size, 0
        while pos < len(view):
            block, within = divmod(offset + pos, bs)
            n = min(bs - within, len(view) - pos)
            part = view[pos:pos + n]
            at = self.block_location(block)
            if self.parent is not None and at is None and \
                    batmod.state(self.bat[block + block // self._ratio]) in batmod.IN_PARENT:
                self.parent.read_into(offset + pos, part)
            elif at is None:
                fill_zero(part)
            elif self.parent is not None and \
                    batmod.state(self.bat[block + block // self._ratio]) == batmod.PARTIALLY_PRESENT:
                self._read_partial(block, at, offset + pos, part)
            elif self.overlay is None:
                self.region.pread_into(at + within, part)
            else:
                part[:] = self.file_read(at + within, n)
            pos += n

    def map_view(self, offset: int, length: int) -> memoryview | None:
        """Inside one present block of a VHDX without a parent or a log being replayed over
        it: its payload, mapped (the copy engine's no-copy read)."""
        self._check_range(offset, length, "read")
        block, within = divmod(offset, self.block_size)
        if self.parent is not None or self.overlay is not None or \
                within + length > self.block_size:
            return None
        at = self.block_location(block)
        return None if at is None else self.region.map_view(at + within, length)

    def _read_partial(self, block: int, at: int, offset: int, view: memoryview) -> None:
        """A partially present block: each sector from this file where its bit in the chunk's
        sector bitmap is set, from the parent where it is clear."""
        ls, ratio = self.sector_size, self._ratio
        chunk = block // ratio
        idx = batmod.bitmap_index(chunk, ratio)
        entry = self.bat[idx]
        if batmod.state(entry) != batmod.SB_PRESENT or idx in self.bad:
            raise CorruptImage(f"{self.name}: payload block {block} is partially present but "
                               f"its sector bitmap (BAT entry {idx}) is "
                               f"{self.bad.get(idx, 'not present')}")
        rel = offset - chunk * ratio * self.block_size  # byte offset inside the chunk
        first, last = rel // ls, -(-(rel + len(view)) // ls)
        bits = int.from_bytes(self.file_read(batmod.offset(entry) + first // 8,
                                             (last + 7) // 8 - first // 8), "little")
        bits >>= first % 8
        sector = first
        while sector < last:
            present = bits >> (sector - first) & 1
            end = sector + 1
            while end < last and (bits >> (end - first) & 1) == present:
                end += 1
            lo, hi = max(sector * ls, rel) - rel, min(end * ls, rel + len(view)) - rel
            part = view[lo:hi]
            if present:
                part[:] = self.file_read(at + offset - block * self.block_size + lo, hi - lo)
            else:
                self.parent.read_into(offset + lo, part)
            sector = end

    def allocated_ranges(self):
        """Blocks holding data, less the holes of the host file inside them (with a parent:
        the union with the parent's, whole blocks here)."""
        if self.parent is None:
            return merged_ranges(self._data_pieces())
        bs, ratio = self.block_size, self._ratio
        return merged_ranges(sorted(
            list(self.parent.allocated_ranges()) +
            [(b * bs, min(bs, self.size - b * bs)) for b in range(self._blocks)
             if batmod.state(self.bat[b + b // ratio]) in batmod.HAS_DATA]))

    def _data_pieces(self):
        bs = self.block_size
        for block in range(self._blocks):
            entry = self.bat[block + block // self._ratio]
            if batmod.state(entry) not in batmod.HAS_DATA:
                continue
            base = batmod.offset(entry)
            length = min(bs, self.size - block * bs)
            if block + block // self._ratio in self.bad or self.overlay is not None:
                pieces = [(base, length)]
            else:
                pieces = self.region.data_ranges(base, base + length)
            for start, n in pieces:
                yield block * bs + start - base, n

    @property
    def allocated_blocks(self) -> int:
        return sum(1 for b in range(self._blocks)
                   if batmod.state(self.bat[b + b // self._ratio]) in batmod.HAS_DATA)

    # -- writing ----------------------------------------------------------------------------
    def _write(self, offset, data):
        view = memoryview(data).cast("B")
        bs, pos, allocated = self.block_size, 0, []
        self._begin(user_data=True)
        while pos < len(view):
            block, within = divmod(offset + pos, bs)
            n = min(bs - within, len(view) - pos)
            chunk = view[pos:pos + n]
            at = self.block_location(block)
            if at is not None:
                self.region.pwrite(at + within, chunk)
            elif not is_zero(chunk):
                allocated.append(self._allocate(block, within, chunk))
            pos += n
        if allocated:
            self._commit_bat(allocated)

    def _allocate(self, block: int, within: int, chunk) -> int:
        """A new block at the end of the file holding ``chunk``; returns its BAT index."""
        at = self._next
        end = at + self.block_size
        if self.region.file_size() < end:
            self.region.truncate(end)  # the rest of the block reads as zeros
        self.region.pwrite(at + within, chunk)
        self._next = end
        idx = block + block // self._ratio
        self.bat[idx] = batmod.make_entry(batmod.FULLY_PRESENT, at)
        return idx

    def _commit_bat(self, indexes: list[int]) -> None:
        if self.deferred:
            self._dirty = True
            return
        base = self.layout.bat_region.file_offset
        sectors = sorted({(base + 8 * i) // LOG_SECTOR * LOG_SECTOR for i in indexes})
        updates = []
        for at in sectors:
            first = (at - base) // 8
            raw = bytearray(self.file_read(at, LOG_SECTOR))
            last = min(first + LOG_SECTOR // 8, len(self.bat))
            raw[:8 * (last - first)] = batmod.build(self.bat[first:last], 0)
            updates.append((at, bytes(raw)))
        self.journal(updates)

    def write_zeroes(self, offset, length):
        """Blocks without data already read as zeros; inside the others, holes are punched
        into the host file (or zeros written where it cannot)."""
        if not self.writable:
            raise UsageError(f"{self.name}: opened read-only")
        self._check_range(offset, length, "write")
        bs, end = self.block_size, offset + length
        while offset < end:
            block, within = divmod(offset, bs)
            n = min(bs - within, end - offset)
            at = self.block_location(block)
            if at is not None:
                self._begin(user_data=True)
                if not punch_hole(self.region.fd, at + within, n):
                    self.region.pwrite(at + within, bytes(n))
            offset += n

    # -- sessions, headers and the log ------------------------------------------------------
    def _begin(self, user_data: bool) -> None:
        """Before the first change of this open: new file (and data) write GUIDs."""
        if self.deferred or (self._session and (self._data_changed or not user_data)):
            return
        changes = {}
        previous = (self.header.file_write_guid.hex(), self.header.sequence_number)
        if not self._session:
            changes["file_write_guid"] = new_guid("file write", *previous)
        if user_data and not self._data_changed:
            changes["data_write_guid"] = new_guid("data write", *previous)
        self.update_headers(**changes)
        self._session = True
        self._data_changed = self._data_changed or user_data

    def update_headers(self, **changes) -> None:
        """The spec's procedure (2.2.2.1): the non-current header gets the next sequence
        number and is flushed, then the other one, so one valid header always survives."""
        header = dict(self.header, **changes)
        slot = self.header_slot
        for _ in range(2):
            slot = 1 - slot
            header["sequence_number"] += 1
            self.region.pwrite(HEADER_OFFSETS[slot], build_header(header))
            self.region.sync()
        self.header = HEADER.parse(build_header(header))
        self.header_slot = slot

    def journal(self, updates: list[tuple[int, bytes]]) -> None:
        """Make the 4 KiB sector updates ``(file_offset, data)`` through the log: entry
        written and flushed, then the sectors in place and flushed."""
        self._begin(user_data=False)
        if not self._log_started:  # a fresh GUID: no older entry can join our sequence
            self.update_headers(log_guid=new_guid("log", self.header.file_write_guid.hex(),
                                                  self.header.sequence_number))
            self._log_started = True
            self._log_position, self._log_sequence = 0, 1
        h = self.header
        size = logmod.entry_size(updates)
        if size > h.log_length:
            raise Unsupported(f"{self.name}: a {size}-byte log entry does not fit the "
                              f"{h.log_length}-byte log")
        if self._log_position + size > h.log_length:
            self._log_position = 0
        self.region.sync()  # data the update will point at is stable before the entry
        file_size = self.region.file_size()
        entry = logmod.build_entry(self._log_sequence, self._log_position, h.log_guid,
                                   file_size, max(file_size, self._next), updates)
        self.region.pwrite(h.log_offset + self._log_position, entry)
        self.region.sync()
        for at, data in updates:
            self.region.pwrite(at, data)
        self.region.sync()
        self._log_position += len(entry)
        self._log_sequence += 1

    def _replay_on_disk(self, sequence: list) -> None:
        """Apply the active log sequence to the file, then mark the log empty."""
        self._begin(user_data=False)
        for w in logmod.plan_writes(sequence):
            if w.data is not None:
                self.region.pwrite(w.file_offset, w.data)
                continue
            for pos in range(w.file_offset, w.file_offset + w.length, COPY_CHUNK):
                n = min(COPY_CHUNK, w.file_offset + w.length - pos)
                self.region.pwrite(pos, bytes(n))
        self.region.sync()
        if self.region.file_size() < sequence[-1].last_file_offset:
            self.region.truncate(sequence[-1].last_file_offset)
            self.region.sync()
        self.update_headers(log_guid=ZERO_GUID)

    # -- resize -----------------------------------------------------------------------------
    def resize(self, new_size: int) -> None:
        """Grow or shrink the virtual disk. New space reads as zeros.

        Growing: the BAT gets a larger region at the end of the file when its own is too
        small; the size (and, then, both region tables) change in one log entry. Shrinking
        (the caller has made sure nothing of value lies past the new end: ``ops.resize``):
        see ``_shrink``.
        """
        if not self.writable:
            raise UsageError(f"{self.name}: opened read-only")
        ls = self.layout.logical_sector
        if new_size <= 0 or new_size % ls or new_size > MAX_DISK_SIZE:
            raise UsageError(f"new size {new_size} is not a positive multiple of the {ls}-byte "
                             "sector up to 64 TiB")
        if new_size == self.size:
            return
        self._begin(user_data=True)
        if new_size < self.size:
            self._shrink(new_size)
            return
        self._zero_tail()
        layout = self.layout
        count = batmod.entry_count(new_size, self.block_size, ls)
        batmod.check_count(count, self.name)
        grown = self.bat + array("Q", bytes(8 * (count - len(self.bat))))
        updates = []
        relocated = count * 8 > layout.bat_region.length
        if relocated:
            regions = {gid: (e.file_offset, e.length) for gid, e in layout.regions.items()}
            regions[BAT_REGION] = self._relocated_bat(grown)
            table = build_region_table(regions)
            for at in REGION_TABLE_OFFSETS:
                updates += [(at + i, table[i:i + LOG_SECTOR])
                            for i in range(0, len(table), LOG_SECTOR)]
        else:
            updates += self._cleared_bat_sectors(len(self.bat), count)
        updates.append(self._size_sector(new_size))
        self.journal(sorted(updates))
        if relocated:
            self._reload_regions()
        self.bat = grown
        self.size = layout.size = new_size
        self._blocks = batmod.data_blocks(new_size, self.block_size)

    def _size_sector(self, new_size: int) -> tuple[int, bytes]:
        """The log update (4 KiB sector) that sets the virtual disk size item."""
        layout = self.layout
        meta = layout.metadata_region.file_offset + layout.metadata[VIRTUAL_DISK_SIZE].offset
        sector_at = meta // LOG_SECTOR * LOG_SECTOR
        sector = bytearray(self.file_read(sector_at, LOG_SECTOR))
        within = meta - sector_at
        if within + 8 > LOG_SECTOR:
            raise Unsupported(f"{self.name}: the virtual disk size item straddles a 4 KiB "
                              "sector boundary; diskkit cannot update it atomically")
        sector[within:within + 8] = new_size.to_bytes(8, "little")
        return sector_at, bytes(sector)

    def _shrink(self, new_size: int) -> None:
        """The size and the BAT entries past the new end (set not present) change in one log
        entry; then, the log marked empty, the file is cut after the last structure or block
        still in use, and holes are punched where freed blocks lie before that. Interrupted before the entry is flushed: the old disk; after: the new
        one, at worst with freed blocks still at the end of the file (space only)."""
        count = batmod.entry_count(new_size, self.block_size, self.layout.logical_sector)
        updates = self._cleared_bat_sectors(count, len(self.bat)) if count < len(self.bat) \
            else []
        updates.append(self._size_sector(new_size))
        self.journal(sorted(updates))
        freed = [batmod.offset(e) for i, e in enumerate(self.bat[count:], count)
                 if batmod.state(e) in batmod.HAS_DATA and i not in self.bad]
        self.bat = self.bat[:count]
        self.size = self.layout.size = new_size
        self._blocks = batmod.data_blocks(new_size, self.block_size)
        ends = [end for _, end, _ in self.layout.spans()]
        ends += [batmod.offset(e) + self.block_size for i, e in enumerate(self.bat)
                 if batmod.state(e) in batmod.HAS_DATA and i not in self.bad]
        end = round_up(max(ends))
        if self.region.file_size() > end:
            # An entry naming the longer file would make the cut file look truncated to the
            # next reader, so the log is emptied first.
            self.update_headers(log_guid=ZERO_GUID)
            self._log_started = False
            self.region.truncate(end)
            self.region.sync()
        for at in freed:  # referenced by nothing now: give the space back
            if at < end:
                punch_hole(self.region.fd, at, self.block_size)
        self._next = round_up(max(end, self.region.file_size()))

    def _zero_tail(self) -> None:
        """The part of the last block past the old end must read as zeros once it is inside."""
        within = self.size % self.block_size
        at = self.block_location(self.size // self.block_size) if within else None
        if at is not None:
            self.region.pwrite(at + within, bytes(self.block_size - within))

    def _cleared_bat_sectors(self, first: int, count: int) -> list:
        """Log updates zeroing BAT slots ``[first, count)`` where the region holds old bytes."""
        base = self.layout.bat_region.file_offset
        out = []
        start = (base + 8 * first) // LOG_SECTOR * LOG_SECTOR
        for at in range(start, base + 8 * count, LOG_SECTOR):
            raw = bytearray(self.file_read(at, LOG_SECTOR))
            lo = max(base + 8 * first, at) - at
            hi = min(base + 8 * count, at + LOG_SECTOR) - at
            if is_zero(raw[lo:hi]):
                continue
            raw[lo:hi] = bytes(hi - lo)
            out.append((at, bytes(raw)))
        return out

    def _relocated_bat(self, table) -> tuple[int, int]:
        """Write ``table`` to a new region at the end of the file (referenced by nothing yet);
        its ``(offset, length)``."""
        at = self._next
        length = round_up(len(table) * 8)
        self.region.truncate(max(self.region.file_size(), at + length))
        self.region.pwrite(at, batmod.build(table, length))
        self._next = at + length
        return at, length

    def _reload_regions(self) -> None:
        slot, regions, _ = read_region_table(self.file_read, self.name)
        self.layout.regions, self.layout.region_table_slot = regions, slot

    # -- flush and close --------------------------------------------------------------------
    def flush(self):
        if not self.writable:
            return
        if self._dirty:
            region = self.layout.bat_region
            self.region.pwrite(region.file_offset, batmod.build(self.bat, region.length))
            self._dirty = False
        self.region.sync()

    def close(self):
        if self.region.file.closed:
            return
        try:
            self.flush()
            if self._log_started:
                self.update_headers(log_guid=ZERO_GUID)  # every entry is applied: log empty
        finally:
            self.region.close()
            if self.parent is not None:
                self.parent.close()


def open_vhdx(path: str, writable: bool = False, allow_device: bool = False,
              deferred: bool = False, chain: tuple = ()) -> VhdxDevice:
    """Open a VHDX file as a BlockDevice (a differencing one with its parents)."""
    region = FileRegion(open_host_file(str(path), writable, allow_device), str(path))
    try:
        return VhdxDevice(region, writable, deferred, chain)
    except BaseException:
        region.close()
        raise
