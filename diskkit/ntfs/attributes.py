"""The values of the attributes a reader interprets: standard information, file names,
volume information, attribute lists, reparse points (including WOF, Windows' CompactOS).
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from ..errors import CorruptImage
from .record import REF_MASK, utf16

STANDARD_INFORMATION = struct.Struct("<QQQQI")  # created, modified, mft_changed, accessed, attributes
FILE_NAME = struct.Struct("<QQQQQQQIIBB")
# parent_ref, created, modified, mft_changed, accessed, allocated_size, data_size, attributes,
# ea_size_or_reparse_tag, name_length (UTF-16 units), namespace; the name follows
VOLUME_INFORMATION = struct.Struct("<8xBBH")  # major, minor, flags
ATTRIBUTE_LIST_ENTRY = struct.Struct("<IHBBqQH")
# type, length, name_length, name_offset, lowest_vcn, record_ref, instance
REPARSE_HEADER = struct.Struct("<IHH")  # tag, data_length, reserved
WOF_EXTERNAL_INFO = struct.Struct("<II")  # version, provider
WOF_FILE_PROVIDER_INFO = struct.Struct("<II")  # version, algorithm: follows for the FILE provider

# $FILE_NAME namespaces, and where a $FILE_NAME value keeps its namespace byte
POSIX, WIN32, DOS, WIN32_AND_DOS = 0, 1, 2, 3
NAMESPACE_AT = FILE_NAME.size - 1

VOLUME_DIRTY = 0x0001

# file attributes (as Windows' GetFileAttributes reports them)
FILE_ATTRIBUTE_FLAGS = (
    (0x0001, "readonly"), (0x0002, "hidden"), (0x0004, "system"), (0x0010, "directory"),
    (0x0020, "archive"), (0x0100, "temporary"), (0x0200, "sparse"), (0x0400, "reparse"),
    (0x0800, "compressed"), (0x1000, "offline"), (0x2000, "not_indexed"), (0x4000, "encrypted"),
)
FILE_ATTRIBUTE_SPARSE = 0x0200
FILE_ATTRIBUTE_REPARSE = 0x0400
FILE_ATTRIBUTE_COMPRESSED = 0x0800
FILE_ATTRIBUTE_ENCRYPTED = 0x4000
FILE_NAME_DIRECTORY = 0x10000000  # in $FILE_NAME: "has an $I30 index"

# reparse tags
REPARSE_WOF = 0x80000017
REPARSE_TAGS = {0xA000000C: "symlink", 0xA0000003: "junction", REPARSE_WOF: "wof",
                0x80000013: "dedup", 0x8000001B: "appexeclink", 0x9000001A: "cloud"}
WOF_PROVIDER_WIM, WOF_PROVIDER_FILE = 1, 2
WOF_ALGORITHMS = {0: ("XPRESS4K", 4096), 1: ("LZX", 32768), 2: ("XPRESS8K", 8192),
                  3: ("XPRESS16K", 16384)}
WOF_STREAM = "WofCompressedData"

EPOCH_DIFF = 116444736000000000  # 1601-01-01 to 1970-01-01 in 100 ns units (NTFS times)


def flag_names(attributes: int) -> list[str]:
    return [name for bit, name in FILE_ATTRIBUTE_FLAGS if attributes & bit]


class StandardInformation(NamedTuple):
    created: int
    modified: int
    mft_changed: int
    accessed: int
    attributes: int


def parse_standard_information(value: bytes, where: str) -> StandardInformation:
    if len(value) < STANDARD_INFORMATION.size:
        raise CorruptImage(f"{where}: $STANDARD_INFORMATION of {len(value)} bytes is too short")
    return StandardInformation._make(STANDARD_INFORMATION.unpack_from(value))


class FileName(NamedTuple):  # a NamedTuple: listing a directory makes one per entry
    parent: int  # record number of the directory
    parent_sequence: int
    name: str
    namespace: int
    attributes: int
    data_size: int
    created: int
    modified: int
    mft_changed: int
    accessed: int


_file_name = FileName._make


def parse_file_name(value, where: str, offset: int = 0) -> FileName:
    """A $FILE_NAME value (in a record, or as an index key at ``offset``)."""
    end = offset + FILE_NAME.size
    if len(value) < end:
        raise CorruptImage(f"{where}: $FILE_NAME too short")
    (parent, created, modified, mft_changed, accessed, _, data_size, attributes, _, name_len,
     namespace) = FILE_NAME.unpack_from(value, offset)
    if len(value) < end + 2 * name_len or name_len == 0:
        raise CorruptImage(f"{where}: $FILE_NAME name of {name_len} characters does not fit")
    name = utf16(value[end:end + 2 * name_len], "surrogatepass", True)[0]
    return _file_name((parent & REF_MASK, parent >> 48, name, namespace, attributes, data_size,
                       created, modified, mft_changed, accessed))


def is_dos_name(value: bytes) -> bool:
    """Whether a $FILE_NAME value is a DOS-only 8.3 alias (its namespace byte, unparsed)."""
    return len(value) > NAMESPACE_AT and value[NAMESPACE_AT] == DOS


class VolumeInformation(NamedTuple):
    major: int
    minor: int
    flags: int

    @property
    def dirty(self) -> bool:
        return bool(self.flags & VOLUME_DIRTY)


def parse_volume_information(value: bytes, where: str) -> VolumeInformation:
    if len(value) < VOLUME_INFORMATION.size:
        raise CorruptImage(f"{where}: $VOLUME_INFORMATION of {len(value)} bytes is too short")
    return VolumeInformation(*VOLUME_INFORMATION.unpack_from(value))


class ListEntry(NamedTuple):
    """One $ATTRIBUTE_LIST entry: where an attribute (extent) of the file lives."""

    type: int
    name: str
    lowest_vcn: int
    record: int
    sequence: int


def parse_attribute_list(value: bytes, where: str) -> list[ListEntry]:
    entries = []
    pos = 0
    while pos + ATTRIBUTE_LIST_ENTRY.size <= len(value):
        type_, length, name_len, name_off, lowest_vcn, ref, _ = \
            ATTRIBUTE_LIST_ENTRY.unpack_from(value, pos)
        if length < ATTRIBUTE_LIST_ENTRY.size or pos + length > len(value) or \
                (name_len and name_off + 2 * name_len > length):
            raise CorruptImage(f"{where}: $ATTRIBUTE_LIST entry at byte {pos} has bad length "
                               f"{length}")
        name = bytes(value[pos + name_off:pos + name_off + 2 * name_len]).decode(
            "utf-16-le", "surrogatepass") if name_len else ""
        entries.append(ListEntry(type_, name, lowest_vcn, ref & REF_MASK, ref >> 48))
        pos += length
    return entries


class ReparsePoint(NamedTuple):
    tag: int
    data: bytes

    @property
    def kind(self) -> str:
        return REPARSE_TAGS.get(self.tag, f"0x{self.tag:08X}")


def parse_reparse_point(value: bytes, where: str) -> ReparsePoint:
    if len(value) < REPARSE_HEADER.size:
        raise CorruptImage(f"{where}: $REPARSE_POINT of {len(value)} bytes is too short")
    tag, length, _ = REPARSE_HEADER.unpack_from(value)
    return ReparsePoint(tag, bytes(value[REPARSE_HEADER.size:REPARSE_HEADER.size + length]))


class WofInfo(NamedTuple):
    """How a CompactOS file is stored: provider (WIM or FILE) and, for FILE, the algorithm."""

    provider: int
    algorithm: int | None

    @property
    def description(self) -> str:
        if self.provider == WOF_PROVIDER_WIM:
            return "WIMBoot (data in a WIM file outside the volume)"
        return WOF_ALGORITHMS.get(self.algorithm, (f"algorithm {self.algorithm}",))[0]


def parse_wof(point: ReparsePoint, where: str) -> WofInfo:
    head = WOF_EXTERNAL_INFO.size
    if len(point.data) < head:
        raise CorruptImage(f"{where}: WOF reparse data of {len(point.data)} bytes is too short")
    _, provider = WOF_EXTERNAL_INFO.unpack_from(point.data)
    algorithm = None
    if provider == WOF_PROVIDER_FILE and len(point.data) >= head + WOF_FILE_PROVIDER_INFO.size:
        algorithm = WOF_FILE_PROVIDER_INFO.unpack_from(point.data, head)[1]
    return WofInfo(provider, algorithm)
