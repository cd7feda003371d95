"""MFT records ("FILE") and the attribute headers inside them; update-sequence fixups.

Parsed with ``struct`` rather than construct: listing a volume parses one record per file, and
construct costs tens of microseconds per structure. Every offset and length read from a
record is checked against the record before it is used.
"""

from __future__ import annotations

import codecs
import struct
from typing import NamedTuple

from ..errors import CorruptImage

FIXUP_STRIDE = 512  # the update sequence protects the last 2 bytes of every 512, whatever the sector size

# attribute types
STANDARD_INFORMATION = 0x10
ATTRIBUTE_LIST = 0x20
FILE_NAME = 0x30
OBJECT_ID = 0x40
SECURITY_DESCRIPTOR = 0x50
VOLUME_NAME = 0x60
VOLUME_INFORMATION = 0x70
DATA = 0x80
INDEX_ROOT = 0x90
INDEX_ALLOCATION = 0xA0
BITMAP = 0xB0
REPARSE_POINT = 0xC0
END_OF_ATTRIBUTES = 0xFFFFFFFF

TYPE_NAMES = {
    STANDARD_INFORMATION: "$STANDARD_INFORMATION", ATTRIBUTE_LIST: "$ATTRIBUTE_LIST",
    FILE_NAME: "$FILE_NAME", OBJECT_ID: "$OBJECT_ID", SECURITY_DESCRIPTOR: "$SECURITY_DESCRIPTOR",
    VOLUME_NAME: "$VOLUME_NAME", VOLUME_INFORMATION: "$VOLUME_INFORMATION", DATA: "$DATA",
    INDEX_ROOT: "$INDEX_ROOT", INDEX_ALLOCATION: "$INDEX_ALLOCATION", BITMAP: "$BITMAP",
    REPARSE_POINT: "$REPARSE_POINT", 0xD0: "$EA_INFORMATION", 0xE0: "$EA",
    0x100: "$LOGGED_UTILITY_STREAM",
}

# record flags
RECORD_IN_USE = 0x0001
RECORD_IS_DIRECTORY = 0x0002

# attribute flags
ATTR_COMPRESSED = 0x0001
ATTR_ENCRYPTED = 0x4000
ATTR_SPARSE = 0x8000

REF_MASK = (1 << 48) - 1  # a file reference: record number in the low 48 bits, sequence above

RECORD_HEADER = struct.Struct("<16xHHHHI4xQ2x")
_RECORD_HEADER_SIZE = RECORD_HEADER.size
# magic, update sequence offset and count, lsn (skipped: apply_fixups reads them), then
# sequence, link_count, attrs_offset, flags, bytes_in_use, (bytes_allocated), base_ref,
# (next_instance)
RESIDENT_ATTR = struct.Struct("<IIBBHHHIH")
# common header: type, length, non_resident, name_length (UTF-16 units), name_offset, flags,
# instance; then value_length, value_offset
NONRESIDENT_ATTR = struct.Struct("<IIBBHHHqqHB5xQQQ")
# common header, then lowest_vcn, highest_vcn, runs_offset, compression_unit (log2 clusters),
# allocated_size, data_size, initialized_size
COMPRESSED_SIZE = struct.Struct("<Q")  # at 64 when compressed or sparse
# positions in a header's fields (decode_record): common, resident, non-resident
TYPE, LENGTH, NON_RESIDENT, NAME_LENGTH, NAME_OFFSET, FLAGS = range(6)
VALUE_LENGTH, VALUE_OFFSET = 7, 8
LOWEST_VCN, HIGHEST_VCN, RUNS_OFFSET, COMPRESSION_UNIT, ALLOCATED_SIZE, DATA_SIZE = range(7, 13)
_USA_HEAD = struct.Struct("<HH")
_TYPE = struct.Struct("<I").unpack_from
# UTF-16LE names: the C decoder itself (bytes.decode runs the codec's Python wrapper first)
utf16 = codecs.utf_16_le_decode
_TYPE_LENGTH = struct.Struct("<II").unpack_from


def apply_fixups(buf: bytearray, magic: bytes, where: str) -> None:
    """Check ``magic`` and undo the update sequence of a multi-sector record, in place.

    A torn write leaves a sector whose last two bytes differ from the sequence number: that
    record cannot be trusted and is reported as corrupt.
    """
    if buf[:4] != magic:
        kind = "a torn multi-sector write (BAAD)" if buf[:4] == b"BAAD" else \
            "never initialised" if not any(buf[:4]) else f"bad magic {bytes(buf[:4])!r}"
        raise CorruptImage(f"{where}: {kind}, expected {magic.decode()}")
    usa_offset, usa_count = _usa(buf, len(buf), where)
    sectors = usa_count - 1
    # every sector's last two bytes at once (extended slices), then their saved values back
    low, high, stop = FIXUP_STRIDE - 2, FIXUP_STRIDE - 1, sectors * FIXUP_STRIDE
    saved = usa_offset + 2
    if buf[low:stop:FIXUP_STRIDE] != buf[usa_offset:usa_offset + 1] * sectors or \
            buf[high:stop:FIXUP_STRIDE] != buf[usa_offset + 1:usa_offset + 2] * sectors:
        usn = buf[usa_offset:usa_offset + 2]
        torn = next(i for i in range(sectors)
                    if buf[(i + 1) * FIXUP_STRIDE - 2:(i + 1) * FIXUP_STRIDE] != usn)
        raise CorruptImage(f"{where}: update sequence mismatch in sector {torn} (torn write)")
    buf[low:stop:FIXUP_STRIDE] = buf[saved:saved + 2 * sectors:2]
    buf[high:stop:FIXUP_STRIDE] = buf[saved + 1:saved + 2 * sectors:2]


def _usa(buf, size: int, where: str) -> tuple[int, int]:
    """The update sequence array's offset and entry count, checked against a ``size``-byte
    record."""
    usa_offset, usa_count = _USA_HEAD.unpack_from(buf, 4)
    if usa_count - 1 != size // FIXUP_STRIDE or usa_offset & 1 or usa_offset < 8 or \
            usa_offset + 2 * usa_count > FIXUP_STRIDE - 2:
        raise CorruptImage(f"{where}: update sequence array (offset {usa_offset}, "
                           f"{usa_count} entries) does not fit a {size}-byte record")
    return usa_offset, usa_count


def fix_up_records(page: bytearray, size: int, magic: bytes) -> bool:
    """``apply_fixups`` on every ``size``-byte record in ``page`` at once, when they all share
    ``magic`` and the update sequence array's place (records written by one driver do).

    False, with ``page`` unchanged, when they do not or any record is torn: then each record
    is fixed up on its own, which says what is wrong with it.
    """
    count = len(page) // size
    stop = count * size
    for i in range(8):  # magic, update sequence offset and count
        if page[i:stop:size] != page[i:i + 1] * count:
            return False
    if page[:4] != magic:
        return False
    try:
        usa_offset, usa_count = _usa(page, size, "")
    except CorruptImage:
        return False
    sectors = usa_count - 1
    for s in range(sectors):
        end = (s + 1) * FIXUP_STRIDE
        if page[end - 2:stop:size] != page[usa_offset:stop:size] or \
                page[end - 1:stop:size] != page[usa_offset + 1:stop:size]:
            return False
    for s in range(sectors):
        end, saved = (s + 1) * FIXUP_STRIDE, usa_offset + 2 + 2 * s
        page[end - 2:stop:size] = page[saved:stop:size]
        page[end - 1:stop:size] = page[saved + 1:stop:size]
    return True


class Attribute(NamedTuple):
    """One attribute header (and a resident attribute's value) as found in a record.

    A NamedTuple: a listing makes several per file, and a tuple is built in C.
    """

    type: int
    name: str
    flags: int
    instance: int
    record: int  # the MFT record number that holds this header
    resident: bool
    value: bytes | None  # a resident attribute's bytes, else None
    lowest_vcn: int
    highest_vcn: int
    runs_data: bytes | None  # a non-resident attribute's mapping pairs, else None
    compression_unit: int
    allocated_size: int
    data_size: int
    initialized_size: int
    compressed_size: int  # clusters' bytes after compression/holes

    @property
    def type_name(self) -> str:
        return TYPE_NAMES.get(self.type, f"0x{self.type:X}")

    def describe(self) -> str:
        stream = f":{self.name}" if self.name else ""
        return f"MFT record {self.record} attribute {self.type_name}{stream}"


_attribute = Attribute._make


class FileRecord:
    """One MFT record: header fields and its attribute headers in on-disk order."""

    __slots__ = ("number", "sequence", "flags", "link_count", "base", "attributes")

    def __init__(self, number, sequence, flags, link_count, base, attributes):
        self.number = number
        self.sequence = sequence
        self.flags = flags
        self.link_count = link_count
        self.base = base  # record number of the base record; 0 for a base record
        self.attributes = attributes

    @property
    def in_use(self) -> bool:
        return bool(self.flags & RECORD_IN_USE)

    @property
    def is_directory(self) -> bool:
        return bool(self.flags & RECORD_IS_DIRECTORY)


def decode_record(raw: bytes | bytearray, where: str) -> tuple:
    """Fix up an MFT record and check its header and every attribute header against it.

    Returns ``(buf, sequence, flags, link_count, base, headers)``: the fixed-up bytes and
    ``decode_fixed_up``'s fields. ``parse_record`` builds Attributes from this.
    """
    buf = bytearray(raw)
    apply_fixups(buf, b"FILE", where)
    return (buf, *decode_fixed_up(buf, 0, len(buf), where))


def decode_fixed_up(buf: bytearray, at: int, size: int, where: str) -> tuple:
    """The record of ``size`` bytes at ``at`` in ``buf`` (fixups applied), checked:
    ``(sequence, flags, link_count, base, headers)`` with ``(offset in buf, fields)`` of each
    attribute in on-disk order, ``fields`` being RESIDENT_ATTR's or NONRESIDENT_ATTR's
    (``fields[NON_RESIDENT]`` says which). A directory listing reads the few fields it shows
    straight from ``buf`` (a whole MFT page fixed up by ``fix_up_records``).
    """
    sequence, link_count, attrs_offset, flags, in_use, base_ref = \
        RECORD_HEADER.unpack_from(buf, at)
    if in_use > size or in_use < attrs_offset + 4 or attrs_offset < _RECORD_HEADER_SIZE \
            or attrs_offset & 7:
        raise CorruptImage(f"{where}: header claims {in_use} bytes in use and attributes at "
                           f"{attrs_offset} in a {size}-byte record")
    base = base_ref & REF_MASK
    # the attribute headers up to the end marker (messages give offsets from ``at``)
    off, end = at + attrs_offset, at + in_use
    headers = []
    append, resident, non_resident = headers.append, RESIDENT_ATTR.unpack_from, \
        NONRESIDENT_ATTR.unpack_from
    last_resident, last_non_resident = end - 24, end - 64  # where each header still fits
    while True:
        if off <= last_resident and not buf[off + 8]:
            fields = resident(buf, off)
            type_, length, _, name_len, name_off, _, _, value_len, value_off = fields
            if type_ == END_OF_ATTRIBUTES:
                break
            if not 24 <= length <= end - off or length & 7:
                raise _bad_length(where, type_, off - at, length)
            if name_len and name_off + 2 * name_len > length:
                raise CorruptImage(f"{where}: attribute 0x{type_:X} name lies outside it")
            if value_off + value_len > length:
                raise CorruptImage(f"{where}: attribute 0x{type_:X} resident value "
                                   f"({value_len} bytes at {value_off}) lies outside it")
        elif off <= last_non_resident:
            fields = non_resident(buf, off)
            (type_, length, _, name_len, name_off, _, _, lowest, highest, runs_off, unit, _, _,
             _) = fields
            if type_ == END_OF_ATTRIBUTES:
                break
            if not 64 <= length <= end - off or length & 7:
                raise _bad_length(where, type_, off - at, length)
            if name_len and name_off + 2 * name_len > length:
                raise CorruptImage(f"{where}: attribute 0x{type_:X} name lies outside it")
            if not 64 <= runs_off < length or lowest < 0 or highest < lowest - 1 or unit > 16:
                raise CorruptImage(f"{where}: attribute 0x{type_:X}: run list at {runs_off}, "
                                   f"VCNs {lowest}..{highest} or compression unit 2^{unit} "
                                   "do not fit it")
        else:
            if off + 4 <= end and _TYPE(buf, off)[0] == END_OF_ATTRIBUTES:
                break
            what = "attributes run" if off + 8 > end else f"attribute header at {off - at} runs"
            raise CorruptImage(f"{where}: {what} past the record's end (no end marker)")
        append((off, fields))
        off += length
    return sequence, flags, link_count, base, headers


def _bad_length(where: str, type_: int, off: int, length: int) -> CorruptImage:
    return CorruptImage(f"{where}: attribute 0x{type_:X} at offset {off} has bad length {length}")


def attribute_name(buf: bytearray, off: int, fields: tuple) -> str:
    """The name of the attribute whose checked header ``fields`` sit at ``off``."""
    name_len = fields[NAME_LENGTH]
    if not name_len:
        return ""
    at = off + fields[NAME_OFFSET]
    return utf16(buf[at:at + 2 * name_len], "surrogatepass", True)[0]


def compressed_size(buf: bytearray, off: int, fields: tuple) -> int:
    """A non-resident attribute's bytes of clusters after compression and holes (its
    allocated size unless compressed or sparse)."""
    if fields[FLAGS] & (ATTR_COMPRESSED | ATTR_SPARSE) and fields[RUNS_OFFSET] >= 72:
        return COMPRESSED_SIZE.unpack_from(buf, off + 64)[0]
    return fields[ALLOCATED_SIZE]


def parse_record(raw: bytes | bytearray, number: int, where: str) -> FileRecord:
    """Fix up and decode MFT record ``number``; CorruptImage says what is wrong and ``where``."""
    buf, sequence, flags, link_count, base, headers = decode_record(raw, where)
    attributes = []
    for off, fields in headers:
        name = attribute_name(buf, off, fields)
        if fields[NON_RESIDENT]:
            (type_, length, _, _, _, attr_flags, instance, lowest, highest, runs_off, unit,
             allocated, size, initialized) = fields
            attributes.append(_attribute((
                type_, name, attr_flags, instance, number, False, None, lowest, highest,
                bytes(buf[off + runs_off:off + length]), unit, allocated, size, initialized,
                compressed_size(buf, off, fields))))
        else:
            type_, _, _, _, _, attr_flags, instance, value_len, value_off = fields
            value = bytes(buf[off + value_off:off + value_off + value_len])
            attributes.append(_attribute((type_, name, attr_flags, instance, number, True, value,
                                          0, 0, None, 0, value_len, value_len, value_len, 0)))
    return FileRecord(number, sequence, flags, link_count, base, attributes)
