"""The VHDX on-disk structures (MS-VHDX): declared once, parsed and built here, no file I/O.

Every multi-byte field is little-endian; GUIDs are stored in Microsoft's mixed-endian form
(``uuid.UUID(bytes_le=...)``). Checksums are CRC-32C over the whole structure with its
checksum field taken as zero. Offsets in the file, all 1 MiB aligned except the fixed
header section::

    0       file type identifier ("vhdxfile", creator)     never rewritten after creation
    64 KiB  header 1      128 KiB  header 2                the one with the higher sequence wins
    192 KiB region table 1 256 KiB region table 2          where the BAT and metadata regions are
    1 MiB.. log, metadata region, BAT region, payload blocks, in any order
"""

from __future__ import annotations

import uuid

from construct import Bytes, Const, Int16ul, Int32ul, Int64ul, Struct
from google_crc32c import value as _crc32c

from ..errors import CorruptImage, Unsupported

KiB, MiB = 1024, 1024 * 1024
SIGNATURE = b"vhdxfile"
HEADER_OFFSETS = (64 * KiB, 128 * KiB)
REGION_TABLE_OFFSETS = (192 * KiB, 256 * KiB)
HEADER_SIZE = 4 * KiB
REGION_TABLE_SIZE = 64 * KiB
METADATA_TABLE_SIZE = 64 * KiB
HEADER_SECTION = MiB  # the first megabyte: identifier, headers, region tables
ALIGN = MiB  # every region, the log and every block sit on 1 MiB boundaries
MAX_ENTRIES = 2047  # region and metadata tables
MAX_DISK_SIZE = 64 * 1024**4  # 64 TiB
MIN_BLOCK, MAX_BLOCK = MiB, 256 * MiB
SECTOR_SIZES = (512, 4096)


def guid(text: str) -> bytes:
    """A GUID's 16 on-disk bytes from its usual text form."""
    return uuid.UUID(text).bytes_le


def guid_text(raw: bytes) -> str:
    return str(uuid.UUID(bytes_le=bytes(raw)))


ZERO_GUID = bytes(16)
BAT_REGION = guid("2DC27766-F623-4200-9D64-115E9BFD4A08")
METADATA_REGION = guid("8B7CA206-4790-4B9A-B8FE-575F050F886E")
FILE_PARAMETERS = guid("CAA16737-FA36-4D43-B3B6-33F0AA44E76B")
VIRTUAL_DISK_SIZE = guid("2FA54224-CD1B-4876-B211-5DBED83BF4B8")
VIRTUAL_DISK_ID = guid("BECA12AB-B2E6-4523-93EF-C309E000C746")
LOGICAL_SECTOR_SIZE = guid("8141BF1D-A96F-4709-BA47-F233A8FAAB5F")
PHYSICAL_SECTOR_SIZE = guid("CDA348C7-445D-4471-9CC9-E9885251C556")
PARENT_LOCATOR = guid("A8D35F2D-B30B-454D-ABF7-D3D84834AB0C")
VHDX_PARENT_LOCATOR_TYPE = guid("B04AEFB7-D19E-4A81-B789-25B8E9445913")

REGION_NAMES = {BAT_REGION: "BAT", METADATA_REGION: "metadata"}
METADATA_NAMES = {FILE_PARAMETERS: "file parameters", VIRTUAL_DISK_SIZE: "virtual disk size",
                  VIRTUAL_DISK_ID: "virtual disk id", LOGICAL_SECTOR_SIZE: "logical sector size",
                  PHYSICAL_SECTOR_SIZE: "physical sector size", PARENT_LOCATOR: "parent locator"}
# Metadata entry flags, and the ones the spec gives each known item.
IS_USER, IS_VIRTUAL_DISK, IS_REQUIRED = 1, 2, 4
METADATA_FLAGS = {FILE_PARAMETERS: IS_REQUIRED, VIRTUAL_DISK_SIZE: IS_VIRTUAL_DISK | IS_REQUIRED,
                  VIRTUAL_DISK_ID: IS_VIRTUAL_DISK | IS_REQUIRED,
                  LOGICAL_SECTOR_SIZE: IS_VIRTUAL_DISK | IS_REQUIRED,
                  PHYSICAL_SECTOR_SIZE: IS_VIRTUAL_DISK | IS_REQUIRED, PARENT_LOCATOR: IS_REQUIRED}
LEAVE_BLOCKS_ALLOCATED, HAS_PARENT = 1, 2  # file parameters flags

FILE_IDENTIFIER = Struct("signature" / Const(SIGNATURE), "creator" / Bytes(512))

HEADER = Struct(
    "signature" / Const(b"head"),
    "checksum" / Int32ul,
    "sequence_number" / Int64ul,
    "file_write_guid" / Bytes(16),
    "data_write_guid" / Bytes(16),
    "log_guid" / Bytes(16),
    "log_version" / Int16ul,
    "version" / Int16ul,
    "log_length" / Int32ul,
    "log_offset" / Int64ul,
    "reserved" / Bytes(4016),
)

REGION_TABLE_HEADER = Struct(
    "signature" / Const(b"regi"),
    "checksum" / Int32ul,
    "entry_count" / Int32ul,
    "reserved" / Int32ul,
)
REGION_ENTRY = Struct(
    "guid" / Bytes(16),
    "file_offset" / Int64ul,
    "length" / Int32ul,
    "required" / Int32ul,
)

METADATA_TABLE_HEADER = Struct(
    "signature" / Const(b"metadata"),
    "reserved" / Int16ul,
    "entry_count" / Int16ul,
    "reserved2" / Bytes(20),
)
METADATA_ENTRY = Struct(
    "item_id" / Bytes(16),
    "offset" / Int32ul,
    "length" / Int32ul,
    "flags" / Int32ul,
    "reserved2" / Int32ul,
)
FILE_PARAMETERS_ITEM = Struct("block_size" / Int32ul, "flags" / Int32ul)
PARENT_LOCATOR_HEADER = Struct(
    "locator_type" / Bytes(16),
    "reserved" / Int16ul,
    "key_value_count" / Int16ul,
)
PARENT_LOCATOR_ENTRY = Struct(
    "key_offset" / Int32ul,
    "value_offset" / Int32ul,
    "key_length" / Int16ul,
    "value_length" / Int16ul,
)

CHECKSUM_AT = 4  # every checksummed structure keeps its CRC at bytes 4..8


def checksum(data: bytes) -> int:
    """CRC-32C of ``data`` with its checksum field (bytes 4..8) taken as zero."""
    data = bytes(data)
    return _crc32c(data[:CHECKSUM_AT] + bytes(4) + data[CHECKSUM_AT + 4:])


def with_checksum(data: bytes) -> bytes:
    """``data`` with its checksum field filled in."""
    return data[:CHECKSUM_AT] + checksum(data).to_bytes(4, "little") + data[CHECKSUM_AT + 4:]


def stored_checksum(data: bytes) -> int:
    return int.from_bytes(data[CHECKSUM_AT:CHECKSUM_AT + 4], "little")


# -- file identifier and headers --------------------------------------------------------------

def build_identifier(creator: str) -> bytes:
    raw = creator.encode("utf-16-le")[:510].ljust(512, b"\0")
    return FILE_IDENTIFIER.build({"creator": raw}).ljust(64 * KiB, b"\0")


def is_vhdx(head: bytes) -> bool:
    return bytes(head[:8]) == SIGNATURE


def creator_text(identifier: bytes) -> str:
    raw = bytes(identifier[8:520])
    text = raw.decode("utf-16-le", "replace")
    return text.split("\0", 1)[0].strip()


def parse_header(data: bytes, where: str = "header"):
    """A header whose signature and checksum validate; CorruptImage otherwise."""
    if len(data) < HEADER_SIZE or bytes(data[:4]) != b"head":
        raise CorruptImage(f"{where}: no VHDX header (signature 'head' missing)")
    raw = bytes(data[:HEADER_SIZE])
    if checksum(raw) != stored_checksum(raw):
        raise CorruptImage(f"{where}: header checksum mismatch (stored "
                           f"{stored_checksum(raw):#010x}, computed {checksum(raw):#010x})")
    return HEADER.parse(raw)


def build_header(header) -> bytes:
    """4 KiB with a correct checksum; ``header`` is a parsed header or a dict of its fields."""
    fields = dict(header, checksum=0)
    fields.setdefault("reserved", bytes(4016))
    return with_checksum(HEADER.build(fields))


def new_header(sequence_number: int, log_offset: int, log_length: int,
               file_write_guid: bytes, data_write_guid: bytes, log_guid: bytes = ZERO_GUID):
    return {"sequence_number": sequence_number, "file_write_guid": file_write_guid,
            "data_write_guid": data_write_guid, "log_guid": log_guid, "log_version": 0,
            "version": 1, "log_length": log_length, "log_offset": log_offset,
            "reserved": bytes(4016)}


def current_header(candidates: list):
    """The header the spec calls current: the valid one, or the valid one with the higher
    sequence number. ``candidates`` holds a parsed header or None per slot."""
    valid = [(h.sequence_number, slot, h) for slot, h in enumerate(candidates) if h is not None]
    if not valid:
        return None, None
    _, slot, header = max(valid, key=lambda v: (v[0], -v[1]))
    return slot, header


def check_header_fields(header, where: str) -> None:
    """Refuse what the spec says an implementation must not process."""
    if header.version != 1:
        raise Unsupported(f"{where}: VHDX version {header.version} (only version 1 is specified)")
    if header.log_guid != ZERO_GUID and header.log_version != 0:
        raise Unsupported(f"{where}: log version {header.log_version} with a log to replay "
                          "(only version 0 is specified)")


# -- region table -----------------------------------------------------------------------------

def parse_region_table(data: bytes, where: str = "region table") -> dict:
    """``{guid: entry}`` of a region table whose signature, checksum and count validate."""
    raw = bytes(data[:REGION_TABLE_SIZE])
    if len(raw) < REGION_TABLE_SIZE or raw[:4] != b"regi":
        raise CorruptImage(f"{where}: no region table (signature 'regi' missing)")
    if checksum(raw) != stored_checksum(raw):
        raise CorruptImage(f"{where}: checksum mismatch (stored {stored_checksum(raw):#010x}, "
                           f"computed {checksum(raw):#010x})")
    head = REGION_TABLE_HEADER.parse(raw)
    if head.entry_count > MAX_ENTRIES:
        raise CorruptImage(f"{where}: {head.entry_count} entries (at most {MAX_ENTRIES})")
    entries = {}
    for i in range(head.entry_count):
        entry = REGION_ENTRY.parse(raw[16 + 32 * i:48 + 32 * i])
        if entry.guid in entries:
            raise CorruptImage(f"{where}: region {guid_text(entry.guid)} listed twice")
        entries[entry.guid] = entry
    return entries


def build_region_table(regions: dict) -> bytes:
    """64 KiB table from ``{guid: (file_offset, length)}``; every region marked required."""
    body = REGION_TABLE_HEADER.build({"checksum": 0, "entry_count": len(regions), "reserved": 0})
    for gid, (offset, length) in regions.items():
        body += REGION_ENTRY.build({"guid": gid, "file_offset": offset, "length": length,
                                    "required": 1})
    return with_checksum(body.ljust(REGION_TABLE_SIZE, b"\0"))


# -- metadata region --------------------------------------------------------------------------

def parse_metadata_table(data: bytes, region_length: int, where: str = "metadata table") -> dict:
    """``{item_id: entry}``; each item must lie inside the region, after the table."""
    raw = bytes(data[:METADATA_TABLE_SIZE])
    if len(raw) < 32 or raw[:8] != b"metadata":
        raise CorruptImage(f"{where}: no metadata table (signature 'metadata' missing)")
    head = METADATA_TABLE_HEADER.parse(raw)
    if head.entry_count > MAX_ENTRIES:
        raise CorruptImage(f"{where}: {head.entry_count} entries (at most {MAX_ENTRIES})")
    entries, spans = {}, []
    for i in range(head.entry_count):
        entry = METADATA_ENTRY.parse(raw[32 + 32 * i:64 + 32 * i])
        name = METADATA_NAMES.get(entry.item_id, f"item {guid_text(entry.item_id)}")
        if entry.flags & IS_USER:
            continue  # user metadata: kept as it is, never interpreted
        if entry.item_id in entries:
            raise CorruptImage(f"{where}: {name} listed twice")
        if entry.length:
            if entry.offset < METADATA_TABLE_SIZE or entry.length > MiB or \
                    entry.offset + entry.length > region_length:
                raise CorruptImage(f"{where}: {name} at offset {entry.offset} ({entry.length} "
                                   f"bytes) lies outside the {region_length}-byte region")
            spans.append((entry.offset, entry.offset + entry.length, name))
        entries[entry.item_id] = entry
    spans.sort()
    for (_, end, first), (start, _, second) in zip(spans, spans[1:]):
        if start < end:
            raise CorruptImage(f"{where}: {second} overlaps {first}")
    return entries


def build_metadata_region(items: list[tuple[bytes, bytes]]) -> bytes:
    """Table plus items (each ``(item_id, value)``, flags from the spec), packed after 64 KiB."""
    table = METADATA_TABLE_HEADER.build({"reserved": 0, "entry_count": len(items),
                                         "reserved2": bytes(20)})
    values = b""
    for item_id, value in items:
        table += METADATA_ENTRY.build({"item_id": item_id, "offset": METADATA_TABLE_SIZE + len(values),
                                       "length": len(value), "flags": METADATA_FLAGS[item_id],
                                       "reserved2": 0})
        values += value
    return table.ljust(METADATA_TABLE_SIZE, b"\0") + values


def build_parent_locator(entries: dict) -> bytes:
    """A VHDX parent locator item holding ``entries`` (key -> value, UTF-16 strings)."""
    pairs = [(k.encode("utf-16-le"), v.encode("utf-16-le")) for k, v in entries.items()]
    raw = PARENT_LOCATOR_HEADER.build({"locator_type": VHDX_PARENT_LOCATOR_TYPE, "reserved": 0,
                                       "key_value_count": len(pairs)})
    at, values, table = 20 + 12 * len(pairs), b"", b""
    for key, value in pairs:
        table += PARENT_LOCATOR_ENTRY.build({"key_offset": at + len(values),
                                             "value_offset": at + len(values) + len(key),
                                             "key_length": len(key),
                                             "value_length": len(value)})
        values += key + value
    return raw + table + values


def parse_parent_locator(data: bytes, where: str = "parent locator") -> dict:
    """The key/value pairs of a parent locator item (UTF-16 strings)."""
    raw = bytes(data)
    if len(raw) < 20:
        raise CorruptImage(f"{where}: {len(raw)} bytes, shorter than its 20-byte header")
    head = PARENT_LOCATOR_HEADER.parse(raw)
    if 20 + 12 * head.key_value_count > len(raw):
        raise CorruptImage(f"{where}: {head.key_value_count} entries do not fit in {len(raw)} bytes")
    pairs = {}
    for i in range(head.key_value_count):
        e = PARENT_LOCATOR_ENTRY.parse(raw[20 + 12 * i:32 + 12 * i])
        if e.key_offset + e.key_length > len(raw) or e.value_offset + e.value_length > len(raw):
            raise CorruptImage(f"{where}: entry {i} points outside the item")
        key = raw[e.key_offset:e.key_offset + e.key_length].decode("utf-16-le", "replace")
        pairs[key] = raw[e.value_offset:e.value_offset + e.value_length].decode("utf-16-le",
                                                                                 "replace")
    return {"type": guid_text(head.locator_type), "entries": pairs}
